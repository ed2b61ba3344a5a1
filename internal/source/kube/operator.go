package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"golang.org/x/sync/errgroup"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/metrics"
	"github.com/heraldlb/herald/internal/status"
)

// OperatorConfig is `herald operator`'s settings.
type OperatorConfig struct {
	// LeaderElectionNamespace holds the Lease; empty turns leader election off (tests).
	LeaderElectionNamespace string
	// LeaderElectionID names the Lease.
	LeaderElectionID string
	IPAM             ipam.Config
	// QPS and Burst limit the operator's API requests. client-go's default of 20/s would take
	// 100 s to write 2,000 Services' status after a pool change.
	QPS   float32
	Burst int
	// SkipNameValidation lets several operators run in one process (tests): controller-runtime
	// otherwise refuses a second controller of the same name.
	SkipNameValidation bool
	// Namespace is Herald's namespace: the agents' L2 node Leases, read for the Services'
	// herald.io/L2Announced condition; empty turns that off.
	Namespace string
	// MetricsAddr serves /metrics: Herald's LB-IPAM series (pool usage, Services by result,
	// reconciles) and controller-runtime's (reconcile counts, durations and errors, work
	// queues, API requests by verb and code); empty turns it off.
	MetricsAddr string
	// StatusAddr, when set, serves the status page, /v1/status and /metrics of the operator's
	// view (pools and their usage, Services without an address and why) on this address.
	StatusAddr string
}

// DefaultOperatorConfig elects a leader through a Lease in herald-system, so a second replica
// stands by and takes over when the first stops renewing.
func DefaultOperatorConfig() OperatorConfig {
	return OperatorConfig{LeaderElectionNamespace: "herald-system", LeaderElectionID: "herald-operator", Namespace: "herald-system", IPAM: ipam.DefaultConfig(), QPS: 100, Burst: 200}
}

// Scheme has the core kinds and Herald's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := coordinationv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := discoveryv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// RunOperator runs the operator's controllers until ctx ends. Only the leader writes.
func RunOperator(ctx context.Context, cfg *rest.Config, oc OperatorConfig, logger *slog.Logger) error {
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	log.SetLogger(logrFrom(logger))
	cfg = rest.CopyConfig(cfg)
	if oc.QPS > 0 {
		cfg.QPS, cfg.Burst = oc.QPS, oc.Burst
	}
	renew, lease := 10*time.Second, 15*time.Second // client-go's defaults, made explicit
	lock, err := leaseLock(cfg, oc)
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		LeaderElectionResourceLockInterface: lock,
		Controller:                          ctrlconfig.Controller{SkipNameValidation: &oc.SkipNameValidation},
		Scheme:                              scheme,
		// Leases only from Herald's namespace (the L2 node Leases): nothing else is read.
		// Leases and Secrets only from Herald's namespace (the L2 node Leases, the MD5 Secrets
		// the peer configs name): nothing else is read.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {Namespaces: map[string]cache.Config{cmp.Or(oc.Namespace, "herald-system"): {}}},
			&corev1.Secret{}:        {Namespaces: map[string]cache.Config{cmp.Or(oc.Namespace, "herald-system"): {}}},
		}, DefaultTransform: slimForCache},
		// Herald serves /metrics itself (below), with its own series next to controller-runtime's.
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		LeaderElection:          oc.LeaderElectionNamespace != "",
		LeaderElectionNamespace: oc.LeaderElectionNamespace,
		LeaderElectionID:        oc.LeaderElectionID,
		LeaseDuration:           &lease,
		RenewDeadline:           &renew,
		// On SIGTERM give the Lease up at once, so the standby takes over without waiting.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	holder := status.NewHolder()
	r := &IPAM{Client: mgr.GetClient(), Log: logger.With("controller", "ipam"), Config: oc.IPAM, Events: mgr.GetEventRecorder("herald-operator"),
		LeaseNamespace: oc.Namespace, BGPStatus: true, Holder: holder}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	nc := &NodeConfigs{Client: mgr.GetClient(), Log: logger.With("controller", "bgp-node-configs"), Events: mgr.GetEventRecorder("herald-operator"),
		SecretsNamespace: oc.Namespace}
	if err := nc.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	l2 := &L2Policies{Client: mgr.GetClient(), Log: logger.With("controller", "l2-policies"), Events: mgr.GetEventRecorder("herald-operator")}
	if err := l2.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return mgr.Start(gctx) })
	if oc.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(holder, ctrlmetrics.Registry))
		g.Go(func() error { return serveHTTP(gctx, oc.MetricsAddr, mux) })
	}
	if oc.StatusAddr != "" {
		srv := &status.Server{Holder: holder, Log: logger, Metrics: metrics.Handler(holder, ctrlmetrics.Registry)}
		g.Go(func() error { return srv.ServeTCP(gctx, oc.StatusAddr) })
	}
	return g.Wait()
}

// serveHTTP serves h on addr until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// leaseLock is the leader Lease with the Pod's name as identity (POD_NAME from the downward
// API), so `kubectl get lease` says which replica leads. Without POD_NAME controller-runtime
// uses hostname_uuid.
func leaseLock(cfg *rest.Config, oc OperatorConfig) (resourcelock.Interface, error) {
	id := os.Getenv("POD_NAME")
	if id == "" || oc.LeaderElectionNamespace == "" {
		return nil, nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return resourcelock.New(resourcelock.LeasesResourceLock, oc.LeaderElectionNamespace, oc.LeaderElectionID,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
}
