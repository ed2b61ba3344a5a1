package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	herald "github.com/heraldlb/herald/internal/source/kube"
	"github.com/heraldlb/herald/internal/testutil"
)

var (
	cfg             *rest.Config
	cl              client.Client
	kubeconfigBytes []byte // for herald processes
)

// TestMain starts one kube-apiserver and etcd for the package. The binaries come from
// KUBEBUILDER_ASSETS (hack/test.sh builds them first) or from hack/kube-testenv.sh.
func TestMain(m *testing.M) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		out, err := exec.Command("../../hack/kube-testenv.sh").Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "kube tests need kube-apiserver and etcd: hack/kube-testenv.sh failed: %v\n", err)
			os.Exit(1)
		}
		assets = strings.TrimSpace(string(out))
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "deploy", "helm", "herald", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	// Room for thousands of Services (envtest's default range is a /24).
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting kube-apiserver and etcd from %s: %v\n", assets, err)
		os.Exit(1)
	}
	kubeconfigBytes = env.KubeConfig
	scheme, err := herald.Scheme()
	if err == nil {
		err = coordinationv1.AddToScheme(scheme) // the tests read the leader Lease
	}
	if err == nil {
		err = eventsv1.AddToScheme(scheme) // and the operator's events
	}
	if err == nil {
		cl, err = client.New(cfg, client.Options{Scheme: scheme})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// startOperator runs the operator until the test ends, or until the returned stop is called.
func startOperator(t testing.TB, oc herald.OperatorConfig) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { done <- herald.RunOperator(ctx, cfg, oc, log) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("operator: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("operator did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually is testutil.Eventually, named for these tests.
var eventually = testutil.Eventually

// writeKubeconfig writes the test API server's kubeconfig for herald processes.
func writeKubeconfig(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfigBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
