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
		Services: []status.Service{
			{Namespace: "demo", Name: "web", IPs: []string{"10.0.0.10"}, Pools: []string{"lan"}, Satisfied: true},
			{Namespace: "demo", Name: "db", Reason: "out_of_ips", Message: "pool lan has no free IPv4 address"},
		},
		Problems: []status.Problem{{Severity: "error", Source: "pools.yaml", Object: "LoadBalancerIPPool late", Field: "spec.blocks[0]", Message: "overlaps lan"}},
	}
	var b strings.Builder
	renderTree(&b, s, now)
	want := `herald standalone on node node-1 (snapshot 300ms old)
├─ BGP
│  └─ instance tor  AS 64512  router-id 10.0.0.1
│     ├─ peer 192.0.2.1 AS 65000  ESTABLISHED 5m0s  ipv4 adv 2 rcv 0
│     └─ peer 192.0.2.2 AS 65000  ACTIVE  last error: connection refused
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
