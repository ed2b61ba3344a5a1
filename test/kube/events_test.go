package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	herald "github.com/heraldlb/herald/internal/source/kube"
)

// eventsAbout lists the reasons of the events recorded about one object, oldest first.
func eventsAbout(t *testing.T, namespace, kind, name string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := cl.List(context.Background(), &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b eventsv1.Event) int { return a.EventTime.Time.Compare(b.EventTime.Time) })
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

// TestEventsOnChangeOnly: a Service gets an IPAllocated event, a second one asking for the
// same address gets AlreadyAllocated, a newer overlapping pool gets PoolConflict, and a restarted
// operator (a resync of everything) records nothing new.
func TestEventsOnChangeOnly(t *testing.T) {
	ctx := context.Background()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "events"}}); err != nil {
		t.Fatal(err)
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "events"}}
	if err := cl.Create(ctx, &v1alpha1.LoadBalancerIPPool{ObjectMeta: metav1.ObjectMeta{Name: "events"},
		Spec: v1alpha1.LoadBalancerIPPoolSpec{Blocks: []v1alpha1.IPPoolBlock{{Cidr: "10.202.0.0/32"}}, ServiceSelector: sel}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"first", "second"} {
		// Both ask for the pool's one address, so no other test's pool can serve them.
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "events", Labels: sel.MatchLabels,
			Annotations: map[string]string{"herald.io/ips": "10.202.0.0"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
		if err := cl.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Delete(ctx, s) }) // the API server is shared by the package's tests
		// Creation times have one-second resolution: "first" is older and wins.
		time.Sleep(1100 * time.Millisecond)
	}
	stop := startOperator(t, herald.OperatorConfig{IPAM: herald.DefaultOperatorConfig().IPAM, SkipNameValidation: true})
	eventually(t, "events on both Services", 30*time.Second, func() string {
		first, second := eventsAbout(t, "events", "Service", "first"), eventsAbout(t, "events", "Service", "second")
		if !slices.Equal(first, []string{"IPAllocated"}) || !slices.Equal(second, []string{"AlreadyAllocated"}) {
			return fmt.Sprintf("first %v, second %v", first, second)
		}
		return ""
	})
	// A newer pool overlapping the first: a Warning on it (pools are cluster-scoped, their
	// events land in "default").
	if err := cl.Create(ctx, &v1alpha1.LoadBalancerIPPool{ObjectMeta: metav1.ObjectMeta{Name: "events-overlap"},
		Spec: v1alpha1.LoadBalancerIPPoolSpec{Blocks: []v1alpha1.IPPoolBlock{{Cidr: "10.202.0.0/31"}}, ServiceSelector: sel}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "PoolConflict on the newer pool", 30*time.Second, func() string {
		if got := eventsAbout(t, "default", "LoadBalancerIPPool", "events-overlap"); !slices.Equal(got, []string{"PoolConflict"}) {
			return fmt.Sprintf("%v", got)
		}
		return ""
	})
	// The condition names the older pool, and nothing else changed: "first" keeps its address.
	var overlap v1alpha1.LoadBalancerIPPool
	if err := cl.Get(ctx, client.ObjectKey{Name: "events-overlap"}, &overlap); err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(overlap.Status.Conditions, herald.ConditionPoolConflict); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "events") {
		t.Errorf("PoolConflict on the newer pool: %+v", c)
	}
	var first corev1.Service
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "events", Name: "first"}, &first); err != nil || len(first.Status.LoadBalancer.Ingress) != 1 || first.Status.LoadBalancer.Ingress[0].IP != "10.202.0.0" {
		t.Errorf("the overlap moved first's address: %+v, %v", first.Status.LoadBalancer.Ingress, err)
	}

	// Restart: the new operator adopts everything and changes nothing, so it says nothing.
	stop()
	startOperator(t, herald.OperatorConfig{IPAM: herald.DefaultOperatorConfig().IPAM, SkipNameValidation: true})
	eventually(t, "the restarted operator to settle", 30*time.Second, func() string {
		var s corev1.Service
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "events", Name: "first"}, &s); err != nil {
			return err.Error()
		}
		if len(s.Status.LoadBalancer.Ingress) != 1 {
			return "no address"
		}
		return ""
	})
	time.Sleep(3 * time.Second) // a resync storm would be recorded well within this
	got := strings.Join(eventsAbout(t, "events", "Service", "first"), ",") + " " + strings.Join(eventsAbout(t, "events", "Service", "second"), ",") +
		" " + strings.Join(eventsAbout(t, "default", "LoadBalancerIPPool", "events-overlap"), ",")
	if got != "IPAllocated AlreadyAllocated PoolConflict" {
		t.Errorf("after a restart: %s, want no new events", got)
	}
}
