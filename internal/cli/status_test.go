package cli

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/status"
)

func TestRenderTree(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s := &status.Snapshot{
		Generated: now.Add(-300 * time.Millisecond), Mode: "standalone", Node: "node-1",
		BGP: []bgp.InstanceStatus{{Name: "tor", LocalASN: 64512, RouterID: "10.0.0.1", Peers: []bgp.PeerStatus{
			{Address: "192.0.2.1", ASN: 65000, State: bgp.StateEstablished, Since: now.Add(-5 * time.Minute),
				Families: []bgp.FamilyCounters{{AFI: "ipv4", SAFI: "unicast", Advertised: 2}}},
			{Address: "192.0.2.2", ASN: 65000, State: bgp.StateActive, LastError: "connection refused"},
		}}},
		Pools: []status.Pool{
			{Name: "lan", Total: big.NewInt(254), Used: 2, Available: big.NewInt(252)},
			{Name: "late", Conflicting: true, ConflictsWith: "lan", Total: big.NewInt(8), Available: big.NewInt(0)},
		},
		Services: status.ServiceRows(
			status.Service{Namespace: "demo", Name: "web", IPs: []string{"10.0.0.10"}, Pools: []string{"lan"}, Satisfied: true},
			status.Service{Namespace: "demo", Name: "db", Reason: "out_of_ips", Message: "pool lan has no free IPv4 address"},
		),
		Problems: []status.Problem{{Severity: "error", Source: "pools.yaml", Object: "LoadBalancerIPPool late", Field: "spec.blocks[0]", Message: "overlaps lan"}},
		L2: &status.L2{Node: "node-1", Nodes: []status.L2Node{{Name: "node-1", State: "self"}, {Name: "node-2", State: "down"}},
			Announcements: []status.L2Announcement{
				{IP: "10.0.0.20", Service: "demo/lan", Owner: "node-1", Interfaces: []string{"eth0"}, Since: now.Add(-time.Minute)},
				{IP: "10.0.0.21", Service: "demo/lan", Owner: "node-3", Interfaces: []string{"eth0"}},
				{IP: "10.0.0.22", Service: "demo/lan"},
			}},
	}
	var b strings.Builder
	renderTree(&b, s, now)
	want := `herald standalone on node node-1 (snapshot 300ms old)
├─ BGP
│  └─ instance tor  AS 64512  router-id 10.0.0.1
│     ├─ peer 192.0.2.1 AS 65000  ESTABLISHED 5m0s  ipv4 adv 2 rcv 0
│     └─ peer 192.0.2.2 AS 65000  ACTIVE  last error: connection refused
├─ L2 (nodes: node-1 self, node-2 down)
│  ├─ 10.0.0.20  demo/lan  answered here on eth0 for 1m0s
│  ├─ 10.0.0.21  demo/lan  answered by node-3 on eth0
│  └─ 10.0.0.22  demo/lan  NOBODY answers: no healthy eligible node
├─ pools
│  ├─ lan  [#.........] 2/254 used
│  └─ late  [..........] 0/8 used  CONFLICTING with lan: allocates nothing
├─ services: 2, 1 without an address
│  ├─ demo/web  10.0.0.10  (lan)
│  └─ demo/db  no address: out_of_ips (pool lan has no free IPv4 address)
└─ problems: 1
   └─ error pools.yaml: LoadBalancerIPPool late: spec.blocks[0]: overlaps lan
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestBar(t *testing.T) {
	for _, c := range []struct {
		used  int
		total int64
		want  string
	}{{0, 254, "[....]"}, {1, 254, "[#...]"}, {127, 254, "[##..]"}, {254, 254, "[####]"}, {3, 0, "[....]"}} {
		if got := bar(c.used, big.NewInt(c.total), 4); got != c.want {
			t.Errorf("bar(%d, %d) = %s, want %s", c.used, c.total, got, c.want)
		}
	}
}

func TestRenderTreeFindings(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s := &status.Snapshot{Mode: "standalone", Node: "node-1",
		Problems: []status.Problem{{Severity: "error", Source: "x.yaml", Message: "shown as a finding"}},
		Findings: []status.Finding{{Check: "bgp-session", Severity: "error", Object: "peer r (192.0.2.2:179)", Problem: "the router refuses connections", Fix: "enable BGP"}}}
	var b strings.Builder
	renderTree(&b, s, now)
	want := `herald standalone on node node-1
├─ pools
│  └─ none
├─ services: 0, 0 without an address
└─ doctor: 1 findings
   └─ error bgp-session: peer r (192.0.2.2:179): the router refuses connections
      └─ fix: enable BGP
`
	if got := b.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
