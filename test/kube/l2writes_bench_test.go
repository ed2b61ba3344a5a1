package kube

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	herald "github.com/heraldlb/herald/internal/source/kube"
)

// BenchmarkL2SteadyStateAPIWrites measures the API writes (and reads) per second of L2 announcements at
// steady state on a real kube-apiserver: 10 nodes each keeping its L2 node Lease (default
// timing), 1,000 LoadBalancer Services selected by an L2AnnouncementPolicy, and the operator
// (LB-IPAM, leader election off) having allocated them all. Writes are counted by the API
// server itself (apiserver_request_total, mutating verbs), per resource, over 60 s.
//
//	go test -run '^$' -bench BenchmarkL2SteadyStateAPIWrites -benchtime 1x ./test/kube/
func BenchmarkL2SteadyStateAPIWrites(b *testing.B) {
	for i, tc := range []struct{ nodes, services int }{{10, 1000}, {10, 3000}, {20, 1000}} {
		b.Run(fmt.Sprintf("nodes=%d/services=%d", tc.nodes, tc.services), func(b *testing.B) {
			for b.Loop() {
				measureL2Writes(b, i, tc.nodes, tc.services, 60*time.Second)
			}
		})
	}
}

func measureL2Writes(b *testing.B, run, nodes, services int, window time.Duration) {
	ctx := context.Background()
	ns := fmt.Sprintf("l2writes-%d", run)
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "herald-system"}}); err != nil && !strings.Contains(err.Error(), "already exists") {
		b.Fatal(err)
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"pool": ns}}
	pool := &v1alpha1.LoadBalancerIPPool{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: v1alpha1.LoadBalancerIPPoolSpec{
		Blocks: []v1alpha1.IPPoolBlock{{Cidr: fmt.Sprintf("10.%d.0.0/16", 210+run)}}, ServiceSelector: sel}}
	pol := &v1alpha1.L2AnnouncementPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: v1alpha1.L2AnnouncementPolicySpec{
		LoadBalancerIPs: true, ServiceSelector: sel}}
	for _, o := range []client.Object{pool, pol} {
		if err := cl.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	for i := range services {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%04d", i), Namespace: ns, Labels: map[string]string{"pool": ns}},
			// No node ports: 30000-32767 holds fewer than the Services of all runs.
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}, AllocateLoadBalancerNodePorts: ptr(false)}}
		if err := cl.Create(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	oc := herald.DefaultOperatorConfig()
	oc.LeaderElectionNamespace, oc.MetricsAddr, oc.SkipNameValidation = "", "", true
	stop := startOperator(b, oc)
	defer stop()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range nodes {
		nl := herald.NewNodeLeases(herald.DefaultNodeLeaseConfig(fmt.Sprintf("bench-%d-node-%02d", run, i)), cs, slog.New(slog.DiscardHandler), nil)
		go func() { _ = nl.Run(lctx) }()
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var svcs corev1.ServiceList
		if err := cl.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		done := 0
		for _, s := range svcs.Items {
			if len(s.Status.LoadBalancer.Ingress) > 0 {
				done++
			}
		}
		if done == services {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d Services allocated", done, services)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(10 * time.Second) // settle: allocation events, the first Lease creations
	before := requestCounts(b, cs)
	time.Sleep(window)
	after := requestCounts(b, cs)
	totals := map[string]float64{}
	var parts []string
	for key, n := range after {
		if d := n - before[key]; d > 0 {
			kind, _, _ := strings.Cut(key, " ")
			totals[kind] += d
			parts = append(parts, fmt.Sprintf("%s %.2f/s", key, d/window.Seconds()))
		}
	}
	sort.Strings(parts)
	b.ReportMetric(totals["write"]/window.Seconds(), "writes/s")
	b.ReportMetric(totals["read"]/window.Seconds(), "reads/s")
	b.Logf("%d nodes, %d L2 Services over %s: %.2f writes/s, %.2f reads/s (%s); Cilium's formula (services ÷ renew deadline 5 s): %d writes/s",
		nodes, services, window, totals["write"]/window.Seconds(), totals["read"]/window.Seconds(), strings.Join(parts, ", "), services/5)
	cancel()
	stop()
	_ = cl.DeleteAllOf(ctx, &corev1.Service{}, client.InNamespace(ns))
	_ = cl.Delete(ctx, pool)
	_ = cl.Delete(ctx, pol)
}

var requestLine = regexp.MustCompile(`^apiserver_request_total\{(.*)\} ([0-9.e+]+)$`)

// requestCounts reads the API server's own request counters by "write|read resource":
// mutating verbs are writes; GET and LIST are reads (WATCH is a long-lived stream, counted
// when it starts, and CONNECT none of these).
func requestCounts(b *testing.B, cs *kubernetes.Clientset) map[string]float64 {
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := requestLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(m[1], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		kind := ""
		switch labels["verb"] {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY":
			kind = "write"
		case "GET", "LIST":
			kind = "read"
		default:
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		res := labels["resource"]
		if labels["subresource"] != "" {
			res += "/" + labels["subresource"]
		}
		out[kind+" "+res] += v
	}
	return out
}
