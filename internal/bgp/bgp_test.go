package bgp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
)

func TestDesiredFailsClosedOnMissingSecret(t *testing.T) {
	n := &plan.Node{Name: "n", Instances: []plan.Instance{{Name: "i", LocalASN: 65000, Peers: []plan.Peer{
		{Name: "secure", Address: netip.MustParseAddr("192.0.2.1"), HasConfig: true, Config: model.BGPPeerConfig{Name: "pc", AuthSecretRef: "auth", PeerPort: 179}},
		{Name: "plain", Address: netip.MustParseAddr("192.0.2.2"), HasConfig: true, Config: model.BGPPeerConfig{Name: "pc2", PeerPort: 1179}},
		{Name: "noconfig", Address: netip.MustParseAddr("192.0.2.3")},
	}}}}
	got, problems := Desired(n, func(string) (string, bool) { return "", false })
	if len(got[0].Peers) != 2 || got[0].Peers[0].Name != "plain" || got[0].Peers[0].Port != 1179 {
		t.Fatalf("peers %+v", got[0].Peers)
	}
	if len(problems) != 1 {
		t.Fatalf("problems %v", problems)
	}
	if nc := got[0].Peers[1]; nc.Port != 179 || nc.Timers.Hold != 90*time.Second || len(nc.Routes) != 0 {
		t.Fatalf("peer without config %+v", nc)
	}
	got, problems = Desired(n, func(string) (string, bool) { return "pw", true })
	if len(got[0].Peers) != 3 || got[0].Peers[0].Password != "pw" || len(problems) != 0 {
		t.Fatalf("with the secret: %+v %v", got[0].Peers, problems)
	}
}

func TestClassesAndDiff(t *testing.T) {
	lp := uint32(200)
	in := &Instance{Peers: []Peer{
		{Name: "a", Routes: []Route{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}, {Prefix: netip.MustParsePrefix("10.0.0.2/32")}, {Prefix: netip.MustParsePrefix("2001:db8::1/128")}}},
		{Name: "b", Routes: []Route{{Prefix: netip.MustParsePrefix("10.0.0.1/32"), LocalPref: &lp}}},
	}}
	cs := Classes(in)
	if len(cs) != 3 {
		t.Fatalf("%d classes, want 3 (a/v4, a/v6, b/v4 lp=200)", len(cs))
	}
	old := cs[ClassKey{Peer: "a", Family: model.IPv4}]
	in.Peers[0].Routes = in.Peers[0].Routes[1:]
	cs2 := Classes(in)
	if !SameClassKeys(cs, cs2) {
		t.Fatal("removing a prefix changed the class keys")
	}
	add, del := PrefixDiff(old, cs2[ClassKey{Peer: "a", Family: model.IPv4}])
	if len(add) != 0 || len(del) != 1 || del[0].String() != "10.0.0.1/32" {
		t.Fatalf("diff %v %v", add, del)
	}
	if n := len(AllPrefixes(in)); n != 3 {
		t.Fatalf("rib %d", n)
	}
}

func TestDrain(t *testing.T) {
	d := []Instance{{Name: "i", ASN: 65000, Peers: []Peer{
		{Name: "ibgp", ASN: 65000, Routes: []Route{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}}},
		{Name: "ebgp", ASN: 65001, GracefulRestart: model.GracefulRestart{Enabled: true}, Routes: []Route{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}}},
	}}}
	got := Drain(d, WithoutGracefulRestart)
	r := got[0].Peers[0].Routes[0]
	if len(r.Communities.Standard) != 1 || r.Communities.Standard[0] != model.GracefulShutdown || r.LocalPref == nil || *r.LocalPref != 0 {
		t.Fatalf("drained iBGP route %+v", r)
	}
	if len(got[0].Peers[1].Routes[0].Communities.Standard) != 0 {
		t.Fatal("a graceful-restart peer was drained")
	}
	if Draining(d) || !Draining(got) {
		t.Fatal("Drain modified its input, or Draining misreads")
	}
	all := Drain(d, AllPeers)
	if r := all[0].Peers[1].Routes[0]; len(r.Communities.Standard) != 1 || r.LocalPref != nil {
		t.Fatalf("drained eBGP route %+v (no LOCAL_PREF to eBGP)", r)
	}
}

func TestWithoutTakesOnlyTheGoneHostRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	d := []Instance{{Name: "i", Peers: []Peer{
		{Name: "a", Routes: []Route{{Prefix: pfx("10.0.0.1/32")}, {Prefix: pfx("10.0.0.2/32")}, {Prefix: pfx("10.0.0.0/24")}}},
		{Name: "b", Routes: []Route{{Prefix: pfx("2001:db8::1/128")}, {Prefix: pfx("10.0.0.1/32")}}},
	}}}
	gone := map[netip.Addr]bool{
		netip.MustParseAddr("10.0.0.1"):    true,
		netip.MustParseAddr("2001:db8::1"): true,
		netip.MustParseAddr("10.0.0.0"):    true, // the aggregate's address: the /24 stays
	}
	got, taken := Without(d, gone)
	if taken != 3 {
		t.Fatalf("took %d routes, want 3", taken)
	}
	var left []string
	for _, p := range got[0].Peers {
		for _, r := range p.Routes {
			left = append(left, p.Name+" "+r.Prefix.String())
		}
	}
	if want := "[a 10.0.0.2/32 a 10.0.0.0/24]"; fmt.Sprint(left) != want {
		t.Fatalf("left %v, want %s", left, want)
	}
	if len(d[0].Peers[0].Routes) != 3 || len(d[0].Peers[1].Routes) != 2 {
		t.Fatal("Without modified its input")
	}
}
