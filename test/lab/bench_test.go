package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/internal/lab"
	"github.com/heraldlb/herald/test/netlab"
)

// Benchmarks of the whole system in the lab: the operator, a real kube-apiserver, an agent
// and FRR. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./test/lab/
//
// and record every figure in BENCHMARKS.md with this command.

const scaleManifests = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: big}
spec: {blocks: [{cidr: 100.64.0.0/10}]}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: scale}
spec:
  bgpInstances:
  - name: lan
    localASN: 65010
    peers: [{name: router, peerAddress: 192.0.2.1, peerASN: 65001, peerConfigRef: {name: scale}}]
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: scale}
spec:
  timers: {connectRetryTimeSeconds: 5, holdTimeSeconds: 90, keepAliveTimeSeconds: 30}
  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {scale: "yes"}}}]
---
apiVersion: herald.io/v1alpha1
kind: BGPAdvertisement
metadata: {name: scale, labels: {scale: "yes"}}
spec:
  advertisements: [{advertisementType: Service, service: {addresses: [LoadBalancerIP]}, selector: {}}]
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.0.2.11}]}
`

// BenchmarkAgentAtScale: N LoadBalancer Services created through the API server; the
// operator gives each an address, the agent advertises all N /32s, and FRR installs them.
// Reported: the time from the first create to the last route in the router's kernel, and
// the resident memory of the agent (its node's whole state: the informer caches of Services
// and configuration, the plan, GoBGP's tables) and of the operator, after convergence.
func BenchmarkAgentAtScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			for b.Loop() {
				agentAtScale(b, n)
			}
		})
	}
}

func agentAtScale(b *testing.B, n int) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "scale.yaml"), []byte(scaleManifests), 0o644); err != nil {
		b.Fatal(err)
	}
	hosts := []lab.Host{
		{Name: "router", Kind: lab.Router, Links: []lab.Link{{Segment: "lan", Name: "eth0", Addrs: []string{"192.0.2.1/24"}}}},
		{Name: "n1", Kind: lab.Node, Links: []lab.Link{{Segment: "lan", Name: "eth0", Addrs: []string{"192.0.2.11/24"}}}},
	}
	l := up(b, newSpec(b, hosts, dir))
	ctx := context.Background()
	cfg, err := l.RESTConfig()
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 5000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scale"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s" + strconv.FormatInt(i, 10), Namespace: "scale"},
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: new(bool),
						Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
				if _, err := cs.CoreV1().Services("scale").Create(ctx, s, metav1.CreateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	created := time.Since(start)
	router := l.Router("router")
	deadline := time.Now().Add(30 * time.Minute)
	for {
		if fib, err := router.FIBRoutes(); err == nil && fib == n {
			break
		}
		if time.Now().After(deadline) {
			s, _ := router.Vtysh("show bgp summary")
			b.Fatalf("the router never reached %d routes:\n%s", n, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
	converged := time.Since(start)
	time.Sleep(10 * time.Second) // settle: let the last status writes and GCs pass
	b.ReportMetric(created.Seconds(), "s-to-create")
	b.ReportMetric(converged.Seconds(), "s-to-kernel")
	for _, name := range []string{"agent n1", "operator", "kube-apiserver"} {
		p, _ := l.Proc(name)
		b.ReportMetric(float64(netlab.RSS(p.PID))/(1<<20), "MB-rss-"+strings.ReplaceAll(strings.Fields(name)[0], "-", ""))
	}
}

// BenchmarkLabNodeDeath: the default lab (seed 000, BFD 100 ms x 3, graceful restart 120 s) with
// a client requesting 10.99.8.201:443 every 20 ms. Each run kills a node (agent and backend
// SIGKILLed, links down at the same instant), measures until its next hop is gone from the
// router's kernel, and counts the client's failed requests, then revives it and waits until
// the lab is whole again. Reported: median and max of the next hop's removal, and the median
// and max of the client's failures per death (each failure is a request that went to the
// dead node before the router knew).
func BenchmarkLabNodeDeath(b *testing.B) {
	l := up(b, newSpec(b, lab.Default().Hosts, filepath.Join(repo, "examples", "lab")))
	ctx := context.Background()
	if r := l.WaitHealthy(ctx, 2*time.Minute); len(r.Failed()) > 0 {
		b.Fatalf("lab not healthy: %+v", r.Failed())
	}
	router := l.Router("router")
	nodes := []string{"stanton-01", "stanton-02", "stanton-03"}
	var gone []time.Duration
	var failures []int
	for b.Loop() {
		gone, failures = nil, nil
		for i := range 10 {
			gone, failures = nodeDeath(b, l, router, nodes[i%3], gone, failures)
		}
	}
	slices.Sort(gone)
	slices.Sort(failures)
	b.ReportMetric(float64(gone[len(gone)/2].Milliseconds()), "median-ms-nexthop-gone")
	b.ReportMetric(float64(gone[len(gone)-1].Milliseconds()), "max-ms-nexthop-gone")
	b.ReportMetric(float64(failures[len(failures)/2]), "median-failed-requests")
	b.ReportMetric(float64(failures[len(failures)-1]), "max-failed-requests")
	b.ReportMetric(float64(len(gone)), "deaths")
}

// nodeDeath kills node once and revives it; it appends how long the router took to drop the
// node's next hop and how many client requests failed.
func nodeDeath(b *testing.B, l *lab.Lab, router *lab.FRR, node string, gone []time.Duration, failures []int) ([]time.Duration, []int) {
	ctx := context.Background()
	want := map[string]string{"stanton-01": "10.90.3.102,10.90.3.103", "stanton-02": "10.90.3.101,10.90.3.103", "stanton-03": "10.90.3.101,10.90.3.102"}[node]
	var mu sync.Mutex
	failed := 0
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Probe(pctx, "client", "10.99.8.201:443", 20*time.Millisecond, 500*time.Millisecond, func(a lab.Attempt) {
			if a.Err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if err := l.KillNode(node); err != nil {
		b.Fatal(err)
	}
	for router.NextHopsOf("10.99.8.201") != want {
		if time.Since(start) > 10*time.Second {
			b.Fatalf("%s's next hop still there after 10 s", node)
		}
		time.Sleep(5 * time.Millisecond)
	}
	gone = append(gone, time.Since(start))
	time.Sleep(2 * time.Second)
	cancel()
	<-done
	failures = append(failures, failed)
	if err := l.ReviveNode(node); err != nil {
		b.Fatal(err)
	}
	if r := l.WaitHealthy(ctx, 2*time.Minute); len(r.Failed()) > 0 {
		b.Fatalf("lab not whole after reviving %s: %+v", node, r.Failed())
	}
	time.Sleep(2 * time.Second) // past BFD's start-up flap with FRR (LAB-NOTES.md)
	return gone, failures
}
