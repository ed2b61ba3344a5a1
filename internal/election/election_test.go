package election

import (
	"fmt"
	"net/netip"
	stdregexp "regexp"
	"slices"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
)

func addrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	a := netip.MustParseAddr("10.0.0.0")
	for i := range out {
		a = a.Next()
		out[i] = a
	}
	return out
}

func TestOwnerSpreadsAndMovesOnlyWhatTheNewNodeWins(t *testing.T) {
	nodes := []string{"node1", "node2", "node3"}
	ips := addrs(3000)
	before := map[netip.Addr]string{}
	count := map[string]int{}
	for _, a := range ips {
		o, ok := Owner(a, nodes)
		if !ok {
			t.Fatal("no owner with three candidates")
		}
		before[a] = o
		count[o]++
	}
	for _, n := range nodes {
		// 1000 expected each; a fair hash stays within a few standard deviations (~26).
		if count[n] < 880 || count[n] > 1120 {
			t.Errorf("%s owns %d of 3000 addresses, want about 1000: %v", n, count[n], count)
		}
	}
	grown := append(slices.Clone(nodes), "node4")
	moved := 0
	for _, a := range ips {
		o, _ := Owner(a, grown)
		if o != before[a] {
			if o != "node4" {
				t.Fatalf("%s moved from %s to %s when node4 joined; only moves to node4 are allowed", a, before[a], o)
			}
			moved++
		}
	}
	if moved < 600 || moved > 900 {
		t.Errorf("node4 took %d of 3000 addresses, want about 750", moved)
	}
	// Order of candidates does not matter: every agent gets the same answer.
	for _, a := range ips[:100] {
		o1, _ := Owner(a, []string{"node3", "node1", "node2"})
		if o1 != before[a] {
			t.Fatalf("%s: owner depends on candidate order", a)
		}
	}
	if _, ok := Owner(ips[0], nil); ok {
		t.Fatal("an owner without candidates")
	}
}

func TestAssignNeedsHealthAndAMatchingInterface(t *testing.T) {
	vip := netip.MustParseAddr("192.168.1.50")
	vlan := []*regexp{mustRe(t, `^enp86s0\.122$`)}
	in := []plan.L2Address{{Addr: vip, Service: model.ServiceKey{Namespace: "default", Name: "web"}, Nodes: []plan.L2Node{
		{Name: "a", Interfaces: vlan}, {Name: "b", Interfaces: vlan}, {Name: "c", Interfaces: vlan}, {Name: "d", Interfaces: vlan},
	}}}
	members := map[string]Member{
		"a": {Interfaces: []string{"lo", "enp86s0", "enp86s0.122"}, DefaultInterface: "enp86s0", Ready: true},
		"b": {Interfaces: []string{"lo", "enp86s0"}, DefaultInterface: "enp86s0", Ready: true}, // no VLAN: not a candidate
		"c": {Interfaces: []string{"lo", "enp86s0.122"}, Ready: true},
		// d sent no heartbeat: unknown interfaces, not a candidate
	}
	healthy := func(n string) bool { return n != "c" }
	got := Assign(in, members, healthy)
	if len(got) != 1 || got[0].Owner != "a" || !slices.Equal(got[0].Interfaces, []string{"enp86s0.122"}) || !slices.Equal(got[0].Candidates, []string{"a"}) {
		t.Fatalf("assignment = %+v, want owner a on enp86s0.122, candidates [a]", got)
	}
	got = Assign(in, members, func(n string) bool { return n != "a" && n != "c" })
	if got[0].Owner != "" || len(got[0].Candidates) != 0 {
		t.Fatalf("no healthy node with the VLAN, yet %+v", got)
	}
	// A policy without interfaces answers on the default-route interface.
	in[0].Nodes = []plan.L2Node{{Name: "b", Interfaces: []*regexp{nil}}}
	got = Assign(in, members, healthy)
	if got[0].Owner != "b" || !slices.Equal(got[0].Interfaces, []string{"enp86s0"}) {
		t.Fatalf("default interface: %+v", got)
	}
}

// cluster simulates agents exchanging heartbeats every 100 ms over links that can be cut.
type cluster struct {
	t      *testing.T
	now    time.Time
	names  []string
	track  map[string]*Tracker
	alive  map[string]bool
	cut    map[[2]string]bool // heartbeat path between two nodes
	leases map[string]bool    // nil: standalone
	ips    []netip.Addr
	tick   int
	check  func()
}

func newCluster(t *testing.T, n int, leases bool) *cluster {
	c := &cluster{t: t, now: time.Unix(1_000_000, 0), track: map[string]*Tracker{}, alive: map[string]bool{}, cut: map[[2]string]bool{}, ips: addrs(60)}
	if leases {
		c.leases = map[string]bool{}
	}
	for i := range n {
		name := fmt.Sprintf("node%d", i+1)
		c.names = append(c.names, name)
		c.track[name] = NewTracker(name, DefaultConfig(), c.now)
		c.alive[name] = true
		if leases {
			c.leases[name] = true
		}
	}
	return c
}

func (c *cluster) linked(a, b string) bool { return !c.cut[[2]string{a, b}] && !c.cut[[2]string{b, a}] }

func (c *cluster) cutOff(n string) {
	for _, o := range c.names {
		c.cut[[2]string{n, o}] = true
	}
}

// run advances time in 10 ms steps. Each node sends its heartbeats every 100 ms at its own
// phase, as real agents started at different moments do; check, when set, runs every
// evaluation interval (100 ms) of every node, like the agents' own evaluations.
func (c *cluster) run(d time.Duration) {
	for end := c.now.Add(d); c.now.Before(end); {
		c.now = c.now.Add(10 * time.Millisecond)
		c.tick++
		if c.check != nil {
			c.check()
		}
		for i, from := range c.names {
			if !c.alive[from] || (c.tick+i*37)%10 != 0 {
				continue
			}
			tr := c.track[from]
			r := Report{Node: from, Member: Member{Interfaces: []string{"eth0"}, DefaultInterface: "eth0", Ready: tr.Ready(c.now, c.names)}, Hears: tr.Hears(c.now)}
			for _, to := range c.names {
				if to != from && c.alive[to] && c.linked(from, to) {
					c.track[to].Heard(c.now, r)
				}
			}
		}
		if c.leases != nil {
			for _, n := range c.names {
				c.track[n].SetLeases(c.leases)
			}
		}
	}
}

// owners returns, per address, the live nodes that would answer for it.
func (c *cluster) owners() map[netip.Addr][]string {
	var l2 []plan.L2Address
	for _, a := range c.ips {
		la := plan.L2Address{Addr: a}
		for _, n := range c.names {
			la.Nodes = append(la.Nodes, plan.L2Node{Name: n, Interfaces: []*regexp{nil}})
		}
		l2 = append(l2, la)
	}
	out := map[netip.Addr][]string{}
	for _, n := range c.names {
		if !c.alive[n] {
			continue
		}
		tr := c.track[n]
		v := tr.View(c.now, c.names)
		for _, as := range Assign(l2, tr.Members(c.now, c.names, Member{Interfaces: []string{"eth0"}, DefaultInterface: "eth0"}), v.Healthy) {
			if as.Owner == n {
				out[as.Addr] = append(out[as.Addr], n)
			}
		}
	}
	return out
}

// exactlyOne fails unless every address is answered by one node, none of them in not.
func (c *cluster) exactlyOne(what string, not ...string) {
	c.t.Helper()
	for _, a := range c.ips {
		o := c.owners()[a]
		if len(o) != 1 {
			c.t.Fatalf("%s: %s answered by %v, want exactly one node", what, a, o)
		}
		if slices.Contains(not, o[0]) {
			c.t.Fatalf("%s: %s answered by %s", what, a, o[0])
		}
	}
}

func TestOwnerDeathFailsOverWithinASecond(t *testing.T) {
	for _, leases := range []bool{false, true} {
		c := newCluster(t, 3, leases)
		c.run(2 * time.Second)
		c.exactlyOne("steady")
		c.alive["node2"] = false // SIGKILL: heartbeats stop, the Lease is still valid for a while
		c.run(700 * time.Millisecond)
		c.exactlyOne("0.7 s after node2 died", "node2")
	}
}

func TestStartingNodeGrabsNothingBeforeItHearsPeers(t *testing.T) {
	c := newCluster(t, 3, false)
	c.run(2 * time.Second)
	c.track["node3"] = NewTracker("node3", DefaultConfig(), c.now) // restarted, heard nobody yet
	v := c.track["node3"].View(c.now, c.names)
	if v.States["node1"] != StateAssumed || v.States["node2"] != StateAssumed {
		t.Fatalf("a fresh agent must assume its peers up, got %v", v.States)
	}
	for a, o := range c.owners() {
		if slices.Contains(o, "node3") || len(o) > 1 {
			t.Fatalf("right after node3 restarted, %s is answered by %v", a, o)
		}
	}
	c.run(300 * time.Millisecond)
	c.exactlyOne("after node3 heard its peers")
}

func TestCutHeartbeatPathDoesNotSplitBrain(t *testing.T) {
	for _, leases := range []bool{false, true} {
		c := newCluster(t, 3, leases)
		c.run(2 * time.Second)
		held := 0
		for _, o := range c.owners() {
			if o[0] == "node2" {
				held++
			}
		}
		if held == 0 {
			t.Fatal("node2 owns nothing; pick more addresses")
		}
		c.cutOff("node2") // only the heartbeat path: node2 is alive and its Lease renewed
		for range 30 {    // check every 100 ms through the transition
			c.run(100 * time.Millisecond)
			for a, o := range c.owners() {
				if len(o) > 1 {
					t.Fatalf("leases=%v: %s answered by %v after node2's heartbeats were cut", leases, a, o)
				}
			}
		}
		c.exactlyOne("node2's heartbeat path cut", "node2")
		v := c.track["node2"].View(c.now, c.names)
		if v.States["node2"] != StateFenced || v.Why == "" {
			t.Fatalf("node2 must fence itself and say why: %v %q", v.States, v.Why)
		}
		clear(c.cut)
		c.run(time.Second)
		c.exactlyOne("path restored")
		if c.track["node2"].View(c.now, c.names).States["node2"] != StateSelf {
			t.Fatal("node2 still fenced after it hears its peers again")
		}
	}
}

func TestOneCutLinkIsVouchedFor(t *testing.T) {
	c := newCluster(t, 3, false)
	c.run(2 * time.Second)
	before := c.owners()
	c.cut[[2]string{"node1", "node3"}] = true
	c.run(time.Second)
	if st := c.track["node1"].View(c.now, c.names).States["node3"]; st != StateVouched {
		t.Fatalf("node1 sees node3 as %s, want vouched (node2 hears both)", st)
	}
	after := c.owners()
	for a := range before {
		if !slices.Equal(before[a], after[a]) {
			t.Fatalf("%s moved from %v to %v although every node is up", a, before[a], after[a])
		}
	}
}

func TestTwoNodes(t *testing.T) {
	// Standalone: with two nodes nobody can tell a dead peer from a cut path, and failover wins.
	c := newCluster(t, 2, false)
	c.run(2 * time.Second)
	c.alive["node1"] = false
	c.run(700 * time.Millisecond)
	c.exactlyOne("standalone, node1 dead", "node1")

	// Cluster mode: the Lease tells them apart. A cut path keeps each node's own addresses.
	c = newCluster(t, 2, true)
	c.run(2 * time.Second)
	c.cutOff("node1")
	c.run(2 * time.Second)
	c.exactlyOne("leases, heartbeat path cut")
	v := c.track["node2"].View(c.now, c.names)
	if v.States["node1"] != StateLease {
		t.Fatalf("node2 sees node1 as %s, want lease", v.States["node1"])
	}
	// The Lease expires: node1 is really gone.
	c.alive["node1"] = false
	c.leases["node1"] = false
	c.run(200 * time.Millisecond)
	c.exactlyOne("leases, node1 gone", "node1")
}

func TestIsolatedNodeTrustsEvidenceOnlyForAWhile(t *testing.T) {
	// Standalone, two of three die at once: the survivor first fences (the last reports say
	// the others talk without it), then takes everything once the evidence is old.
	c := newCluster(t, 3, false)
	c.run(2 * time.Second)
	c.alive["node1"], c.alive["node2"] = false, false
	c.run(time.Second)
	if v := c.track["node3"].View(c.now, c.names); v.States["node3"] != StateFenced {
		t.Fatalf("node3: %v", v.States)
	}
	c.run(DefaultConfig().EvidenceFor)
	c.exactlyOne("survivor after the evidence expired", "node1", "node2")
}

type regexp = stdregexp.Regexp

func mustRe(t *testing.T, s string) *regexp {
	t.Helper()
	return stdregexp.MustCompile(s)
}
