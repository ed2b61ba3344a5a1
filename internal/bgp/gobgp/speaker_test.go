package gobgp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/testutil"
)

// receiver is a plain GoBGP router on loopback that accepts whatever the speaker sends, so
// the tests can read exactly what went over the wire.
type receiver struct {
	srv  *server.BgpServer
	addr netip.Addr
	port uint16
}

func freePort(t *testing.T, host string) uint16 {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func newReceiver(t *testing.T, addr string, asn uint32, speakers map[string]uint32) *receiver {
	t.Helper()
	port := freePort(t, addr)
	s := server.NewBgpServer(server.LoggerOption(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), &slog.LevelVar{}))
	go s.Serve()
	t.Cleanup(s.Stop)
	ctx := context.Background()
	rid := addr
	if netip.MustParseAddr(addr).Is6() {
		rid = "192.0.2.254" // router IDs are written as IPv4
	}
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: asn, RouterId: rid, ListenPort: int32(port), ListenAddresses: []string{addr}}}); err != nil {
		t.Fatal(err)
	}
	for a, as := range speakers {
		if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf:      &api.PeerConf{NeighborAddress: a, PeerAsn: as},
			Transport: &api.Transport{PassiveMode: true, LocalAddress: addr},
			Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	return &receiver{srv: s, addr: netip.MustParseAddr(addr), port: port}
}

// received returns prefix -> rendered attributes of what the receiver got.
func (r *receiver) received(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := r.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: gbgp.RF_IPv4_UC}, func(p gbgp.NLRI, paths []*apiutil.Path) {
		for _, path := range paths {
			var attrs []string
			for _, a := range path.Attrs {
				switch a.(type) {
				case *gbgp.PathAttributeCommunities, *gbgp.PathAttributeLargeCommunities, *gbgp.PathAttributeLocalPref:
					attrs = append(attrs, a.String())
				}
			}
			slices.Sort(attrs)
			out[p.String()] = strings.Join(attrs, " ")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor waits up to 20 s for cond (which says what is still wrong) to hold.
func waitFor(t *testing.T, what string, cond func() string) {
	t.Helper()
	testutil.Eventually(t, what, 20*time.Second, cond)
}

func lp(v uint32) *uint32 { return &v }

func route(p string, lpref *uint32, comms ...string) bgp.Route {
	r := bgp.Route{Prefix: netip.MustParsePrefix(p), LocalPref: lpref}
	for _, c := range comms {
		if strings.Count(c, ":") == 2 {
			l, _ := model.ParseLargeCommunity(c)
			r.Communities.Large = append(r.Communities.Large, l)
		} else {
			v, _ := model.ParseCommunity(c)
			r.Communities.Standard = append(r.Communities.Standard, v)
		}
	}
	return r
}

func peer(name string, r *receiver, asn uint32, routes ...bgp.Route) bgp.Peer {
	return bgp.Peer{Name: name, Address: r.addr, Port: r.port, ASN: asn, LocalAddress: netip.MustParseAddr("127.0.0.1"),
		Timers:   model.Timers{ConnectRetry: time.Second, Hold: 9 * time.Second, Keepalive: 3 * time.Second},
		Families: []model.AFISAFI{{AFI: "ipv4", SAFI: "unicast"}}, Routes: routes}
}

// TestPerPeerRoutesAndAttributes: two peers of one instance get different prefixes and
// attributes; LOCAL_PREF only towards the iBGP peer; later changes touch only what changed.
func TestPerPeerRoutesAndAttributes(t *testing.T) {
	ext := newReceiver(t, "127.0.0.2", 65000, map[string]uint32{"127.0.0.1": 65010})
	ibgp := newReceiver(t, "127.0.0.3", 65010, map[string]uint32{"127.0.0.1": 65010})
	sp := New(DefaultConfig(), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { _ = sp.Stop(context.Background(), false) })
	ctx := context.Background()
	desired := func(extRoutes, ibgpRoutes []bgp.Route) []bgp.Instance {
		return []bgp.Instance{{Name: "i", ASN: 65010, RouterID: netip.MustParseAddr("127.0.0.1"), Peers: []bgp.Peer{
			peer("ext", ext, 65000, extRoutes...), peer("rr", ibgp, 65010, ibgpRoutes...),
		}}}
	}
	check := func(r *receiver, want map[string]string) func() string {
		return func() string {
			got := r.received(t)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("got %v, want %v", got, want)
			}
			return ""
		}
	}
	err := sp.Set(ctx, desired(
		[]bgp.Route{route("10.0.0.1/32", nil, "65001:200"), route("10.244.1.0/24", nil, "65001:100", "65535:65281", "65001:200:300")},
		[]bgp.Route{route("10.0.0.1/32", lp(200), "65001:200"), route("10.244.1.0/24", lp(150), "65001:100"), route("10.0.0.9/32", nil)},
	))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the eBGP peer's routes", check(ext, map[string]string{
		"10.0.0.1/32":   "{Communities: 65001:200}",
		"10.244.1.0/24": "{Communities: 65001:100, no-export} {LargeCommunity: [ 65001:200:300]}",
	}))
	waitFor(t, "the iBGP peer's routes", check(ibgp, map[string]string{
		"10.0.0.1/32":   "{Communities: 65001:200} {LocalPref: 200}",
		"10.244.1.0/24": "{Communities: 65001:100} {LocalPref: 150}",
		"10.0.0.9/32":   "{LocalPref: 100}",
	}))

	// One prefix more for the eBGP peer, one less for the iBGP peer, same classes.
	err = sp.Set(ctx, desired(
		[]bgp.Route{route("10.0.0.1/32", nil, "65001:200"), route("10.244.1.0/24", nil, "65001:100", "65535:65281", "65001:200:300"), route("10.0.0.2/32", nil, "65001:200")},
		[]bgp.Route{route("10.0.0.1/32", lp(200), "65001:200"), route("10.244.1.0/24", lp(150), "65001:100")},
	))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the added prefix at the eBGP peer", check(ext, map[string]string{
		"10.0.0.1/32":   "{Communities: 65001:200}",
		"10.0.0.2/32":   "{Communities: 65001:200}",
		"10.244.1.0/24": "{Communities: 65001:100, no-export} {LargeCommunity: [ 65001:200:300]}",
	}))
	waitFor(t, "the withdrawal at the iBGP peer", check(ibgp, map[string]string{
		"10.0.0.1/32":   "{Communities: 65001:200} {LocalPref: 200}",
		"10.244.1.0/24": "{Communities: 65001:100} {LocalPref: 150}",
	}))
}

// uptime returns when the receiver's session with the speaker came up.
func (r *receiver) uptime(t *testing.T) time.Time {
	t.Helper()
	var up time.Time
	err := r.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		if p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED && p.GetTimers().GetState().GetUptime() != nil {
			up = p.GetTimers().GetState().GetUptime().AsTime()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// ages returns when the receiver got each prefix.
func (r *receiver) ages(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	_ = r.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: gbgp.RF_IPv4_UC}, func(p gbgp.NLRI, paths []*apiutil.Path) {
		out[p.String()] = paths[0].Age
	})
	return out
}

// TestChangesTouchOnlyWhatChanged: a timer change resets only that peer; a new prefix is sent
// without re-sending the others.
func TestChangesTouchOnlyWhatChanged(t *testing.T) {
	a := newReceiver(t, "127.0.0.4", 65001, map[string]uint32{"127.0.0.1": 65010})
	b := newReceiver(t, "127.0.0.5", 65001, map[string]uint32{"127.0.0.1": 65010})
	sp := New(DefaultConfig(), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { _ = sp.Stop(context.Background(), false) })
	ctx := context.Background()
	routes := []bgp.Route{route("10.1.0.1/32", nil), route("10.1.0.2/32", nil)}
	pa, pb := peer("a", a, 65001, routes...), peer("b", b, 65001, routes...)
	set := func() {
		t.Helper()
		if err := sp.Set(ctx, []bgp.Instance{{Name: "i", ASN: 65010, RouterID: netip.MustParseAddr("127.0.0.1"), Peers: []bgp.Peer{pa, pb}}}); err != nil {
			t.Fatal(err)
		}
	}
	set()
	for _, r := range []*receiver{a, b} {
		waitFor(t, "both prefixes", func() string {
			if n := len(r.received(t)); n != 2 {
				return fmt.Sprintf("%d prefixes", n)
			}
			return ""
		})
	}
	upA, upB := a.uptime(t), b.uptime(t)
	agesB := b.ages(t)
	time.Sleep(1100 * time.Millisecond) // path ages and uptimes have one-second resolution

	// A timer change on peer a: a's session restarts, b's does not.
	pa.Timers.Hold, pa.Timers.Keepalive = 30*time.Second, 10*time.Second
	set()
	waitFor(t, "peer a to come back", func() string {
		if up := a.uptime(t); !up.After(upA) {
			return fmt.Sprintf("peer a uptime %v, not after %v", up, upA)
		}
		return ""
	})
	if up := b.uptime(t); !up.Equal(upB) {
		t.Errorf("peer b was reset by a change to peer a (uptime %v -> %v)", upB, up)
	}

	// A new prefix for both: the two old ones are not re-sent to b.
	pa.Routes = append(routes, route("10.1.0.3/32", nil))
	pb.Routes = pa.Routes
	set()
	waitFor(t, "the new prefix at b", func() string {
		if _, ok := b.received(t)["10.1.0.3/32"]; !ok {
			return "missing"
		}
		return ""
	})
	for p, age := range b.ages(t) {
		if old, ok := agesB[p]; ok && old != age {
			t.Errorf("%s was re-sent to b when another prefix was added", p)
		}
	}
	if up := b.uptime(t); !up.Equal(upB) {
		t.Errorf("peer b was reset by a route change")
	}
}

// TestPeerASNAny: peer ASN 0 accepts whatever AS the router announces.
func TestPeerASNAny(t *testing.T) {
	r := newReceiver(t, "127.0.0.6", 64999, map[string]uint32{"127.0.0.1": 65010})
	sp := New(DefaultConfig(), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { _ = sp.Stop(context.Background(), false) })
	p := peer("any", r, 0, route("10.2.0.1/32", nil))
	if err := sp.Set(context.Background(), []bgp.Instance{{Name: "i", ASN: 65010, RouterID: netip.MustParseAddr("127.0.0.1"), Peers: []bgp.Peer{p}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the route at a peer whose AS was not configured", func() string {
		if _, ok := r.received(t)["10.2.0.1/32"]; !ok {
			return "missing"
		}
		return ""
	})
	st, err := sp.Status(context.Background())
	if err != nil || st[0].Peers[0].ASN != 64999 {
		t.Fatalf("status reports peer AS %v (%v), want the learned 64999", st, err)
	}
}

// TestStatusReusesPeerListUntilSomethingChanges: the peer list (whose counters walk every
// route) is asked for again only when it is old for its cost, when a session changed, or
// after an apply; a session going down shows at once even while the list is fresh.
func TestStatusReusesPeerListUntilSomethingChanges(t *testing.T) {
	r := newReceiver(t, "127.0.0.2", 65000, map[string]uint32{"127.0.0.1": 65010})
	sp := New(DefaultConfig(), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { _ = sp.Stop(context.Background(), false) })
	ctx := context.Background()
	d := []bgp.Instance{{Name: "i", ASN: 65010, RouterID: netip.MustParseAddr("127.0.0.1"), Peers: []bgp.Peer{peer("r", r, 65000, route("10.0.0.1/32", nil))}}}
	if err := sp.Set(ctx, d); err != nil {
		t.Fatal(err)
	}
	state := func() (bgp.SessionState, uint64) {
		st, err := sp.Status(ctx)
		if err != nil || len(st) != 1 || len(st[0].Peers) != 1 {
			t.Fatalf("status: %+v %v", st, err)
		}
		p := st[0].Peers[0]
		return p.State, p.Families[0].Advertised
	}
	waitFor(t, "an established session advertising one route", func() string {
		if s, n := state(); s != bgp.StateEstablished || n != 1 {
			return fmt.Sprintf("%s, %d advertised", s, n)
		}
		return ""
	})
	in := sp.instances["i"]
	sp.mu.Lock()
	in.peerListTook = time.Hour // as if listing were very expensive: reuse it
	sp.mu.Unlock()
	at := in.peerListAt
	state()
	state()
	if !in.peerListAt.Equal(at) {
		t.Fatal("the peer list was asked for again with nothing changed")
	}

	// An apply asks again: the new route is counted at once.
	d[0].Peers[0].Routes = append(d[0].Peers[0].Routes, route("10.0.0.2/32", nil))
	if err := sp.Set(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, n := state(); n != 2 {
		t.Fatalf("after an apply: %d advertised, want 2", n)
	}

	// A session change asks again.
	sp.mu.Lock()
	in.peerListTook = time.Hour
	sp.mu.Unlock()
	r.srv.Stop()
	waitFor(t, "the session down in the status", func() string {
		if s, _ := state(); s == bgp.StateEstablished {
			return "still established"
		}
		return ""
	})
}

// TestMassWithdrawal: withdrawing most of a large table goes through the batched path (a soft
// reset out before the paths are deleted). What must hold is what the routers end up with:
// every gone prefix withdrawn at both peers, the ones that stay still there with their own
// per-peer attributes, and no session reset.
func TestMassWithdrawal(t *testing.T) {
	ext := newReceiver(t, "127.0.0.6", 65000, map[string]uint32{"127.0.0.1": 65010})
	ibgp := newReceiver(t, "127.0.0.7", 65010, map[string]uint32{"127.0.0.1": 65010})
	sp := New(DefaultConfig(), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { _ = sp.Stop(context.Background(), false) })
	ctx := context.Background()
	const n, keep = 3000, 10
	var extRoutes, ibgpRoutes []bgp.Route
	for i := range n {
		p := fmt.Sprintf("10.2.%d.%d/32", i>>8, i&255)
		extRoutes = append(extRoutes, route(p, nil, "65001:1"))
		ibgpRoutes = append(ibgpRoutes, route(p, lp(200), "65001:2"))
	}
	ibgpRoutes = append(ibgpRoutes, route("10.244.0.0/24", lp(150))) // stays, in a class of its own
	set := func(e, i []bgp.Route) {
		t.Helper()
		err := sp.Set(ctx, []bgp.Instance{{Name: "i", ASN: 65010, RouterID: netip.MustParseAddr("127.0.0.1"), Peers: []bgp.Peer{
			peer("ext", ext, 65000, e...), peer("rr", ibgp, 65010, i...),
		}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(r *receiver, want int) func() string {
		return func() string {
			if got := len(r.received(t)); got != want {
				return fmt.Sprintf("%d prefixes, want %d", got, want)
			}
			return ""
		}
	}
	set(extRoutes, ibgpRoutes)
	waitFor(t, "the eBGP peer's table", count(ext, n))
	waitFor(t, "the iBGP peer's table", count(ibgp, n+1))
	upE, upI := ext.uptime(t), ibgp.uptime(t)
	if !batchWithdraw(sp.instances["i"].rib, map[netip.Prefix]bool{}) {
		t.Fatal("a withdrawal of 3000 of 3001 prefixes would not be batched; the test would not cover it")
	}

	set(extRoutes[:keep], append(ibgpRoutes[:keep:keep], ibgpRoutes[n]))
	want := func(r *receiver, w map[string]string) func() string {
		return func() string {
			got := r.received(t)
			if len(got) != len(w) {
				return fmt.Sprintf("%d prefixes, want %d", len(got), len(w))
			}
			for p, a := range w {
				if got[p] != a {
					return fmt.Sprintf("%s: %q, want %q", p, got[p], a)
				}
			}
			return ""
		}
	}
	wantExt, wantI := map[string]string{}, map[string]string{"10.244.0.0/24": "{LocalPref: 150}"}
	for _, r := range extRoutes[:keep] {
		wantExt[r.Prefix.String()] = "{Communities: 65001:1}"
		wantI[r.Prefix.String()] = "{Communities: 65001:2} {LocalPref: 200}"
	}
	waitFor(t, "the eBGP peer to keep only the remaining prefixes", want(ext, wantExt))
	waitFor(t, "the iBGP peer to keep only the remaining prefixes", want(ibgp, wantI))
	if !ext.uptime(t).Equal(upE) || !ibgp.uptime(t).Equal(upI) {
		t.Error("a withdrawal reset a session")
	}
}

func TestBatchWithdrawOnlyWhenMostGo(t *testing.T) {
	table := func(from, to int) map[netip.Prefix]bool {
		m := map[netip.Prefix]bool{}
		for i := from; i < to; i++ {
			m[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)] = true
		}
		return m
	}
	for _, c := range []struct {
		name     string
		old, now map[netip.Prefix]bool
		want     bool
	}{
		{"everything goes", table(0, 5000), table(0, 0), true},
		{"most go", table(0, 5000), table(0, 2000), true},
		{"fewer go than stay", table(0, 5000), table(0, 3000), false},
		{"a small table", table(0, 1000), table(0, 0), false},
		{"most replaced", table(0, 4000), table(3000, 5000), true},
		{"only additions", table(0, 2000), table(0, 6000), false},
	} {
		if got := batchWithdraw(c.old, c.now); got != c.want {
			t.Errorf("%s: batchWithdraw = %v, want %v", c.name, got, c.want)
		}
	}
}
