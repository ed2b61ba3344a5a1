package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/heraldlb/herald/internal/netns"
	herald "github.com/heraldlb/herald/internal/source/kube"
)

// HeraldNamespace is where the operator's leader Lease and the agents' L2 node Leases live.
const HeraldNamespace = "herald-system"

// Kubeconfig is the path of the lab's admin kubeconfig. It names the API server by its
// address on the management segment: use it from inside the lab's namespaces (`ip netns exec
// NAME-cp ...`), or through RESTConfig from the host.
func (l *Lab) Kubeconfig() string { return l.path("kubeconfig") }

// RESTConfig is a client configuration for the lab's API server that works from the host
// namespace: its connections are opened inside the control-plane namespace.
func (l *Lab) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("lab kubeconfig: %w", err)
	}
	cfg.Dial = netns.DialContext(l.NS(cpHost))
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}

// Client is a Kubernetes client for the lab's API server, with Herald's kinds.
func (l *Lab) Client() (client.Client, error) {
	cfg, err := l.RESTConfig()
	if err != nil {
		return nil, err
	}
	scheme, err := herald.Scheme()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// startControlPlane starts etcd and kube-apiserver in the control-plane host, with a fresh
// CA, waits until the API server is ready, and installs Herald's CRDs.
func (l *Lab) startControlPlane(ctx context.Context) error {
	spec := l.state.Spec
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(spec.KubeAssets, bin)); err != nil {
			return fmt.Errorf("%s is missing in %q (build it with hack/kube-testenv.sh, or pass --kube-assets): %w", bin, spec.KubeAssets, err)
		}
	}
	p := pki{dir: l.path("pki")}
	if err := p.write([]net.IP{net.ParseIP(cpAddr), net.ParseIP("127.0.0.1")}); err != nil {
		return fmt.Errorf("lab certificates: %w", err)
	}
	if err := p.kubeconfig(l.Kubeconfig(), fmt.Sprintf("https://%s:%d", cpAddr, apiPort)); err != nil {
		return err
	}
	l.sayf("starting etcd and kube-apiserver in %s (%s:%d)", l.NS(cpHost), cpAddr, apiPort)
	// The control plane has its namespace to itself, so fixed loopback ports cannot clash.
	if _, err := l.start("etcd", cpHost, filepath.Join(spec.KubeAssets, "etcd"),
		"--name", "lab", "--data-dir", l.path("etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "lab=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level", "warn"); err != nil {
		return err
	}
	if _, err := l.start("kube-apiserver", cpHost, filepath.Join(spec.KubeAssets, "kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:2379",
		"--bind-address", "0.0.0.0", "--advertise-address", cpAddr, "--secure-port", fmt.Sprint(apiPort),
		"--cert-dir", l.path("pki"), "--tls-cert-file", p.path("apiserver.crt"), "--tls-private-key-file", p.path("apiserver.key"),
		"--client-ca-file", p.path("ca.crt"), "--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", p.path("sa.pub"),
		"--service-account-signing-key-file", p.path("sa.key"), "--service-cluster-ip-range", "10.96.0.0/16",
		// With nothing to reach on a loopback advertise address, the default reconciler logs
		// every 10 s (KUBE-TESTENV-NOTES.md).
		"--endpoint-reconciler-type", "none"); err != nil {
		return err
	}
	if err := l.waitAPI(ctx, 90*time.Second); err != nil {
		return err
	}
	c, err := l.Client()
	if err != nil {
		return err
	}
	if err := l.installCRDs(ctx, c); err != nil {
		return err
	}
	return ensureNamespace(ctx, c, HeraldNamespace)
}

// waitAPI waits until the API server answers /readyz.
func (l *Lab) waitAPI(ctx context.Context, timeout time.Duration) error {
	cfg, err := l.RESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, last = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, name := range []string{"etcd", "kube-apiserver"} {
			if p, ok := l.Proc(name); ok && !p.Alive() {
				return fmt.Errorf("%s exited; its log (%s) ends:\n%s", name, p.Log, tail(l.Log(name), 15))
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s: %v; its log ends:\n%s", timeout, last, tail(l.Log("kube-apiserver"), 15))
}

// installCRDs creates (or updates) every CRD in the spec's CRD directory and waits until
// the API server serves them.
func (l *Lab) installCRDs(ctx context.Context, c client.Client) error {
	dir := l.state.Spec.CRDs
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %q (run from the repository, or pass --crds deploy/helm/herald/crds)", dir)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal(b, &u.Object); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := createOrUpdate(ctx, c, u); err != nil {
			return fmt.Errorf("installing %s: %w", f, err)
		}
		names = append(names, u.GetName())
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range names {
		for {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("apiextensions.k8s.io/v1")
			u.SetKind("CustomResourceDefinition")
			if err := c.Get(ctx, client.ObjectKey{Name: name}, u); err == nil && established(u) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after 30 s", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// createOrUpdate creates obj, or replaces the spec of the object of that name.
func createOrUpdate(ctx context.Context, c client.Client, obj client.Object) error {
	err := c.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur := obj.DeepCopyObject().(client.Object)
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		return err
	}
	obj.SetResourceVersion(cur.GetResourceVersion())
	return c.Update(ctx, obj)
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
