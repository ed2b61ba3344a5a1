package l2

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heraldlb/herald/test/netlab"
)

const seed003 = "../fixtures/seeds/003-hybrid-bgp-l2"

// seed003Nodes: two nodes labelled private (the seed's L2 node selector) and one not; the
// private ingress controller (externalTrafficPolicy Local) has its only endpoint on n2.
const seed003Nodes = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {public: "true", private: ""}}
status: {addresses: [{type: InternalIP, address: 10.122.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {public: "true", private: ""}}
status: {addresses: [{type: InternalIP, address: 10.122.0.12}]}
---
apiVersion: v1
kind: Node
metadata: {name: n3, labels: {public: "true"}}
status: {addresses: [{type: InternalIP, address: 10.122.0.13}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: priv, namespace: ingress-nginx-private, labels: {kubernetes.io/service-name: ingress-nginx-private-controller}}
addressType: IPv4
endpoints: [{addresses: [10.0.3.1], nodeName: n2, conditions: {ready: true}}]
`

// TestSeed003PrivateServicesOnTheVLAN: the seed's private Services are answered via ARP only
// on the enp86s0.122 interfaces of nodes labelled private, by one node each; the Local one
// only by the node with its endpoint; nothing answers for them on the other LAN.
func TestSeed003PrivateServicesOnTheVLAN(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("sw")
	l.Bridge("sw", "v121")
	l.Bridge("sw", "v122")
	l.AddNS("c121")
	l.Attach("c121", "eth0", "sw", "v121", "10.121.0.50/24")
	l.AddNS("c122")
	l.Attach("c122", "eth0", "sw", "v122", "10.122.0.50/24")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nodes.yaml"), []byte(seed003Nodes), 0o644); err != nil {
		t.Fatal(err)
	}
	hs := map[string]*netlab.Herald{}
	for i, n := range []string{"n1", "n2", "n3"} {
		l.AddNS(n)
		l.Exec(n, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
		l.Attach(n, "enp86s0", "sw", "v121", "10.121.0.1"+string(rune('1'+i))+"/24")
		// No VLAN devices in this kernel: a veth with the VLAN interface's name is the same
		// to Herald, which matches interfaces by name.
		l.Attach(n, "enp86s0.122", "sw", "v122", "10.122.0.1"+string(rune('1'+i))+"/24")
		for _, vip := range []string{"10.122.0.171/32", "10.122.0.129/32"} {
			l.Exec(n, "ip", "addr", "add", vip, "dev", "lo")
		}
		hs[n] = l.StartHerald(n, n, "--node", n, "-f", seed003, "-f", dir)
	}
	want := map[string][]string{"10.122.0.171": {"n1", "n2"}, "10.122.0.129": {"n2"}}
	for vip, allowed := range want {
		var owner string
		l.WaitFor("every node to name the same owner of "+vip, 20*time.Second, func() string {
			owner = ""
			for _, n := range []string{"n1", "n2", "n3"} {
				s, err := hs[n].Snapshot()
				if err != nil {
					return err.Error()
				}
				o := ownerIn(s, vip)
				if owner != "" && o != owner {
					return n + " says " + o + ", another " + owner
				}
				owner = o
			}
			if !slices.Contains(allowed, owner) {
				return "owner " + owner + "\n" + hs["n1"].Problems()
			}
			return ""
		})
		mac := l.MAC(owner, "enp86s0.122")
		l.WaitFor(vip+" answered on the VLAN by "+owner, 10*time.Second, func() string {
			if got := l.Arping("c122", "eth0", vip, 2); !slices.Equal(got, []string{mac}) {
				return "MACs " + join(got) + ", want " + mac
			}
			return ""
		})
		if got := l.WhoHas("c121", "eth0", vip, 500*time.Millisecond); len(got) != 0 {
			t.Errorf("%s is answered on the public LAN by %v; the policy names enp86s0.122 only", vip, got)
		}
	}
	s, err := hs["n3"].Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.L2.Announcements {
		if slices.Contains(a.Candidates, "n3") {
			t.Errorf("n3 (not labelled private) is a candidate for %s", a.IP)
		}
		if a.IP == "10.122.0.129" && !slices.Equal(a.Candidates, []string{"n2"}) {
			t.Errorf("candidates for the Local ingress: %v, want [n2] (the only node with its endpoint)", a.Candidates)
		}
	}
}

func join(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
