package ipam

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/model"
)

// --- helpers ---------------------------------------------------------------------------------

func mustBlock(t testing.TB, s string) model.Block {
	t.Helper()
	b, err := model.ParseRangeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type poolOpt func(*model.Pool)

func newTestPool(t testing.TB, name string, blocks []string, opts ...poolOpt) model.Pool {
	p := model.Pool{Name: name, AllowFirstLastIPs: true, AutoAssign: true}
	for _, b := range blocks {
		p.Blocks = append(p.Blocks, mustBlock(t, b))
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func noFirstLast(p *model.Pool)  { p.AllowFirstLastIPs = false }
func avoidBuggy(p *model.Pool)   { p.AvoidBuggyIPs = true }
func disabled(p *model.Pool)     { p.Disabled = true }
func created(d int) poolOpt      { return func(p *model.Pool) { p.Created = time.Unix(int64(d), 0) } }
func priority(n int) poolOpt     { return func(p *model.Pool) { p.Priority, p.HasPriority = n, true } }
func noAutoAssign(p *model.Pool) { p.AutoAssign = false }
func selects(k, v string) poolOpt {
	return func(p *model.Pool) { p.ServiceSelector = &model.Selector{MatchLabels: map[string]string{k: v}} }
}

type svcOpt func(*model.Service)

func newSvc(key string, opts ...svcOpt) model.Service {
	ns, name, _ := strings.Cut(key, "/")
	s := model.Service{Key: model.ServiceKey{Namespace: ns, Name: name}, Type: "LoadBalancer"}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func annotate(k, v string) svcOpt {
	return func(s *model.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
		s.Request = model.ParseRequest(s.Annotations, "")
	}
}
func wantIP(ip string) svcOpt { return annotate("io.cilium/lb-ipam-ips", ip) }
func key(k string) svcOpt     { return annotate("io.cilium/lb-ipam-sharing-key", k) }
func ports(ps ...int32) svcOpt {
	return func(s *model.Service) {
		for _, p := range ps {
			s.Ports = append(s.Ports, model.Port{Port: p, Protocol: "TCP"})
		}
	}
}
func label(k, v string) svcOpt {
	return func(s *model.Service) {
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[k] = v
	}
}
func familyPolicy(p model.IPFamilyPolicy, fams ...model.Family) svcOpt {
	return func(s *model.Service) { s.IPFamilyPolicy, s.IPFamilies = p, fams }
}
func ingress(ips ...string) svcOpt {
	return func(s *model.Service) {
		for _, ip := range ips {
			s.Ingress = append(s.Ingress, netip.MustParseAddr(ip))
		}
	}
}
func svcCreated(d int) svcOpt { return func(s *model.Service) { s.Created = time.Unix(int64(d), 0) } }

func addrs(r Result) string {
	var out []string
	for _, a := range r.Addrs {
		out = append(out, a.String())
	}
	return strings.Join(out, ",")
}

// checkInvariants verifies what must hold after any sequence of operations.
func checkInvariants(t *testing.T, a *Allocator) {
	t.Helper()
	owner := map[netip.Addr]int{}
	for k, st := range a.svcs {
		for _, l := range st.leases {
			if a.leases[l.addr] != l {
				t.Fatalf("%s holds %s, but the lease map has another lease for it", k, l.addr)
			}
			owner[l.addr]++
		}
	}
	for k, st := range a.svcs {
		if got, want := addrs(st.resultWith(true, "", "")), addrs(st.result); got != want && st.result.Reason != BadAnnotation {
			t.Fatalf("%s holds %s but its last result says %s", k, got, want)
		}
	}
	used := map[string]int{}
	for addr, l := range a.leases {
		if len(l.owners) == 0 {
			t.Fatalf("lease %s has no owner", addr)
		}
		if owner[addr] != len(l.owners) {
			t.Fatalf("lease %s: %d owners recorded, %d Services hold it", addr, len(l.owners), owner[addr])
		}
		if len(l.owners) > 1 && l.key == "" {
			t.Fatalf("lease %s is shared by %d Services without a sharing key", addr, len(l.owners))
		}
		if l.pool != nil {
			used[l.pool.Name]++
			if b := l.pool.blockOf(addr); b != nil && b.free != nil && b.free.containing(addr) != nil {
				t.Fatalf("leased %s is also in pool %s's free list", addr, l.pool.Name)
			}
		}
	}
	for _, p := range a.pools {
		if p.used != used[p.Name] {
			t.Fatalf("pool %s counts %d used, leases say %d", p.Name, p.used, used[p.Name])
		}
	}
}

// --- semantics -------------------------------------------------------------------------------

func TestSeed000Counts(t *testing.T) {
	a := New(DefaultConfig())
	pools := []model.Pool{newTestPool(t, "lb-pool", []string{"10.99.8.0/24"}, noFirstLast)}
	var svcs []model.Service
	for i := 201; i <= 211; i++ {
		svcs = append(svcs, newSvc(fmt.Sprintf("ns/s%d", i), wantIP(fmt.Sprintf("10.99.8.%d", i))))
	}
	for _, r := range a.Reconcile(pools, svcs) {
		want := "10.99.8." + strings.TrimPrefix(r.Service.Name, "s")
		if !r.Satisfied || addrs(r) != want {
			t.Errorf("%s: got %v %s %q, want %s", r.Service, r.Satisfied, addrs(r), r.Message, want)
		}
	}
	ps := a.Pools()[0]
	if ps.Total.Int64() != 254 || ps.Used != 11 || ps.Available.Int64() != 243 {
		t.Fatalf("pool counts total=%s used=%d available=%s, want 254/11/243", ps.Total, ps.Used, ps.Available)
	}
	checkInvariants(t, a)
}

func TestReservedAddresses(t *testing.T) {
	tests := []struct {
		block string
		opts  []poolOpt
		total int64
		first string
	}{
		{"10.0.0.0/24", []poolOpt{noFirstLast}, 254, "10.0.0.1"},
		{"10.0.0.0/24", nil, 256, "10.0.0.0"},
		{"10.0.0.0/30", []poolOpt{noFirstLast}, 2, "10.0.0.1"},
		{"10.0.0.0/31", []poolOpt{noFirstLast}, 2, "10.0.0.0"},        // never reserved for /31
		{"10.0.0.7/32", []poolOpt{noFirstLast}, 1, "10.0.0.7"},        // nor /32
		{"10.0.0.0-10.0.0.9", []poolOpt{noFirstLast}, 10, "10.0.0.0"}, // nor ranges
		{"2001:db8::/126", []poolOpt{noFirstLast}, 2, "2001:db8::1"},
		{"2001:db8::/127", []poolOpt{noFirstLast}, 2, "2001:db8::"},
		{"10.0.0.0/23", []poolOpt{avoidBuggy}, 508, "10.0.0.1"},
		{"10.0.0.0/23", []poolOpt{avoidBuggy, noFirstLast}, 508, "10.0.0.1"},
		{"10.0.0.255-10.0.1.1", []poolOpt{avoidBuggy}, 1, "10.0.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.block, func(t *testing.T) {
			a := New(DefaultConfig())
			fam := []model.Family{model.IPv4}
			if strings.Contains(tt.block, ":") {
				fam = []model.Family{model.IPv6}
			}
			res := a.Reconcile([]model.Pool{newTestPool(t, "p", []string{tt.block}, tt.opts...)},
				[]model.Service{newSvc("ns/a", familyPolicy(model.SingleStack, fam...))})
			if got := a.Pools()[0].Total.Int64(); got != tt.total {
				t.Errorf("total = %d, want %d", got, tt.total)
			}
			if addrs(res[0]) != tt.first {
				t.Errorf("first allocation = %s (%s), want %s", addrs(res[0]), res[0].Message, tt.first)
			}
		})
	}
}

func TestAvoidBuggyNeverAllocatesDotZeroOrDot255(t *testing.T) {
	a := New(DefaultConfig())
	a.SetPools([]model.Pool{newTestPool(t, "p", []string{"10.0.0.0/22"}, avoidBuggy)})
	n := 0
	for {
		s := newSvc(fmt.Sprintf("ns/s%d", n))
		r := a.Upsert(&s)
		if !r.Satisfied {
			if r.Reason != OutOfIPs {
				t.Fatalf("unexpected reason %s", r.Reason)
			}
			break
		}
		if buggy(r.Addrs[0]) {
			t.Fatalf("allocated %s", r.Addrs[0])
		}
		n++
	}
	if n != 1024-8 {
		t.Fatalf("allocated %d addresses, want %d", n, 1024-8)
	}
	checkInvariants(t, a)
}

func TestRequestedIPs(t *testing.T) {
	pools := []model.Pool{
		newTestPool(t, "main", []string{"10.0.0.0/24"}, noFirstLast, created(1)),
		newTestPool(t, "labelled", []string{"10.0.1.0/24"}, selects("tier", "gold"), created(2)),
		newTestPool(t, "off", []string{"10.0.2.0/24"}, disabled, created(3)),
	}
	tests := []struct {
		name   string
		svc    model.Service
		reason Reason
		addr   string
		msg    string
	}{
		{"in pool", newSvc("ns/a", wantIP("10.0.0.20")), Satisfied, "10.0.0.20", ""},
		{"outside every pool", newSvc("ns/a", wantIP("192.0.2.1")), NoPool, "", "outside every pool"},
		{"network address", newSvc("ns/a", wantIP("10.0.0.0")), ReservedIP, "", "reserved"},
		{"selector mismatch", newSvc("ns/a", wantIP("10.0.1.5")), PoolSelectorMismatch, "", "pool labelled"},
		{"selector match", newSvc("ns/a", wantIP("10.0.1.5"), label("tier", "gold")), Satisfied, "10.0.1.5", ""},
		{"disabled pool", newSvc("ns/a", wantIP("10.0.2.5")), PoolDisabled, "", "disabled"},
		{"spec.loadBalancerIP", func() model.Service {
			s := newSvc("ns/a")
			s.Request = model.ParseRequest(nil, "10.0.0.9")
			return s
		}(), Satisfied, "10.0.0.9", ""},
		{"bad annotation", newSvc("ns/a", wantIP("${LBIP}")), BadAnnotation, "", "unsubstituted variable"},
		{"null annotation", newSvc("ns/a", wantIP("null")), BadAnnotation, "", "literal null"},
		{"two IPv4", newSvc("ns/a", wantIP("10.0.0.1,10.0.0.2")), BadAnnotation, "", "second IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(DefaultConfig())
			r := a.Reconcile(pools, []model.Service{tt.svc})[0]
			if r.Reason != tt.reason || addrs(r) != tt.addr || !strings.Contains(r.Message, tt.msg) {
				t.Fatalf("got %s %q %q, want %s %q containing %q", r.Reason, addrs(r), r.Message, tt.reason, tt.addr, tt.msg)
			}
			checkInvariants(t, a)
		})
	}
}

func TestRequestedIPTakenByAnother(t *testing.T) {
	a := New(DefaultConfig())
	res := a.Reconcile([]model.Pool{newTestPool(t, "p", []string{"10.0.0.0/24"})}, []model.Service{
		newSvc("ns/first", wantIP("10.0.0.5"), svcCreated(1)),
		newSvc("ns/second", wantIP("10.0.0.5"), svcCreated(2)),
	})
	if !res[0].Satisfied || res[1].Reason != AlreadyAllocated || !strings.Contains(res[1].Message, "ns/first") {
		t.Fatalf("got %+v", res)
	}
}

func TestSharingSeed004(t *testing.T) {
	a := New(DefaultConfig())
	res := a.Reconcile([]model.Pool{newTestPool(t, "production-pool", []string{"10.100.0.0/24", "10.100.1.0/24"})}, []model.Service{
		newSvc("web/web-http", wantIP("10.100.0.50"), key("web-frontend"), ports(80), svcCreated(1)),
		newSvc("web/web-https", wantIP("10.100.0.50"), key("web-frontend"), ports(443), svcCreated(2)),
		newSvc("web/web-dns-conflict", wantIP("10.100.0.50"), key("web-frontend"), ports(443), svcCreated(3)),
	})
	byName := map[string]Result{}
	for _, r := range res {
		byName[r.Service.Name] = r
	}
	for _, n := range []string{"web-http", "web-https"} {
		if r := byName[n]; !r.Satisfied || addrs(r) != "10.100.0.50" {
			t.Errorf("%s: %+v", n, r)
		}
	}
	c := byName["web-dns-conflict"]
	if c.Reason != IncompatibleSharing || !strings.Contains(c.Message, "443/TCP") || !strings.Contains(c.Message, "web/web-https") {
		t.Errorf("conflict: %+v", c)
	}
	if ps := a.Pools()[0]; ps.Used != 1 {
		t.Errorf("shared address counted %d times", ps.Used)
	}
	checkInvariants(t, a)
}

func TestSharingRules(t *testing.T) {
	local := func(sel string) svcOpt {
		return func(s *model.Service) {
			s.ExternalTrafficPolicy = model.TrafficLocal
			if sel != "" {
				s.Selector = map[string]string{"app": sel}
			}
		}
	}
	cross := func(v string) svcOpt { return annotate("io.cilium/lb-ipam-sharing-cross-namespace", v) }
	tests := []struct {
		name   string
		a, b   model.Service
		shared bool
		msg    string
	}{
		{"TCP and UDP on one port", newSvc("ns/a", key("k"), ports(53)),
			func() model.Service {
				s := newSvc("ns/b", key("k"))
				s.Ports = []model.Port{{Port: 53, Protocol: "UDP"}}
				return s
			}(), true, ""},
		{"different keys", newSvc("ns/a", key("k"), ports(1)), newSvc("ns/b", key("other"), ports(2)), false, ""},
		{"other namespace, one side allows", newSvc("x/a", key("k"), ports(1), cross("*")), newSvc("y/b", key("k"), ports(2)), false, "another namespace"},
		{"other namespace, both allow", newSvc("x/a", key("k"), ports(1), cross("y")), newSvc("y/b", key("k"), ports(2), cross("x")), true, ""},
		{"Local with the same selector", newSvc("ns/a", key("k"), ports(1), local("web")), newSvc("ns/b", key("k"), ports(2), local("web")), true, ""},
		{"Local with other selectors", newSvc("ns/a", key("k"), ports(1), local("web")), newSvc("ns/b", key("k"), ports(2), local("db")), false, "pod selector"},
		{"Local without selectors", newSvc("ns/a", key("k"), ports(1), local("")), newSvc("ns/b", key("k"), ports(2), local("")), false, "pod selector"},
		{"Local and Cluster", newSvc("ns/a", key("k"), ports(1), local("web")), newSvc("ns/b", key("k"), ports(2)), false, "externalTrafficPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, requested := range []bool{false, true} {
				a := New(DefaultConfig())
				x, y := tt.a, tt.b
				x.Created, y.Created = time.Unix(1, 0), time.Unix(2, 0)
				if requested {
					annotate("io.cilium/lb-ipam-ips", "10.0.0.9")(&x)
					annotate("io.cilium/lb-ipam-ips", "10.0.0.9")(&y)
				}
				res := a.Reconcile([]model.Pool{newTestPool(t, "p", []string{"10.0.0.0/24"})}, []model.Service{x, y})
				same := res[0].Satisfied && res[1].Satisfied && addrs(res[0]) == addrs(res[1])
				if same != tt.shared {
					t.Fatalf("requested=%v: shared=%v, want %v: %+v", requested, same, tt.shared, res)
				}
				if requested && !tt.shared && tt.msg != "" && !strings.Contains(res[1].Message, tt.msg) {
					t.Fatalf("message %q does not say %q", res[1].Message, tt.msg)
				}
				checkInvariants(t, a)
			}
		})
	}
}

func TestConflictingPools(t *testing.T) {
	a := New(DefaultConfig())
	older := newTestPool(t, "older", []string{"10.0.0.0/24"}, created(1))
	newer := newTestPool(t, "newer", []string{"10.0.0.128/25", "10.0.9.0/24"}, created(2), priority(1))
	a.Reconcile([]model.Pool{newer, older}, []model.Service{newSvc("ns/a")})
	ps := a.Pools()
	if ps[0].Name != "newer" || ps[0].ConflictsWith != "older" || ps[0].Available.Sign() != 0 {
		t.Fatalf("newer pool status %+v", ps[0])
	}
	if r, _ := a.Result(model.ServiceKey{Namespace: "ns", Name: "a"}); addrs(r) != "10.0.0.0" {
		t.Fatalf("conflicting pool with higher priority was used: %+v", r)
	}
	// The overlap goes: the pool becomes usable.
	newer.Blocks = newer.Blocks[1:]
	a.Reconcile([]model.Pool{newer, older}, []model.Service{newSvc("ns/a"), newSvc("ns/b")})
	if r, _ := a.Result(model.ServiceKey{Namespace: "ns", Name: "b"}); addrs(r) != "10.0.9.0" {
		t.Fatalf("resolved pool not used by priority: %+v", r)
	}
	if r, _ := a.Result(model.ServiceKey{Namespace: "ns", Name: "a"}); addrs(r) != "10.0.0.0" {
		t.Fatalf("existing allocation moved: %+v", r)
	}
	checkInvariants(t, a)
}

func TestPoolChoice(t *testing.T) {
	a := New(DefaultConfig())
	pools := []model.Pool{
		newTestPool(t, "b-pool", []string{"10.0.2.0/24"}),
		newTestPool(t, "a-pool", []string{"10.0.1.0/24"}),
		newTestPool(t, "prio", []string{"10.0.3.0/24"}, priority(10)),
		newTestPool(t, "manual", []string{"10.0.4.0/24"}, noAutoAssign, priority(1)),
	}
	res := a.Reconcile(pools, []model.Service{
		newSvc("ns/auto"),
		newSvc("ns/manual", annotate("metallb.universe.tf/address-pool", "manual")),
		newSvc("ns/manual-ip", wantIP("10.0.4.7")),
	})
	want := map[string]string{"auto": "10.0.3.0", "manual": "10.0.4.0", "manual-ip": "10.0.4.7"}
	for _, r := range res {
		if addrs(r) != want[r.Service.Name] {
			t.Errorf("%s got %s (%s), want %s", r.Service, addrs(r), r.Message, want[r.Service.Name])
		}
	}
	a2 := New(DefaultConfig())
	if r := a2.Reconcile(pools[:2], []model.Service{newSvc("ns/x")})[0]; addrs(r) != "10.0.1.0" {
		t.Errorf("equal priority does not go by name: %s", addrs(r))
	}
}

func TestNamespaceScoping(t *testing.T) {
	scoped := newTestPool(t, "scoped", []string{"10.0.1.0/24"}, func(p *model.Pool) {
		p.Namespaces = []string{"team-a"}
		p.NamespaceSelectors = []*model.Selector{{MatchLabels: map[string]string{"env": "prod"}}}
	})
	a := New(DefaultConfig())
	prod := newSvc("team-b/x", func(s *model.Service) { s.NamespaceLabels = map[string]string{"env": "prod"} })
	res := a.Reconcile([]model.Pool{scoped}, []model.Service{newSvc("team-a/x"), prod, newSvc("team-c/x")})
	if !res[0].Satisfied || !res[1].Satisfied || res[2].Reason != PoolSelectorMismatch {
		t.Fatalf("%+v", res)
	}
}

func TestDualStack(t *testing.T) {
	v4 := newTestPool(t, "v4", []string{"10.0.0.0/24"})
	v6 := newTestPool(t, "v6", []string{"2001:db8::/64"})
	tests := []struct {
		name   string
		pools  []model.Pool
		svc    model.Service
		ok     bool
		addrs  string
		reason Reason
	}{
		{"single v6", []model.Pool{v4, v6}, newSvc("ns/a", familyPolicy(model.SingleStack, model.IPv6)), true, "2001:db8::", Satisfied},
		{"prefer, both there", []model.Pool{v4, v6}, newSvc("ns/a", familyPolicy(model.PreferDualStack, model.IPv4, model.IPv6)), true, "10.0.0.0,2001:db8::", Satisfied},
		{"prefer, v4 only", []model.Pool{v4}, newSvc("ns/a", familyPolicy(model.PreferDualStack, model.IPv4, model.IPv6)), true, "10.0.0.0", Satisfied},
		{"require, v4 only", []model.Pool{v4}, newSvc("ns/a", familyPolicy(model.RequireDualStack, model.IPv4, model.IPv6)), false, "", NoPool},
		{"requested v6 on single stack", []model.Pool{v4, v6}, newSvc("ns/a", wantIP("2001:db8::5")), true, "2001:db8::5", Satisfied},
		{"prefer with a requested v4 outside pools", []model.Pool{v4, v6}, newSvc("ns/a", familyPolicy(model.PreferDualStack, model.IPv4, model.IPv6), wantIP("192.0.2.1")), false, "", NoPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(DefaultConfig())
			r := a.Reconcile(tt.pools, []model.Service{tt.svc})[0]
			if r.Satisfied != tt.ok || addrs(r) != tt.addrs || r.Reason != tt.reason {
				t.Fatalf("got %v %q %s %q", r.Satisfied, addrs(r), r.Reason, r.Message)
			}
			checkInvariants(t, a)
		})
	}
}

func TestLoadBalancerClass(t *testing.T) {
	class := func(c string) svcOpt { return func(s *model.Service) { s.LoadBalancerClass = c } }
	a := New(DefaultConfig())
	res := a.Reconcile([]model.Pool{newTestPool(t, "p", []string{"10.0.0.0/24"})}, []model.Service{
		newSvc("ns/none"),
		newSvc("ns/herald", class("herald.io/bgp")),
		newSvc("ns/cilium", class("io.cilium/bgp-control-plane")),
		newSvc("ns/aws", class("service.k8s.aws/nlb")),
		func() model.Service { s := newSvc("ns/clusterip"); s.Type = "ClusterIP"; return s }(),
	})
	if len(res) != 3 {
		t.Fatalf("tracked %d Services, want 3: %+v", len(res), res)
	}
	for _, r := range res {
		if !r.Satisfied {
			t.Errorf("%+v", r)
		}
	}
}

// --- adoption and stability ------------------------------------------------------------------

func TestRestartNeverReshuffles(t *testing.T) {
	pools := []model.Pool{newTestPool(t, "p", []string{"10.0.0.0/28"})}
	var svcs []model.Service
	for i := range 10 {
		svcs = append(svcs, newSvc(fmt.Sprintf("ns/s%02d", i), svcCreated(i)))
	}
	first := New(DefaultConfig())
	res := first.Reconcile(pools, svcs)
	// Delete a few, so that the survivors' addresses are not what a fresh run would pick.
	for _, i := range []int{0, 3, 4} {
		first.Delete(svcs[i].Key)
	}
	var survivors []model.Service
	want := map[model.ServiceKey]string{}
	for i, s := range svcs {
		if i == 0 || i == 3 || i == 4 {
			continue
		}
		s.Ingress = res[i].Addrs
		s.Created = time.Unix(100-int64(i), 0) // adoption must not depend on age order either
		survivors = append(survivors, s)
		want[s.Key] = addrs(res[i])
	}
	survivors = append(survivors, newSvc("ns/new", svcCreated(0)))
	second := New(DefaultConfig())
	for _, r := range second.Reconcile(pools, survivors) {
		if w, ok := want[r.Service]; ok && addrs(r) != w {
			t.Errorf("%s moved from %s to %s", r.Service, w, addrs(r))
		}
		if r.Service.Name == "new" && addrs(r) != "10.0.0.0" {
			t.Errorf("new Service got %s, want the first free address 10.0.0.0", addrs(r))
		}
	}
	checkInvariants(t, second)
}

func TestAdoptionClashKeepsOlder(t *testing.T) {
	a := New(DefaultConfig())
	res := a.Reconcile([]model.Pool{newTestPool(t, "p", []string{"10.0.0.0/24"})}, []model.Service{
		newSvc("ns/young", ingress("10.0.0.7"), svcCreated(2)),
		newSvc("ns/old", ingress("10.0.0.7"), svcCreated(1)),
	})
	if addrs(res[0]) != "10.0.0.7" || addrs(res[1]) == "10.0.0.7" || !res[1].Satisfied {
		t.Fatalf("%+v", res)
	}
	checkInvariants(t, a)
}

func TestDisabledPoolKeepsAllocations(t *testing.T) {
	p := newTestPool(t, "p", []string{"10.0.0.0/24"})
	a := New(DefaultConfig())
	a.Reconcile([]model.Pool{p}, []model.Service{newSvc("ns/a")})
	p.Disabled = true
	res := a.Reconcile([]model.Pool{p}, []model.Service{newSvc("ns/a", ingress("10.0.0.0")), newSvc("ns/b")})
	if addrs(res[0]) != "10.0.0.0" || !res[0].Satisfied || res[1].Reason != PoolDisabled {
		t.Fatalf("%+v", res)
	}
	// Across a restart too.
	b := New(DefaultConfig())
	if r := b.Reconcile([]model.Pool{p}, []model.Service{newSvc("ns/a", ingress("10.0.0.0"))})[0]; addrs(r) != "10.0.0.0" {
		t.Fatalf("after restart: %+v", r)
	}
}

func TestBadAnnotationKeepsAddress(t *testing.T) {
	pools := []model.Pool{newTestPool(t, "p", []string{"10.0.0.0/24"})}
	a := New(DefaultConfig())
	a.Reconcile(pools, []model.Service{newSvc("ns/a", wantIP("10.0.0.5")), newSvc("ns/b")})
	res := a.Reconcile(pools, []model.Service{newSvc("ns/a", wantIP("${X}")), newSvc("ns/b")})
	if res[0].Reason != BadAnnotation || addrs(res[0]) != "10.0.0.5" || addrs(res[1]) != "10.0.0.0" {
		t.Fatalf("%+v", res)
	}
}

func TestSelectorChangeMovesService(t *testing.T) {
	gold := newTestPool(t, "gold", []string{"10.0.1.0/24"}, selects("tier", "gold"))
	plain := newTestPool(t, "plain", []string{"10.0.2.0/24"}, selects("tier", "plain"))
	a := New(DefaultConfig())
	a.Reconcile([]model.Pool{gold, plain}, []model.Service{newSvc("ns/a", label("tier", "gold"))})
	r := a.Reconcile([]model.Pool{gold, plain}, []model.Service{newSvc("ns/a", label("tier", "plain"))})[0]
	if addrs(r) != "10.0.2.0" || r.Pools[0] != "plain" {
		t.Fatalf("%+v", r)
	}
	checkInvariants(t, a)
}

func TestExhaustionAndRelease(t *testing.T) {
	a := New(DefaultConfig())
	a.SetPools([]model.Pool{newTestPool(t, "p", []string{"10.0.0.0/30"}, noFirstLast)})
	s1, s2, s3 := newSvc("ns/1"), newSvc("ns/2"), newSvc("ns/3")
	a.Upsert(&s1)
	a.Upsert(&s2)
	if r := a.Upsert(&s3); r.Reason != OutOfIPs || !strings.Contains(r.Message, "full") {
		t.Fatalf("%+v", r)
	}
	a.Delete(s1.Key)
	if r := a.Upsert(&s3); addrs(r) != "10.0.0.1" {
		t.Fatalf("released address not reused: %+v", r)
	}
	checkInvariants(t, a)
}

// TestRandomOperations drives random upserts, deletes, restarts and pool edits and checks the
// invariants after every step: no address is ever held by two Services that may not share it.
func TestRandomOperations(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomOperations(t, seed) })
	}
}

func randomOperations(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	poolSets := [][]model.Pool{
		{newTestPool(t, "a", []string{"10.0.0.0/27"}, noFirstLast), newTestPool(t, "b", []string{"10.0.1.0/28", "2001:db8::/124"}, selects("tier", "b"))},
		{newTestPool(t, "a", []string{"10.0.0.0/28"}), newTestPool(t, "b", []string{"10.0.1.0/28", "2001:db8::/124"}, disabled)},
		{newTestPool(t, "a", []string{"10.0.0.0/27"}, avoidBuggy), newTestPool(t, "c", []string{"10.0.0.16/28"}, created(5))},
	}
	a := New(DefaultConfig())
	cur := poolSets[0]
	a.SetPools(cur)
	live := map[model.ServiceKey]model.Service{}
	for step := range 5000 {
		switch op := rng.IntN(20); {
		case op < 12:
			opts := []svcOpt{svcCreated(step)}
			if rng.IntN(3) == 0 {
				opts = append(opts, label("tier", "b"))
			}
			if rng.IntN(4) == 0 {
				opts = append(opts, wantIP(fmt.Sprintf("10.0.%d.%d", rng.IntN(2), rng.IntN(32))))
			}
			if rng.IntN(3) == 0 {
				opts = append(opts, key(fmt.Sprintf("k%d", rng.IntN(3))), ports(int32(rng.IntN(4))))
			}
			if rng.IntN(5) == 0 {
				opts = append(opts, familyPolicy(model.PreferDualStack, model.IPv4, model.IPv6))
			}
			s := newSvc(fmt.Sprintf("ns%d/s%d", rng.IntN(2), rng.IntN(40)), opts...)
			a.Upsert(&s)
			live[s.Key] = s
		case op < 17:
			k := model.ServiceKey{Namespace: fmt.Sprintf("ns%d", rng.IntN(2)), Name: fmt.Sprintf("s%d", rng.IntN(40))}
			a.Delete(k)
			delete(live, k)
		case op < 19:
			var svcs []model.Service
			for _, s := range live {
				if r, ok := a.Result(s.Key); ok {
					s.Ingress = r.Addrs
				}
				svcs = append(svcs, s)
			}
			before := map[model.ServiceKey]string{}
			for _, r := range a.Results() {
				if r.Satisfied {
					before[r.Service] = addrs(r)
				}
			}
			a = New(DefaultConfig())
			for _, r := range a.Reconcile(cur, svcs) {
				// Gaining a family that was full before is fine; losing or moving one is not.
				if w, ok := before[r.Service]; ok && !containsAll(r.Addrs, w) {
					t.Fatalf("step %d: restart moved %s from %s to %s (%s)", step, r.Service, w, addrs(r), r.Message)
				}
			}
		default:
			cur = poolSets[rng.IntN(len(poolSets))]
			var svcs []model.Service
			for _, s := range live {
				svcs = append(svcs, s)
			}
			a.Reconcile(cur, svcs)
		}
		checkInvariants(t, a)
		for _, r := range a.Results() {
			if r.Satisfied && len(r.Addrs) == 0 {
				t.Fatalf("step %d: %s satisfied without an address: %+v", step, r.Service, live[r.Service])
			}
		}
	}
}

func containsAll(have []netip.Addr, want string) bool {
	for _, w := range strings.Split(want, ",") {
		found := false
		for _, h := range have {
			if h.String() == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// A Service that shares an address and then gets an unreadable annotation keeps the address
// under the terms it joined with: a newcomer is judged against those terms (its port clash is
// still seen), and the broken one's own edit moves nobody.
func TestBadAnnotationKeepsSharingTerms(t *testing.T) {
	pools := []model.Pool{newTestPool(t, "p", []string{"10.0.0.0/24"})}
	a := New(DefaultConfig())
	res := a.Reconcile(pools, []model.Service{newSvc("ns/a", key("k"), ports(443)), newSvc("ns/b", key("k"), ports(80))})
	if addrs(res[0]) != "10.0.0.0" || addrs(res[1]) != "10.0.0.0" {
		t.Fatalf("not shared: %+v", res)
	}
	broken := newSvc("ns/a", key("k"), ports(443), wantIP("${X}"))
	res = a.Reconcile(pools, []model.Service{broken, newSvc("ns/b", key("k"), ports(80)), newSvc("ns/c", key("k"), ports(443), wantIP("10.0.0.0"))})
	if res[0].Reason != BadAnnotation || addrs(res[0]) != "10.0.0.0" || addrs(res[1]) != "10.0.0.0" {
		t.Fatalf("the broken Service or its partner moved: %+v", res)
	}
	if res[2].Reason != IncompatibleSharing || !strings.Contains(res[2].Message, "port 443/TCP is already used by ns/a") {
		t.Fatalf("newcomer clashing on ns/a's port: %+v", res[2])
	}
	checkInvariants(t, a)
}

// The same pools again (freshly built, equal) are recognised and skipped: the free lists stay
// right across it, and a pool that does change afterwards is still applied.
func TestSamePoolsAgain(t *testing.T) {
	pools := func(block string) []model.Pool { return []model.Pool{newTestPool(t, "p", []string{block})} }
	got := func(res []Result) string {
		var out []string
		for _, r := range res {
			out = append(out, r.Service.Name+"="+addrs(r))
		}
		return strings.Join(out, " ")
	}
	a := New(DefaultConfig())
	a.Reconcile(pools("10.0.0.0/30"), []model.Service{newSvc("ns/a"), newSvc("ns/b")})
	res := a.Reconcile(pools("10.0.0.0/30"), []model.Service{newSvc("ns/a"), newSvc("ns/b"), newSvc("ns/c")})
	if g := got(res); g != "a=10.0.0.0 b=10.0.0.1 c=10.0.0.2" {
		t.Fatalf("after the same pools: %s", g)
	}
	checkInvariants(t, a)
	res = a.Reconcile(pools("10.0.0.0/30"), []model.Service{newSvc("ns/a"), newSvc("ns/c"), newSvc("ns/d")})
	if g := got(res); g != "a=10.0.0.0 c=10.0.0.2 d=10.0.0.1" {
		t.Fatalf("b's address was not free again: %s", g)
	}
	checkInvariants(t, a)
	res = a.Reconcile(pools("10.0.1.0/30"), []model.Service{newSvc("ns/a"), newSvc("ns/c"), newSvc("ns/d")})
	for _, r := range res {
		if !strings.HasPrefix(addrs(r), "10.0.1.") {
			t.Fatalf("the changed block was not applied: %s", got(res))
		}
	}
	checkInvariants(t, a)
}
