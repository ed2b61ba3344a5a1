package plan_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
)

const seeds = "../../test/fixtures/seeds"

// compute loads manifests (files, and extra YAML documents), allocates, and plans.
func compute(t *testing.T, files []string, extra string, opts plan.Options) *plan.Plan {
	t.Helper()
	c := load(t, files, extra)
	return plan.Compute(plan.Input{Cluster: c, Allocations: Allocations(c), Options: opts})
}

// load reads manifests (files, and extra YAML documents) into a cluster, failing on errors.
func load(t *testing.T, files []string, extra string) *model.Cluster {
	t.Helper()
	set, err := manifest.LoadFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		set.Merge(manifest.Decode("extra.yaml", []byte(extra)))
	}
	b := manifest.Build(manifest.Herald(set))
	for _, p := range b.Problems {
		if p.Severity == manifest.Error {
			t.Fatalf("manifest error: %s", p)
		}
	}
	return &b.Cluster
}

// Allocations runs the allocator the way the runners do.
func Allocations(c *model.Cluster) map[model.ServiceKey][]plan.Allocated {
	out := map[model.ServiceKey][]plan.Allocated{}
	for _, r := range ipam.New(ipam.DefaultConfig()).Reconcile(c.Pools, c.Services) {
		for i, a := range r.Addrs {
			out[r.Service] = append(out[r.Service], plan.Allocated{Addr: a, Pool: r.Pools[i]})
		}
	}
	return out
}

// routes returns "prefix" strings advertised by node to peer in family afi.
func routes(t *testing.T, p *plan.Plan, node, instance, peer, afi string) []plan.Route {
	t.Helper()
	n, ok := p.Nodes[node]
	if !ok {
		t.Fatalf("no node %s", node)
	}
	for _, in := range n.Instances {
		if in.Name != instance {
			continue
		}
		for _, pe := range in.Peers {
			if pe.Name != peer {
				continue
			}
			for _, f := range pe.Families {
				if f.AFI == afi {
					return f.Routes
				}
			}
			return nil
		}
	}
	t.Fatalf("node %s has no %s/%s", node, instance, peer)
	return nil
}

func prefixes(rs []plan.Route) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Prefix.String())
	}
	return strings.Join(out, ",")
}

func TestSeed000EveryNodeAdvertisesEleven(t *testing.T) {
	p := compute(t, []string{filepath.Join(seeds, "000-home-ops", "networking.yaml"), filepath.Join(seeds, "000-home-ops", "nodes.yaml"), filepath.Join(seeds, "000-home-ops", "services.yaml")}, "", plan.Options{})
	for i, node := range []string{"stanton-01", "stanton-02", "stanton-03"} {
		n := p.Nodes[node]
		if len(n.Instances) != 1 {
			t.Fatalf("%s: %+v", node, n)
		}
		in := n.Instances[0]
		if in.LocalASN != 65010 || in.RouterID != netip.MustParseAddr(fmt.Sprintf("10.90.3.%d", 101+i)) || in.ListenPort != 0 {
			t.Errorf("%s instance %+v", node, in)
		}
		pe := in.Peers[0]
		if pe.Address != netip.MustParseAddr("10.90.254.1") || pe.ASN != 65001 || pe.Config.Timers.Hold.Seconds() != 90 || !pe.Config.GracefulRestart.Enabled {
			t.Errorf("%s peer %+v", node, pe)
		}
		rs := routes(t, p, node, "home-cluster", "udm-pro", "ipv4")
		if len(rs) != 11 || rs[0].Prefix.String() != "10.99.8.201/32" || rs[10].Prefix.String() != "10.99.8.211/32" {
			t.Errorf("%s routes %s", node, prefixes(rs))
		}
		for _, r := range rs {
			if r.LocalPref != nil || len(r.Communities.Standard) != 0 {
				t.Errorf("%s: unexpected attributes on %s", node, r.Prefix)
			}
		}
	}
	if len(p.Problems) != 0 {
		t.Errorf("problems: %+v", p.Problems)
	}
}

func TestSeed000OptOutLabel(t *testing.T) {
	extra := `apiVersion: v1
kind: Service
metadata:
  name: private
  namespace: x
  labels: {io.cilium/bgp-announce: "false"}
spec: {type: LoadBalancer}
`
	p := compute(t, []string{filepath.Join(seeds, "000-home-ops", "networking.yaml"), filepath.Join(seeds, "000-home-ops", "nodes.yaml")}, extra, plan.Options{})
	if rs := routes(t, p, "stanton-01", "home-cluster", "udm-pro", "ipv4"); len(rs) != 0 {
		t.Fatalf("a Service labelled io.cilium/bgp-announce=false is advertised: %s", prefixes(rs))
	}
}

func TestSeed001LocalThenCluster(t *testing.T) {
	files := []string{filepath.Join(seeds, "001-opnsense-v1")}
	p := compute(t, files, "", plan.Options{})
	if n := p.Nodes["cp-1"]; len(n.Instances) != 0 {
		t.Errorf("the control-plane node peers: %+v", n)
	}
	want := map[string]string{"worker-1": "", "worker-2": "10.86.55.0/32", "worker-3": ""}
	for node, w := range want {
		rs := routes(t, p, node, "asn-64555", "peer-10-86-5-254", "ipv4")
		if prefixes(rs) != w {
			t.Errorf("Local: %s advertises %q, want %q", node, prefixes(rs), w)
		}
		pe := p.Nodes[node].Instances[0].Peers[0]
		if !pe.IBGP(64555) || pe.Config.EBGPMultihop != 10 {
			t.Errorf("%s: iBGP/multihop wrong: %+v", node, pe)
		}
	}
	// The same Service with externalTrafficPolicy: Cluster: every worker advertises it.
	set, _ := manifest.LoadFiles(files...)
	b := manifest.Build(manifest.Herald(set))
	for i := range b.Cluster.Services {
		b.Cluster.Services[i].ExternalTrafficPolicy = model.TrafficCluster
	}
	p = plan.Compute(plan.Input{Cluster: &b.Cluster, Allocations: Allocations(&b.Cluster)})
	for node := range want {
		if got := prefixes(routes(t, p, node, "asn-64555", "peer-10-86-5-254", "ipv4")); got != "10.86.55.0/32" {
			t.Errorf("Cluster: %s advertises %q", node, got)
		}
	}
}

const seed003Nodes = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {public: "true", private: ""}}
status: {addresses: [{type: InternalIP, address: 10.121.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {public: "true"}}
status: {addresses: [{type: InternalIP, address: 10.121.0.12}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: pub, namespace: ingress-nginx-public, labels: {kubernetes.io/service-name: ingress-nginx-public-controller}}
addressType: IPv4
endpoints: [{addresses: [10.0.1.1], nodeName: n1, conditions: {ready: true}}, {addresses: [10.0.1.2], nodeName: n2, conditions: {ready: true}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dummy, namespace: dummy, labels: {kubernetes.io/service-name: dummy-service}}
addressType: IPv4
endpoints: [{addresses: [10.0.2.1], nodeName: n2, conditions: {ready: true}}]
`

func TestSeed003EachServiceOnlyToItsPeer(t *testing.T) {
	p := compute(t, []string{filepath.Join(seeds, "003-hybrid-bgp-l2")}, seed003Nodes, plan.Options{})
	check := func(node, inst, peer, want string) {
		t.Helper()
		if got := prefixes(routes(t, p, node, inst, peer, "ipv4")); got != want {
			t.Errorf("%s %s→%s: %q, want %q", node, inst, peer, got, want)
		}
	}
	check("n1", "instance-65001", "peer-router-65001", "203.0.113.93/32")
	check("n2", "instance-65001", "peer-router-65001", "203.0.113.93/32")
	check("n1", "instance-65002", "peer-router-65002", "") // dummy is Local with its pod on n2
	check("n2", "instance-65002", "peer-router-65002", "203.0.113.94/32")
	// The private pools are never advertised over BGP.
	for _, n := range p.Nodes {
		for _, in := range n.Instances {
			for _, pe := range in.Peers {
				for _, f := range pe.Families {
					for _, r := range f.Routes {
						if strings.HasPrefix(r.Prefix.String(), "10.122.") {
							t.Errorf("private %s advertised by %s", r.Prefix, n.Name)
						}
					}
				}
			}
		}
	}
}

func TestSeed004CommunitiesLocalPrefAndOverride(t *testing.T) {
	extra := `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: x, namespace: api, labels: {kubernetes.io/service-name: premium-api}}
addressType: IPv4
endpoints: [{addresses: [10.0.9.1], nodeName: node-worker-01}]
`
	p := compute(t, []string{filepath.Join(seeds, "004-enterprise", "v2-datacenter.yaml"), filepath.Join(seeds, "004-enterprise", "v2-workload.yaml")}, extra, plan.Options{})
	find := func(rs []plan.Route, pfx string) *plan.Route {
		for i := range rs {
			if rs[i].Prefix.String() == pfx {
				return &rs[i]
			}
		}
		t.Fatalf("%s not in %s", pfx, prefixes(rs))
		return nil
	}
	rr := routes(t, p, "node-worker-01", "fabric-instance", "route-reflector", "ipv4")
	spine := routes(t, p, "node-worker-01", "fabric-instance", "spine-1", "ipv4")
	pod := find(rr, "10.244.1.0/24")
	if got := fmt.Sprint(pod.Communities.Standard, pod.Communities.Large); got != "[65001:100 65535:65281] [65001:200:300]" {
		t.Errorf("PodCIDR communities %s", got)
	}
	if pod.LocalPref == nil || *pod.LocalPref != 150 {
		t.Errorf("PodCIDR local pref to the route reflector: %v", pod.LocalPref)
	}
	// premium-api: 10.100.0.0 (first free of production-pool), advertised by both
	// advertisements; communities united, local pref 200 to iBGP only.
	var premium netip.Prefix
	for _, r := range spine {
		if r.Prefix.Addr().Is4() && strings.HasPrefix(r.Prefix.String(), "10.100.") && r.Prefix.String() != "10.100.0.50/32" {
			premium = r.Prefix
		}
	}
	pr := find(rr, premium.String())
	if fmt.Sprint(pr.Communities.Standard) != "[65001:200]" || pr.LocalPref == nil || *pr.LocalPref != 200 {
		t.Errorf("premium to RR: %v %v", pr.Communities.Standard, pr.LocalPref)
	}
	ps := find(spine, premium.String())
	if ps.LocalPref != nil || find(spine, "10.244.1.0/24").LocalPref != nil {
		t.Error("LOCAL_PREF sent to an eBGP spine")
	}
	// web-http and web-https share 10.100.0.50 and are advertised once.
	if find(spine, "10.100.0.50/32") == nil {
		t.Error("shared address missing")
	}
	// Families: ipv6 is configured for the spines but nothing IPv6 exists.
	if rs := routes(t, p, "node-worker-01", "fabric-instance", "spine-1", "ipv6"); len(rs) != 0 {
		t.Errorf("ipv6 routes %s", prefixes(rs))
	}
	// The override of node-worker-03.
	in := p.Nodes["node-worker-03"].Instances[0]
	if in.RouterID != netip.MustParseAddr("10.0.1.33") || in.ListenPort != 1179 {
		t.Errorf("override not applied: %+v", in)
	}
	for _, pe := range in.Peers {
		want := netip.Addr{}
		if pe.Name == "spine-1" {
			want = netip.MustParseAddr("10.0.1.33")
		}
		if pe.LocalAddress != want {
			t.Errorf("%s local address %v, want %v", pe.Name, pe.LocalAddress, want)
		}
	}
}

func TestConflictsAndMissingReferences(t *testing.T) {
	text := `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {a: "1"}}
status: {addresses: [{type: InternalIP, address: 192.0.2.1}]}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: first, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  bgpInstances: [{name: i, localASN: 65000, peers: [{name: p, peerAddress: 192.0.2.254, peerASN: 65001, peerConfigRef: {name: missing}}]}]
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: second, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  nodeSelector: {matchLabels: {a: "1"}}
  bgpInstances: [{name: j, localASN: 65000, peers: [{name: q, peerAddress: 192.0.2.253, peerASN: 65001, peerConfigRef: {name: gone}}]}]
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: nobody}
spec:
  nodeSelector: {matchLabels: {role: none}}
  bgpInstances: [{name: k, localASN: 65000}]
`
	p := compute(t, nil, text, plan.Options{})
	if p.Nodes["n1"].ClusterConfig != "first" {
		t.Fatalf("the older config does not keep the node: %+v", p.Nodes["n1"])
	}
	var reasons []string
	for _, pr := range p.Problems {
		reasons = append(reasons, pr.Name+":"+pr.Reason)
	}
	// second owns no node (it lost the conflict), and its broken reference is reported anyway.
	for _, want := range []string{"second:ConflictingClusterConfig", "first:MissingPeerConfig", "second:MissingPeerConfig", "nobody:NoMatchingNode"} {
		if !slices.Contains(reasons, want) {
			t.Errorf("missing %s in %v", want, reasons)
		}
	}
	if slices.Contains(reasons, "second:NoMatchingNode") {
		t.Error("a conflicting config is also reported as matching no node")
	}
}

const generic = `apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.0.2.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {node.kubernetes.io/exclude-from-external-load-balancers: ""}}
status: {addresses: [{type: InternalIP, address: 192.0.2.2}]}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: c}
spec:
  bgpInstances: [{name: i, localASN: 65000, peers: [{name: r, peerAddress: 192.0.2.254, peerASN: 65001, peerConfigRef: {name: pc}}]}]
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: pc}
spec:
  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {adv: x}}}]
---
apiVersion: herald.io/v1alpha1
kind: BGPAdvertisement
metadata: {name: a, labels: {adv: x}}
spec:
  advertisements:
    - advertisementType: Service
      service: {addresses: [LoadBalancerIP, ExternalIP], aggregationLengthIPv4: 24}
      selector: {}
---
apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: p}
spec: {blocks: [{cidr: 198.51.100.0/24}]}
`

func svcYAML(name, etp string, ready ...bool) string {
	s := fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: ns}
spec:
  type: LoadBalancer
  externalTrafficPolicy: %s
  externalIPs: [203.0.113.7, 192.0.2.99]
`, name, etp)
	if len(ready) > 0 {
		s += fmt.Sprintf(`---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %s-1, namespace: ns, labels: {kubernetes.io/service-name: %s}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1], nodeName: n1, conditions: {ready: %v}}]
`, name, name, ready[0])
	}
	return s
}

func TestEndpointsAggregationExternalIPsExclusion(t *testing.T) {
	opts := plan.Options{ExternalIPAllowList: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
	tests := []struct {
		name string
		svc  string
		opts plan.Options
		n1   string
	}{
		{"no slices: advertised, aggregated, allowed externalIP only", svcYAML("s", "Cluster"), opts, "198.51.100.0/24,203.0.113.0/24"},
		{"ready endpoint", svcYAML("s", "Cluster", true), opts, "198.51.100.0/24,203.0.113.0/24"},
		{"no ready endpoint: withdrawn", svcYAML("s", "Cluster", false), opts, ""},
		{"no ready endpoint, opted out", svcYAML("s", "Cluster", false), plan.Options{AdvertiseWithoutEndpoints: true}, "198.51.100.0/24"},
		{"Local keeps host routes", svcYAML("s", "Local", true), opts, "198.51.100.0/32,203.0.113.7/32"},
		{"Local without a local endpoint", svcYAML("s", "Local"), opts, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compute(t, nil, generic+tt.svc, tt.opts)
			if got := prefixes(routes(t, p, "n1", "i", "r", "ipv4")); got != tt.n1 {
				t.Errorf("n1 advertises %q, want %q", got, tt.n1)
			}
			if got := prefixes(routes(t, p, "n2", "i", "r", "ipv4")); got != "" {
				t.Errorf("excluded n2 advertises %q", got)
			}
		})
	}
	p := compute(t, nil, generic+svcYAML("s", "Cluster"), opts)
	if !slices.ContainsFunc(p.Problems, func(pr plan.Problem) bool {
		return pr.Reason == plan.ReasonExternalIPNotAllowed && strings.Contains(pr.Message, "192.0.2.99")
	}) {
		t.Errorf("the disallowed externalIP is not reported: %+v", p.Problems)
	}
}

func TestDerivedRouterIDIsUnicast(t *testing.T) {
	text := `apiVersion: v1
kind: Node
metadata: {name: v6-only}
status: {addresses: [{type: InternalIP, address: "2001:db8::11"}]}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: c}
spec: {bgpInstances: [{name: i, localASN: 65000}]}
`
	p := compute(t, nil, text, plan.Options{})
	id := p.Nodes["v6-only"].Instances[0].RouterID
	if !netip.MustParsePrefix("100.64.0.0/10").Contains(id) {
		t.Fatalf("derived router ID %s is outside 100.64.0.0/10", id)
	}
	if !slices.ContainsFunc(p.Problems, func(pr plan.Problem) bool { return pr.Reason == plan.ReasonDerivedRouterID }) {
		t.Error("a derived router ID is not reported")
	}
}
