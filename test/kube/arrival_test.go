package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	herald "github.com/heraldlb/herald/internal/source/kube"
)

const arrivalObjects = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: arrival}
spec:
  blocks: [{cidr: 10.77.0.0/24}]
  serviceSelector: {matchLabels: {herald-test/arrival: "yes"}}
---
apiVersion: v1
kind: Service
metadata: {name: canary, namespace: arrival, labels: {herald-test/arrival: "yes"}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}], allocateLoadBalancerNodePorts: false}
`

// sharer asks for 10.77.0.5 under one sharing key on one port.
func sharer(name string, port int32) *corev1.Service {
	s := &corev1.Service{}
	s.Name, s.Namespace = name, "arrival"
	s.Labels = map[string]string{"herald-test/arrival": "yes"}
	s.Annotations = map[string]string{"io.cilium/lb-ipam-ips": "10.77.0.5", "io.cilium/lb-ipam-sharing-key": "k"}
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	s.Spec.AllocateLoadBalancerNodePorts = new(bool)
	s.Spec.Ports = []corev1.ServicePort{{Port: port, Protocol: corev1.ProtocolTCP}}
	return s
}

// TestSharedAddressFirstComeFirstServed: three Services created within one second ask for one
// shared address, the last one on a port the first already holds. The first two share it and
// the last is refused, whatever their names say: creation order, not name order, decides
// (creationTimestamp cannot tell within a second; the order of the watch can).
func TestSharedAddressFirstComeFirstServed(t *testing.T) {
	ensureNamespace(t, "arrival")
	createObjects(t, arrivalObjects)
	oc := herald.DefaultOperatorConfig()
	oc.LeaderElectionNamespace, oc.MetricsAddr, oc.SkipNameValidation = "", "", true
	startOperator(t, oc)
	ctx := context.Background()
	get := func(name string) corev1.Service {
		var s corev1.Service
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "arrival", Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Once the canary has an address the operator's watch is running: what follows arrives
	// through it, in creation order.
	eventually(t, "the canary's address", 30*time.Second, func() string {
		if len(get("canary").Status.LoadBalancer.Ingress) == 0 {
			return "none yet"
		}
		return ""
	})
	start := time.Now()
	for _, s := range []*corev1.Service{sharer("zz-first", 80), sharer("yy-second", 443), sharer("aa-third", 443)} {
		if err := cl.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Delete(context.Background(), s) })
	}
	if time.Since(start) > time.Second {
		t.Logf("the three Services took %s to create: their creation times may differ", time.Since(start))
	}
	eventually(t, "zz-first and yy-second on 10.77.0.5, aa-third refused", 30*time.Second, func() string {
		for _, n := range []string{"zz-first", "yy-second"} {
			if s := get(n); len(s.Status.LoadBalancer.Ingress) != 1 || s.Status.LoadBalancer.Ingress[0].IP != "10.77.0.5" {
				return n + ": " + condString(meta.FindStatusCondition(s.Status.Conditions, herald.ConditionIPAMSatisfied))
			}
		}
		third := get("aa-third")
		c := meta.FindStatusCondition(third.Status.Conditions, herald.ConditionIPAMSatisfied)
		if len(third.Status.LoadBalancer.Ingress) != 0 || c == nil || c.Reason != "IncompatibleSharing" {
			return "aa-third: " + condString(c)
		}
		return ""
	})
}
