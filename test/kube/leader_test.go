package kube

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/test/netlab"
)

// TestTwoReplicasOnlyTheLeaderWrites: two operator processes share a Lease; only the holder
// allocates, and when it stops (SIGTERM releases the Lease) the standby takes over.
func TestTwoReplicasOnlyTheLeaderWrites(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"herald-system", "leader"} {
		ensureNamespace(t, ns) // herald-system is shared with the L2 Lease tests
	}
	pool := &v1alpha1.LoadBalancerIPPool{ObjectMeta: metav1.ObjectMeta{Name: "leader"}, Spec: v1alpha1.LoadBalancerIPPoolSpec{
		Blocks: []v1alpha1.IPPoolBlock{{Cidr: "10.201.0.0/24"}}, ServiceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "leader"}}}}
	if err := cl.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t)
	bin := netlab.HeraldBinary(t)
	replicas := map[string]*exec.Cmd{}
	for _, id := range []string{"replica-a", "replica-b"} {
		// Each replica its own metrics port, as each pod has its own network namespace.
		cmd := exec.Command(bin, "operator", "--kubeconfig", kubeconfig, "--log-level", "error", "--metrics-addr", freeLoopbackAddr(t))
		cmd.Env = append(os.Environ(), "POD_NAME="+id)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		replicas[id] = cmd
		t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	}
	holder := func() string {
		var l coordinationv1.Lease
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "herald-system", Name: "herald-operator"}, &l); err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	eventually(t, "a leader", 30*time.Second, func() string {
		if holder() == "" {
			return "no holder"
		}
		return ""
	})
	leader := holder()
	create := func(name string) {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "leader", Labels: map[string]string{"pool": "leader"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
		if err := cl.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	allocated := func(name string) func() string {
		return func() string {
			var s corev1.Service
			if err := cl.Get(ctx, client.ObjectKey{Namespace: "leader", Name: name}, &s); err != nil {
				return err.Error()
			}
			if len(s.Status.LoadBalancer.Ingress) != 1 {
				return "no address yet"
			}
			// Only one writer: the status field's manager is one process.
			var managers []string
			for _, mf := range s.ManagedFields {
				if mf.Subresource == "status" {
					managers = append(managers, mf.Manager)
				}
			}
			if len(managers) != 1 {
				return fmt.Sprintf("status written by %v", managers)
			}
			return ""
		}
	}
	create("first")
	eventually(t, "the leader to allocate", 30*time.Second, allocated("first"))

	// Stop the leader gracefully: it releases the Lease, the standby takes over at once.
	leaderCmd, ok := replicas[leader]
	if !ok {
		t.Fatalf("the Lease holder %q is not one of the replicas (POD_NAME is the identity)", leader)
	}
	_ = leaderCmd.Process.Signal(syscall.SIGTERM)
	_ = leaderCmd.Wait()
	eventually(t, "another leader", 30*time.Second, func() string {
		if h := holder(); h == "" || h == leader {
			return "holder " + h
		}
		return ""
	})
	create("second")
	eventually(t, "the new leader to allocate", 30*time.Second, allocated("second"))
}
