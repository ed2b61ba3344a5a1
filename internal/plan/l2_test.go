package plan_test

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldlb/herald/internal/plan"
)

const seed003L2Nodes = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {private: ""}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {private: ""}}
---
apiVersion: v1
kind: Node
metadata: {name: n3}
---
apiVersion: v1
kind: Node
metadata: {name: n4, labels: {private: "", node.kubernetes.io/exclude-from-external-load-balancers: ""}}
---
apiVersion: v1
kind: Node
metadata: {name: n5, labels: {private: ""}}
spec: {unschedulable: true}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: priv, namespace: ingress-nginx-private, labels: {kubernetes.io/service-name: ingress-nginx-private-controller}}
addressType: IPv4
endpoints:
- {addresses: [10.0.3.1], nodeName: n2, conditions: {ready: true}}
- {addresses: [10.0.3.2], nodeName: n1, conditions: {ready: false}}
`

func l2Plan(t *testing.T, files []string, extra string, opts plan.Options) *plan.L2Plan {
	t.Helper()
	c := load(t, files, extra)
	return plan.ComputeL2(plan.Input{Cluster: c, Allocations: Allocations(c), Options: opts})
}

func l2Nodes(a plan.L2Address) string {
	var ns []string
	for _, n := range a.Nodes {
		ns = append(ns, n.Name)
	}
	return strings.Join(ns, ",")
}

func TestL2Seed003PrivateServices(t *testing.T) {
	p := l2Plan(t, []string{filepath.Join(seeds, "003-hybrid-bgp-l2")}, seed003L2Nodes, plan.Options{})
	got := map[string]plan.L2Address{}
	for _, a := range p.Addresses {
		got[a.Addr.String()] = a
	}
	if len(got) != 2 {
		t.Fatalf("L2 addresses %v, want the two private Services only (public ones go over BGP)", got)
	}
	affine := got["10.122.0.171"]
	// Cluster traffic policy: every private node that is not excluded or cordoned.
	if l2Nodes(affine) != "n1,n2" || affine.Service.String() != "affine/affine-svc-lb" {
		t.Errorf("affine-svc-lb: nodes %s service %s, want n1,n2", l2Nodes(affine), affine.Service)
	}
	// Local: only the node with a ready endpoint.
	if ing := got["10.122.0.129"]; l2Nodes(ing) != "n2" {
		t.Errorf("private ingress (Local): nodes %s, want n2 (n1's endpoint is not ready)", l2Nodes(ing))
	}
	// Cilium's semantics: unanchored regular expressions ("enp86s0.122" also matches
	// enp86s0.1220); the default-route interface is not added when patterns are given.
	n := affine.Nodes[0]
	if ifs := n.MatchInterfaces([]string{"enp86s0", "enp86s0.122", "enp86s0.1220", "eth0"}, "enp86s0"); !slices.Equal(ifs, []string{"enp86s0.122", "enp86s0.1220"}) {
		t.Errorf("interfaces matched: %v, want enp86s0.122 and enp86s0.1220", ifs)
	}
}

func TestL2PoliciesMergeAndNoEligibleNode(t *testing.T) {
	const m = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: lan}
spec: {blocks: [{cidr: 192.168.1.240/29}]}
---
apiVersion: herald.io/v1alpha1
kind: L2AnnouncementPolicy
metadata: {name: default-route}
spec: {loadBalancerIPs: true}
---
apiVersion: herald.io/v1alpha1
kind: L2AnnouncementPolicy
metadata: {name: vlan}
spec: {loadBalancerIPs: true, externalIPs: true, interfaces: ["^vlan"], serviceSelector: {matchLabels: {io.kubernetes.service.name: web}}}
---
apiVersion: v1
kind: Node
metadata: {name: a}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, externalIPs: [198.51.100.7, 203.0.113.9]}
---
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: default}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: lonely}}
`
	p := l2Plan(t, nil, m, plan.Options{ExternalIPAllowList: []netipPrefix{mustPrefix("198.51.100.0/24")}})
	var web, ext, lonely *plan.L2Address
	for i := range p.Addresses {
		a := &p.Addresses[i]
		switch {
		case a.Addr.String() == "198.51.100.7":
			ext = a
		case a.Addr.String() == "203.0.113.9":
			t.Fatalf("externalIP outside the allow-list announced: %+v", a)
		case a.Service.Name == "web":
			web = a
		case a.Service.Name == "lonely":
			lonely = a
		}
	}
	if web == nil || ext == nil || lonely == nil {
		t.Fatalf("addresses: %+v", p.Addresses)
	}
	if !slices.Equal(web.Policies, []string{"default-route", "vlan"}) {
		t.Errorf("web policies %v", web.Policies)
	}
	// Two policies on one node: the default-route interface and the vlan pattern, ORed.
	if ifs := web.Nodes[0].MatchInterfaces([]string{"eth0", "eth1", "vlan5"}, "eth0"); !slices.Equal(ifs, []string{"eth0", "vlan5"}) {
		t.Errorf("web answers on %v, want eth0 (default route) and vlan5", ifs)
	}
	if !slices.Equal(ext.Policies, []string{"vlan"}) {
		t.Errorf("the externalIP comes only from the policy with externalIPs: %v", ext.Policies)
	}
	if len(lonely.Nodes) != 0 {
		t.Errorf("a Local Service without endpoints has eligible nodes %s", l2Nodes(*lonely))
	}
	found := false
	for _, pr := range p.Problems {
		found = found || (pr.Reason == plan.ReasonL2NoEligibleNode && pr.Name == "default/lonely")
	}
	if !found {
		t.Errorf("no NoEligibleNode problem for default/lonely: %+v", p.Problems)
	}
}

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
