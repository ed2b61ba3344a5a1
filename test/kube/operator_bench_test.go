package kube

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/test/netlab"
)

func benchPool(b *testing.B, name, cidr string) {
	pool := &v1alpha1.LoadBalancerIPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.LoadBalancerIPPoolSpec{
		Blocks: []v1alpha1.IPPoolBlock{{Cidr: cidr}}, ServiceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": name}}}}
	if err := cl.Create(context.Background(), pool); err != nil {
		b.Fatal(err)
	}
	if err := cl.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		b.Fatal(err)
	}
}

func benchService(ns string, i int) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%05d", i), Namespace: ns, Labels: map[string]string{"pool": ns}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}, AllocateLoadBalancerNodePorts: ptr(false)}}
}

// startOperatorProcess runs `herald operator` as its own process (for its RSS), with its
// metrics on metricsAddr ("" for none).
func startOperatorProcess(b *testing.B, metricsAddr string) *exec.Cmd {
	cmd := exec.Command(netlab.HeraldBinary(b), "operator", "--kubeconfig", writeKubeconfig(b), "--leader-election-namespace=",
		"--kube-api-qps", "2000", "--kube-api-burst", "4000", "--log-level", "error", "--metrics-addr="+metricsAddr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	return cmd
}

// peakRSS reads a process's peak resident set (VmHWM) in MiB.
func peakRSS(pid int) float64 {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkOperatorStatusLatency: 1,000 Services created one after another against a running
// operator; for each, the time from its creation returning to the API server sending the
// update that carries status.loadBalancer.ingress (seen on a watch).
//
//	go test -run '^$' -bench BenchmarkOperatorStatusLatency -benchtime 1x ./test/kube/
func BenchmarkOperatorStatusLatency(b *testing.B) {
	for b.Loop() {
		const ns, n = "bench-latency", 1000
		benchPool(b, ns, "10.220.0.0/16")
		startOperatorProcess(b, "")
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		w, err := cs.CoreV1().Services(ns).Watch(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
		created := make(map[string]time.Time, n)
		got := make(chan string, n)
		go func() {
			for ev := range w.ResultChan() {
				if s, ok := ev.Object.(*corev1.Service); ok && ev.Type == watch.Modified && len(s.Status.LoadBalancer.Ingress) > 0 {
					got <- s.Name
				}
			}
		}()
		seen := map[string]time.Duration{}
		record := func(name string) {
			if _, dup := seen[name]; !dup {
				seen[name] = time.Since(created[name])
			}
		}
		time.Sleep(2 * time.Second) // the operator's caches are synced
		for i := range n {
			s := benchService(ns, i)
			if err := cl.Create(context.Background(), s); err != nil {
				b.Fatal(err)
			}
			created[s.Name] = time.Now()
			for drained := false; !drained; {
				select {
				case name := <-got:
					record(name)
				default:
					drained = true
				}
			}
		}
		deadline := time.After(2 * time.Minute)
		for len(seen) < n {
			select {
			case name := <-got:
				record(name)
			case <-deadline:
				b.Fatalf("only %d of %d Services got an address", len(seen), n)
			}
		}
		var ds []time.Duration
		for _, d := range seen {
			ds = append(ds, d)
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, "max-ms")
		_ = cl.DeleteAllOf(context.Background(), &corev1.Service{}, client.InNamespace(ns))
	}
}

// BenchmarkOperatorColdStart10k: 10,000 Services already hold addresses in their status.
// Migration: another LB-IPAM wrote them (no Herald condition yet); a fresh operator adopts
// them all and writes its condition on each: time from process start until the pool's status
// counts 10,000 used. Restart: the operator that did that is killed and a new one starts:
// time until its first full reconcile succeeds (its own metrics), which writes nothing. Peak
// RSS of each process. No address may move.
//
//	go test -run '^$' -bench BenchmarkOperatorColdStart10k -benchtime 1x -timeout 30m ./test/kube/
func BenchmarkOperatorColdStart10k(b *testing.B) {
	for b.Loop() {
		const ns, n = "bench-cold", 10000
		benchPool(b, ns, "10.221.0.0/16")
		ctx := context.Background()
		want := func(i int) string { return fmt.Sprintf("10.221.%d.%d", (i+1)/256, (i+1)%256) }
		for i := range n {
			s := benchService(ns, i)
			if err := cl.Create(ctx, s); err != nil {
				b.Fatal(err)
			}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: want(i)}}
			if err := cl.Status().Update(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		cmd := startOperatorProcess(b, "")
		for {
			var p v1alpha1.LoadBalancerIPPool
			if err := cl.Get(ctx, client.ObjectKey{Name: ns}, &p); err != nil {
				b.Fatal(err)
			}
			used := ""
			for _, c := range p.Status.Conditions {
				if c.Type == "herald.io/Counts" {
					used = c.Message
				}
			}
			if strings.Contains(used, fmt.Sprintf("used %d,", n)) {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("pool status after 5 min: %q", used)
			}
			time.Sleep(50 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "migrate-s")
		b.ReportMetric(peakRSS(cmd.Process.Pid), "migrate-peak-RSS-MiB")
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		start = time.Now()
		cmd = startOperatorProcess(b, addr)
		for !reconciledOnce(addr) {
			if time.Since(start) > 5*time.Minute {
				b.Fatal("no successful reconcile after 5 min")
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "restart-s")
		b.ReportMetric(peakRSS(cmd.Process.Pid), "restart-peak-RSS-MiB")

		var svcs corev1.ServiceList
		if err := cl.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		for _, s := range svcs.Items {
			if w := want(mustAtoi(s.Name[1:])); len(s.Status.LoadBalancer.Ingress) != 1 || s.Status.LoadBalancer.Ingress[0].IP != w {
				b.Fatalf("%s moved: %+v, want %s", s.Name, s.Status.LoadBalancer.Ingress, w)
			}
		}
		_ = cl.DeleteAllOf(ctx, &corev1.Service{}, client.InNamespace(ns))
	}
}

// reconciledOnce reports whether the operator's IPAM controller has finished a reconcile.
func reconciledOnce(addr string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^controller_runtime_reconcile_total\{controller="ipam",result="success"\} (\d+)`).FindSubmatch(body)
	return m != nil && string(m[1]) != "0"
}

func mustAtoi(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}
