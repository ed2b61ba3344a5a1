package kube

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/test/netlab"
)

// TestOperatorKilledMidAllocation: 2,000 Services, the operator SIGKILLed at random moments
// while it allocates, restarted each time. No address is ever in two Services' status, and
// no Service's address ever changes once written.
func TestOperatorKilledMidAllocation(t *testing.T) {
	ctx := context.Background()
	const n = 2000
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}}); err != nil {
		t.Fatal(err)
	}
	pool := &v1alpha1.LoadBalancerIPPool{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}, Spec: v1alpha1.LoadBalancerIPPoolSpec{
		Blocks:          []v1alpha1.IPPoolBlock{{Cidr: "10.200.0.0/16"}},
		ServiceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "chaos"}},
	}}
	if err := cl.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%04d", i), Namespace: "chaos", Labels: map[string]string{"pool": "chaos"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
		if err := cl.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := writeKubeconfig(t)
	bin := netlab.HeraldBinary(t)
	seen := map[string]string{} // Service -> first address it was given
	check := func(round int) int {
		var svcs corev1.ServiceList
		if err := cl.List(ctx, &svcs, client.InNamespace("chaos")); err != nil {
			t.Fatal(err)
		}
		owner := map[string]string{}
		done := 0
		for _, s := range svcs.Items {
			if len(s.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			done++
			ip := s.Status.LoadBalancer.Ingress[0].IP
			if o, dup := owner[ip]; dup {
				t.Fatalf("round %d: %s is in the status of both %s and %s", round, ip, o, s.Name)
			}
			owner[ip] = s.Name
			if first, ok := seen[s.Name]; ok && first != ip {
				t.Fatalf("round %d: %s moved from %s to %s", round, s.Name, first, ip)
			}
			seen[s.Name] = ip
		}
		return done
	}
	rng := rand.New(rand.NewPCG(3, 3))
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "operator", "--kubeconfig", kubeconfig, "--leader-election-namespace=", "--kube-api-qps", "2000", "--kube-api-burst", "4000", "--log-level", "error", "--metrics-addr=")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	for round := range 5 {
		cmd := start()
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		done := check(round)
		t.Logf("round %d: killed with %d of %d Services allocated", round, done, n)
	}
	cmd := start()
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	eventually(t, "every Service allocated after the last restart", 120*time.Second, func() string {
		if done := check(99); done != n {
			return fmt.Sprintf("%d of %d", done, n)
		}
		return ""
	})
}
