package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/lab"
	"github.com/heraldlb/herald/internal/manifest"
	herald "github.com/heraldlb/herald/internal/source/kube"
)

// The seeds' manifests, verbatim (test/fixtures is checked against ../shared/fixtures).
var seeds = filepath.Join("..", "fixtures", "seeds")

func seed(dir string, files ...string) []string {
	var out []string
	for _, f := range files {
		out = append(out, filepath.Join(seeds, dir, f))
	}
	return out
}

// homeNet is seed 000's network (lab.Default's hosts).
func homeNet() []lab.Host { return lab.Default().Hosts }

// getService reads a Service from the lab's API server.
func getService(t *testing.T, c client.Client, ns, name string) corev1.Service {
	t.Helper()
	var s corev1.Service
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func ingress(s corev1.Service) string {
	var ips []string
	for _, i := range s.Status.LoadBalancer.Ingress {
		ips = append(ips, i.IP)
	}
	return strings.Join(ips, ",")
}

func labClient(t *testing.T, l *lab.Lab) client.Client {
	t.Helper()
	c, err := l.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSeed000HomeLab: seed 000's Cilium manifests as they are. Every Service gets exactly the
// address it asks for, the pool has 243 left, the router (configured by `herald router-config`)
// installs each /32 with the three nodes as ECMP next hops, and the client reaches every
// address through every node.
func TestSeed000HomeLab(t *testing.T) {
	l := up(t, newSpec(t, homeNet(), seed("000-home-ops", "networking.yaml", "nodes.yaml", "services.yaml")...))
	healthy(t, l, 2*time.Minute)
	c := labClient(t, l)
	set, err := manifest.LoadFiles(filepath.Join(seeds, "000-home-ops", "services.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range set.Objects {
		svc := o.Obj.(*corev1.Service)
		want := svc.Annotations["io.cilium/lb-ipam-ips"]
		if got := ingress(getService(t, c, svc.Namespace, svc.Name)); got != want {
			t.Errorf("Service %s/%s has %q, asked for %q", svc.Namespace, svc.Name, got, want)
		}
	}
	eventually(t, "the pool to report 243 available", 20*time.Second, func() string {
		var p v1alpha1.LoadBalancerIPPool
		if err := c.Get(context.Background(), client.ObjectKey{Name: "lb-pool"}, &p); err != nil {
			return err.Error()
		}
		if cond := meta.FindStatusCondition(p.Status.Conditions, herald.ConditionIPsAvailable); cond == nil || cond.Message != "243" {
			return fmt.Sprintf("%+v", p.Status.Conditions)
		}
		return ""
	})
	routes, err := l.Router("router").KernelRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for i := 201; i <= 211; i++ {
		dst := fmt.Sprintf("10.99.8.%d", i)
		nh := routes[dst].NextHops()
		slices.Sort(nh)
		if strings.Join(nh, ",") != "10.90.3.101,10.90.3.102,10.90.3.103" {
			t.Errorf("%s via %v in the router's kernel, want the three nodes", dst, nh)
		}
	}
	if len(routes) != 11 {
		t.Errorf("%d BGP routes in the router's kernel, want 11", len(routes))
	}
}

// TestSeed001IBGPLocalThenCluster: the legacy CiliumBGPPeeringPolicy (iBGP, one ASN on both
// sides) on OPNsense, which takes the workers as dynamic neighbours (seed 001's question "isn't
// there a better way than adding every node?"). With externalTrafficPolicy Local only worker-2,
// which has the pod, announces Traefik; switched to Cluster, all three do. The control-plane
// node never peers; the unlabelled Service gets an address but no route.
func TestSeed001IBGPLocalThenCluster(t *testing.T) {
	hosts := []lab.Host{
		{Name: "opnsense", Kind: lab.Router, ListenRange: "10.86.5.0/24", Links: []lab.Link{
			{Segment: "lan", Name: "eth0", Addrs: []string{"10.86.5.254/24"}},
			{Segment: "home", Name: "eth1", Addrs: []string{"192.168.1.1/24"}}}},
		{Name: "cp-1", Kind: lab.Node, Gateway: "10.86.5.254", Links: []lab.Link{{Segment: "lan", Name: "eth0", Addrs: []string{"10.86.5.10/24"}}}},
	}
	for i := 1; i <= 3; i++ {
		hosts = append(hosts, lab.Host{Name: fmt.Sprintf("worker-%d", i), Kind: lab.Node, Gateway: "10.86.5.254",
			Links: []lab.Link{{Segment: "lan", Name: "eth0", Addrs: []string{fmt.Sprintf("10.86.5.%d/24", i)}}}})
	}
	hosts = append(hosts, lab.Host{Name: "laptop", Kind: lab.Client, Gateway: "192.168.1.1",
		Links: []lab.Link{{Segment: "home", Name: "eth0", Addrs: []string{"192.168.1.10/24"}}}})
	l := up(t, newSpec(t, hosts, seed("001-opnsense-v1", "cilium.yaml", "workload.yaml")...))
	healthy(t, l, 2*time.Minute)
	c := labClient(t, l)
	traefik := ingress(getService(t, c, "traefik-ingress", "traefik-ingress"))
	internal := ingress(getService(t, c, "default", "internal-only"))
	if traefik == "" || internal == "" {
		t.Fatalf("addresses: traefik %q, internal-only %q", traefik, internal)
	}
	router := l.Router("opnsense")
	if nh := router.NextHopsOf(traefik); nh != "10.86.5.2" {
		t.Errorf("Local Service %s via %q, want worker-2 (10.86.5.2) only", traefik, nh)
	}
	s, err := router.Summary()
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for a := range s.Peers {
		peers = append(peers, a)
	}
	slices.Sort(peers)
	if strings.Join(peers, ",") != "10.86.5.1,10.86.5.2,10.86.5.3" {
		t.Errorf("the router's neighbours are %v: the three workers, never the control plane", peers)
	}
	if nh := router.NextHopsOf(internal); nh != "" {
		t.Errorf("internal-only (no homelab/public-service label) is routed via %s", nh)
	}
	if got, err := l.Fetch(context.Background(), "laptop", traefik+":443"); err != nil || !strings.HasPrefix(got, "worker-2 ") {
		t.Errorf("the laptop's request to Traefik: %q, %v; want worker-2's answer", got, err)
	}

	// The seed's fix: externalTrafficPolicy Cluster, and every worker announces.
	svc := getService(t, c, "traefik-ingress", "traefik-ingress")
	patch := client.MergeFrom(svc.DeepCopy())
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	if err := c.Patch(context.Background(), &svc, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, "all three workers to announce Traefik", 30*time.Second, func() string {
		if nh := router.NextHopsOf(traefik); nh != "10.86.5.1,10.86.5.2,10.86.5.3" {
			return "next hops " + nh
		}
		return ""
	})
	healthy(t, l, time.Minute)
}

// TestSeed002RouterConfiguredLast: seed 002's guide in order. The nodes run before the UDM
// knows them: every `herald bgp peers` says active. Then the router gets what `herald
// router-config --for frr` prints (the guide's k8s-bgp.conf), the sessions establish, `show ip
// route bgp` shows the /32s, and the hairpin case works: a process on a node reaches an
// address that node announces.
func TestSeed002RouterConfiguredLast(t *testing.T) {
	// Seed 002 uses seed 000's manifests. The guide's users wait out Cilium's 120 s connect
	// retry after configuring the router; a retry of 5 s keeps CI from waiting as long.
	dir := t.TempDir()
	for _, f := range []string{"networking.yaml", "nodes.yaml", "services.yaml"} {
		b, err := os.ReadFile(filepath.Join(seeds, "000-home-ops", f))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(string(b), "    holdTimeSeconds: 90\n", "    holdTimeSeconds: 90\n    connectRetryTimeSeconds: 5\n", 1)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := newSpec(t, homeNet(), dir)
	spec.RouterUnconfigured = true
	l := up(t, spec)
	for _, node := range []string{"stanton-01", "stanton-02", "stanton-03"} {
		eventually(t, node+"'s session to be active (the router does not know it yet)", 30*time.Second, func() string {
			out, err := runHerald("bgp", "peers", "--state", l.NodeState(node))
			if err != nil || !regexpMatch(`10\.90\.254\.1:179 +active `, out) {
				return fmt.Sprintf("%v\n%s", err, out)
			}
			return ""
		})
	}
	if err := l.ConfigureRouter("router"); err != nil {
		t.Fatal(err)
	}
	healthy(t, l, time.Minute)
	out, err := l.Router("router").Vtysh("show ip route bgp")
	if err != nil || !regexpMatch(`B>\* 10\.99\.8\.201/32 \[20/0\] via 10\.90\.3\.10[123]`, out) {
		t.Errorf("show ip route bgp: %v\n%s", err, out)
	}
	// The hairpin: from inside stanton-01, the envoy address is answered by stanton-01 itself.
	if got, err := l.Fetch(context.Background(), "stanton-01", "10.99.8.202:443"); err != nil || !strings.HasPrefix(got, "stanton-01 10.99.8.202:443") {
		t.Errorf("a process on stanton-01 reaching 10.99.8.202:443: %q, %v", got, err)
	}
}

// TestSeed003PublicBGPPrivateL2: seed 003's two instances (AS 65001 and 65002) to the UDM's
// two addresses, each public /32 only to its own peer; the private pools answered by ARP on
// enp86s0.122 of the nodes labelled private, never over BGP.
//
// This kernel has no 802.1Q support (no VLAN devices can be made), so each node's
// enp86s0.122 is a second veth with that name on a segment of its own: Herald matches
// interfaces by name and sees no difference.
func TestSeed003PublicBGPPrivateL2(t *testing.T) {
	t.Log("no VLAN devices in this kernel: enp86s0.122 is a second veth of that name, on its own segment")
	hosts := []lab.Host{{Name: "udm", Kind: lab.Router, Links: []lab.Link{
		{Segment: "vlan121", Name: "br121", Addrs: []string{"10.121.0.1/24"}},
		{Segment: "vlan122", Name: "br122", Addrs: []string{"10.122.0.1/24"}},
		{Segment: "home", Name: "eth2", Addrs: []string{"192.168.3.1/24"}}}}}
	nodes := ""
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("n%d", i)
		hosts = append(hosts, lab.Host{Name: name, Kind: lab.Node, Gateway: "10.121.0.1", Links: []lab.Link{
			{Segment: "vlan121", Name: "enp86s0", Addrs: []string{fmt.Sprintf("10.121.0.1%d/24", i)}},
			{Segment: "vlan122", Name: "enp86s0.122", Addrs: []string{fmt.Sprintf("10.122.0.1%d/24", i)}}}})
		private := ", private: \"\""
		if i == 3 {
			private = ""
		}
		nodes += fmt.Sprintf("---\napiVersion: v1\nkind: Node\nmetadata: {name: %s, labels: {public: \"true\"%s}}\nstatus: {addresses: [{type: InternalIP, address: 10.121.0.1%d}, {type: InternalIP, address: 10.122.0.1%d}]}\n", name, private, i, i)
	}
	hosts = append(hosts, lab.Host{Name: "client", Kind: lab.Client, Gateway: "192.168.3.1",
		Links: []lab.Link{{Segment: "home", Name: "eth0", Addrs: []string{"192.168.3.10/24"}}}})
	extra := filepath.Join(t.TempDir(), "nodes.yaml")
	if err := os.WriteFile(extra, []byte(nodes), 0o644); err != nil {
		t.Fatal(err)
	}
	l := up(t, newSpec(t, hosts, append(seed("003-hybrid-bgp-l2", "cilium.yaml", "workload.yaml"), extra)...))
	r := healthy(t, l, 2*time.Minute)
	router := l.Router("udm")
	eventually(t, "each public address from its own instance only", 30*time.Second, func() string {
		s, err := router.ReceivedFrom("10.121.0.11", "10.122.0.11")
		if err != nil {
			return err.Error()
		}
		if s != "10.121.0.11=203.0.113.93/32 10.122.0.11=203.0.113.94/32" {
			return s
		}
		return ""
	})
	if nh := router.NextHopsOf("203.0.113.93"); nh != "10.121.0.11,10.121.0.12,10.121.0.13" {
		t.Errorf("203.0.113.93 via %q, want the three nodes on VLAN 121", nh)
	}
	if nh := router.NextHopsOf("203.0.113.94"); nh != "10.122.0.11,10.122.0.12,10.122.0.13" {
		t.Errorf("203.0.113.94 via %q, want the three nodes on VLAN 122", nh)
	}
	routes, err := router.KernelRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for dst := range routes {
		if strings.HasPrefix(dst, "10.122.0.1") && dst != "10.122.0.1" {
			t.Errorf("private address %s is routed over BGP; it belongs to L2", dst)
		}
	}
	// The L2 checks of the report asked the UDM on VLAN 122: one MAC each, a private node's.
	l2 := 0
	for _, ch := range r.Checks {
		if strings.HasPrefix(ch.Title, "L2: ") {
			l2++
			if !regexpMatch(`answered by n[12] only \(\S+ on enp86s0\.122\)`, ch.Detail) {
				t.Errorf("%s: %s", ch.Title, ch.Detail)
			}
		}
	}
	if l2 != 2 {
		t.Errorf("%d L2 addresses checked, want 2 (10.122.0.171 and 10.122.0.129)", l2)
	}
	for _, want := range []string{"10.122.0.171", "10.122.0.129"} {
		if !slices.ContainsFunc(r.Checks, func(c lab.Check) bool { return strings.Contains(c.Title, want) }) {
			t.Errorf("no L2 check for %s", want)
		}
	}
}

// TestSeed004Fabric: seed 004's leaf-spine fabric: node-worker-01 and -03 peer with two spines
// (eBGP) and a route reflector (iBGP). The routers see the premium Service's community
// everywhere and its LOCAL_PREF 200 only over iBGP, the pod CIDRs with their communities,
// web-http and web-https sharing 10.100.0.50 on their two ports, and the third Service that
// asks for the same address and port reported, with nothing else moved.
func TestSeed004Fabric(t *testing.T) {
	fabric := func(addr string) lab.Link {
		return lab.Link{Segment: "fabric", Name: "eth0", Addrs: []string{addr + "/8"}}
	}
	hosts := []lab.Host{
		{Name: "spine-1", Kind: lab.Router, Links: []lab.Link{fabric("10.255.0.1"),
			{Segment: "dc", Name: "eth1", Addrs: []string{"192.168.100.1/24"}}}},
		{Name: "spine-2", Kind: lab.Router, Links: []lab.Link{fabric("10.255.0.2")}},
		{Name: "rr", Kind: lab.Router, Links: []lab.Link{fabric("10.255.1.1")}},
		{Name: "node-worker-01", Kind: lab.Node, Gateway: "10.255.0.1", Links: []lab.Link{fabric("10.0.1.31")}},
		{Name: "node-worker-03", Kind: lab.Node, Gateway: "10.255.0.1", Links: []lab.Link{fabric("10.0.1.33")}},
		{Name: "ops", Kind: lab.Client, Gateway: "192.168.100.1", Links: []lab.Link{{Segment: "dc", Name: "eth0", Addrs: []string{"192.168.100.10/24"}}}},
	}
	l := up(t, newSpec(t, hosts, seed("004-enterprise", "v2-datacenter.yaml", "v2-workload.yaml")...))
	healthy(t, l, 2*time.Minute)
	c := labClient(t, l)
	for _, name := range []string{"web-http", "web-https"} {
		if got := ingress(getService(t, c, "web", name)); got != "10.100.0.50" {
			t.Errorf("%s has %q, want the shared 10.100.0.50", name, got)
		}
	}
	for port, want := range map[string]string{"80": "10.100.0.50:80", "443": "10.100.0.50:443"} {
		if got, err := l.Fetch(context.Background(), "ops", "10.100.0.50:"+port); err != nil || !strings.Contains(got, want) {
			t.Errorf("10.100.0.50:%s from ops: %q, %v", port, got, err)
		}
	}
	conflict := getService(t, c, "web", "web-dns-conflict")
	cond := meta.FindStatusCondition(conflict.Status.Conditions, herald.ConditionIPAMSatisfied)
	if ingress(conflict) != "" || cond == nil || cond.Status != "False" || cond.Reason != "IncompatibleSharing" || !strings.Contains(cond.Message, "443") {
		t.Errorf("web-dns-conflict: address %q, condition %+v; want none, and a condition naming the port", ingress(conflict), cond)
	}
	premium := ingress(getService(t, c, "api", "premium-api"))
	spine, rr := l.Router("spine-1"), l.Router("rr")
	eventually(t, "the premium address at both routers", 30*time.Second, func() string {
		for name, f := range map[string]*lab.FRR{"spine-1": spine, "rr": rr} {
			d, err := f.Route(premium + "/32")
			if err != nil || len(d.Paths) != 2 {
				return fmt.Sprintf("%s: %d paths, %v", name, len(d.Paths), err)
			}
		}
		return ""
	})
	for name, f := range map[string]*lab.FRR{"spine-1": spine, "rr": rr} {
		d, _ := f.Route(premium + "/32")
		for _, p := range d.Paths {
			if p.Community == nil || !strings.Contains(p.Community.String, "65001:200") {
				t.Errorf("%s: the premium path from %s lacks 65001:200: %+v", name, p.Peer.PeerID, p.Community)
			}
			switch {
			case name == "spine-1" && p.LocalPref != nil && *p.LocalPref != 100:
				t.Errorf("spine-1 (eBGP) got LOCAL_PREF %d from %s", *p.LocalPref, p.Peer.PeerID)
			case name == "rr" && (p.LocalPref == nil || *p.LocalPref != 200):
				t.Errorf("the route reflector got LOCAL_PREF %v from %s, want 200", p.LocalPref, p.Peer.PeerID)
			}
		}
	}
	d, err := spine.Route("10.244.1.0/24")
	if err != nil || len(d.Paths) != 1 || d.Paths[0].Community == nil || !strings.Contains(d.Paths[0].Community.String, "65001:100") ||
		!strings.Contains(d.Paths[0].Community.String, "no-export") || d.Paths[0].LargeComm == nil || d.Paths[0].LargeComm.String != "65001:200:300" {
		t.Errorf("node-worker-01's pod CIDR at spine-1: %+v, %v", d, err)
	}
}
