package kube

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	herald "github.com/heraldlb/herald/internal/source/kube"
	"github.com/heraldlb/herald/internal/testutil"
)

// cuttable is a transport that fails every request while cut: the API server unreachable
// from one node only.
type cuttable struct {
	next http.RoundTripper
	cut  atomic.Bool
}

func (c *cuttable) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("test: API server unreachable from this node")
	}
	return c.next.RoundTrip(r)
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := cl.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestNodeLeases: each node renews its own Lease and sees the others'; a node that stops
// renewing turns invalid after the duration; a node that loses the API keeps its last verdict.
func TestNodeLeases(t *testing.T) {
	ensureNamespace(t, "herald-system")
	type keeper struct {
		nl     *herald.NodeLeases
		cancel context.CancelFunc
		done   chan struct{}
		tr     *cuttable
	}
	start := func(node string) *keeper {
		k := &keeper{done: make(chan struct{})}
		rc := rest.CopyConfig(cfg)
		rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { k.tr = &cuttable{next: rt}; return k.tr }
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			t.Fatal(err)
		}
		lc := herald.NodeLeaseConfig{Namespace: "herald-system", Node: node, Duration: time.Second, Renew: 200 * time.Millisecond}
		k.nl = herald.NewNodeLeases(lc, cs, slog.New(slog.DiscardHandler), nil)
		ctx, cancel := context.WithCancel(context.Background())
		k.cancel = cancel
		go func() { defer close(k.done); _ = k.nl.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-k.done })
		return k
	}
	a, b := start("lease-a"), start("lease-b")
	testutil.Eventually(t, "both Leases renewed in a's view", 10*time.Second, func() string {
		v := a.nl.Valid()
		if !v["lease-a"] || !v["lease-b"] {
			return "verdict " + fmtMap(v)
		}
		return ""
	})

	b.cancel()
	<-b.done
	testutil.Eventually(t, "b's Lease no longer renewed", 10*time.Second, func() string {
		if v := a.nl.Valid(); v["lease-b"] || !v["lease-a"] {
			return "verdict " + fmtMap(v)
		}
		return ""
	})

	// a loses the API: its verdict freezes; it does not start calling its peers dead.
	b = start("lease-b")
	testutil.Eventually(t, "b renewing again", 10*time.Second, func() string {
		if v := a.nl.Valid(); !v["lease-b"] {
			return "verdict " + fmtMap(v)
		}
		return ""
	})
	a.tr.cut.Store(true)
	b.cancel()
	<-b.done
	time.Sleep(2 * time.Second) // twice the Lease duration: without the freeze b would be expired
	if v := a.nl.Valid(); !v["lease-b"] || !v["lease-a"] {
		t.Fatalf("a lost the API and changed its verdict: %v", v)
	}
	if a.nl.Writes() == 0 {
		t.Fatal("no renewals written")
	}
}

func fmtMap(m map[string]bool) string {
	s := "{"
	for k, v := range m {
		if v {
			s += k + ":renewed "
		} else {
			s += k + ":expired "
		}
	}
	return s + "}"
}
