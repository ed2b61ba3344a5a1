package lab

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/heraldlb/herald/internal/manifest"
)

func TestDefaultIsValid(t *testing.T) {
	s := Default()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := len(s.hosts(Node)); got != 3 {
		t.Errorf("%d nodes, want seed 000's three", got)
	}
}

// TestValidateNamesHostAndField: every mistake names the host, the field and what is valid.
func TestValidateNamesHostAndField(t *testing.T) {
	node := func(name string) Host {
		return Host{Name: name, Kind: Node, Links: []Link{{Segment: "lan", Name: "eth0", Addrs: []string{"10.0.0.2/24"}}}}
	}
	router := Host{Name: "r", Kind: Router, Links: []Link{{Segment: "lan", Name: "eth0", Addrs: []string{"10.0.0.1/24"}}}}
	cases := []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"long name", func(s *Spec) { s.Name = "waytoolongname" }, `name "waytoolongname": want 1-8 lowercase letters`},
		{"upper case", func(s *Spec) { s.Name = "Lab" }, `name "Lab"`},
		{"no dir", func(s *Spec) { s.Dir = "" }, "dir: empty"},
		{"reserved host", func(s *Spec) { s.Hosts = append(s.Hosts, node("cp")) }, `host "cp": the name is taken`},
		{"duplicate host", func(s *Spec) { s.Hosts = append(s.Hosts, node("n1")) }, `host "n1": the name is taken`},
		{"bad kind", func(s *Spec) { s.Hosts[1].Kind = "switch" }, `host n1: kind "switch": want router, node or client`},
		{"no links", func(s *Spec) { s.Hosts[1].Links = nil }, "host n1: no links"},
		{"long ifname", func(s *Spec) { s.Hosts[1].Links[0].Name = "averyveryverylongname" }, `host n1: links[0].name "averyveryverylongname"`},
		{"mgmt ifname", func(s *Spec) { s.Hosts[1].Links[0].Name = "mgmt0" }, `links[0].name "mgmt0"`},
		{"mgmt segment", func(s *Spec) { s.Hosts[1].Links[0].Segment = "mgmt" }, `links[0].segment "mgmt": want a name other than mgmt`},
		{"bad address", func(s *Spec) { s.Hosts[1].Links[0].Addrs = []string{"10.0.0.300/24"} }, `links[0].addrs: "10.0.0.300/24" is not an address in CIDR notation`},
		{"bare address", func(s *Spec) { s.Hosts[1].Links[0].Addrs = []string{"10.0.0.3"} }, `"10.0.0.3" is not an address in CIDR notation`},
		{"bad gateway", func(s *Spec) { s.Hosts[1].Gateway = "gw" }, `host n1: gateway "gw" is not an address`},
		{"listen range on a node", func(s *Spec) { s.Hosts[1].ListenRange = "10.0.0.0/24" }, `host n1: listenRange "10.0.0.0/24": want a CIDR, on a router`},
		{"no router", func(s *Spec) { s.Hosts = s.Hosts[1:] }, "want at least one router and one node (have 0 and 1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := Spec{Name: "t", Dir: "/tmp/x", Hosts: []Host{router, node("n1")}}
			s.Hosts = append([]Host(nil), s.Hosts...)
			for i := range s.Hosts {
				s.Hosts[i].Links = append([]Link(nil), s.Hosts[i].Links...)
			}
			c.edit(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestSplitFRRConfig(t *testing.T) {
	bgpd, bfdd := SplitFRRConfig("router bgp 65001\n neighbor x bfd\n!\nbfd\n profile herald\n!\n")
	if bgpd != "frr defaults traditional\nrouter bgp 65001\n neighbor x bfd\n!\n" || bfdd != "bfd\n profile herald\n!\n" {
		t.Errorf("bgpd %q\nbfdd %q", bgpd, bfdd)
	}
	if bgpd, bfdd := SplitFRRConfig("router bgp 1\n"); bgpd != "frr defaults traditional\nrouter bgp 1\n" || bfdd != "" {
		t.Errorf("without BFD: %q %q", bgpd, bfdd)
	}
}

// TestRouterConfigForItsAddresses: a router gets the peer groups of the peers that are its
// addresses, and a router no peer names is an error that says so.
func TestRouterConfigForItsAddresses(t *testing.T) {
	set, err := manifest.LoadFiles("../../examples/lab")
	if err != nil {
		t.Fatal(err)
	}
	built := manifest.Build(manifest.Herald(set))
	conf, err := RouterConfig(&built.Cluster, Default().Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"router bgp 65001", "neighbor 10.90.3.101 peer-group", "neighbor 10.90.3.103 peer-group", "maximum-paths 3", "\nbfd\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("router config lacks %q:\n%s", want, conf)
		}
	}
	other := Host{Name: "r2", Kind: Router, Links: []Link{{Segment: "lan", Name: "eth0", Addrs: []string{"10.90.254.2/16"}}}}
	if _, err := RouterConfig(&built.Cluster, other); err == nil || !strings.Contains(err.Error(), "router r2: no BGP peer of the manifests is one of its addresses [10.90.254.2]") {
		t.Errorf("a router no peer names: %v", err)
	}
}

func TestNodeAddrTowards(t *testing.T) {
	l := &Lab{state: State{Spec: Spec{Hosts: []Host{{Name: "n1", Kind: Node, Links: []Link{
		{Segment: "a", Name: "eth0", Addrs: []string{"10.121.0.11/24"}},
		{Segment: "b", Name: "eth1", Addrs: []string{"10.122.0.11/24"}}}}}}}}
	for peer, want := range map[string]string{"10.121.0.1": "10.121.0.11", "10.122.0.1": "10.122.0.11", "192.0.2.1": "10.121.0.11"} {
		if got := l.nodeAddrTowards("n1", netip.MustParseAddr(peer)); got.String() != want {
			t.Errorf("towards %s: %s, want %s", peer, got, want)
		}
	}
}

func TestReportPrint(t *testing.T) {
	r := Report{Checks: []Check{
		{Title: "n1: herald bgp peers", Command: "herald bgp peers", Output: "table", Verdict: OK, Detail: "1 of 1 sessions established"},
		{Title: "client: every Service address", Command: "ip netns exec x curl", Output: "10.0.0.1:80 answered", Verdict: OK, Detail: "1 of 1"},
		{Title: "router: summary", Verdict: Fail, Detail: "0 of 1 neighbours"},
	}}
	var b bytes.Buffer
	r.Print(&b, false)
	out := b.String()
	for _, want := range []string{"== n1: herald bgp peers\n$ herald bgp peers\ntable\nok: 1 of 1 sessions established", "FAIL: 0 of 1 neighbours", "lab: 3 checks, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10.0.0.1:80 answered") {
		t.Errorf("a passing curl check prints every answer without -v:\n%s", out)
	}
	if len(r.Failed()) != 1 {
		t.Errorf("Failed() = %v", r.Failed())
	}
}
