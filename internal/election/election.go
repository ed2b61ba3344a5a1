// Package election decides which node answers ARP/NDP for each L2 address, without a Lease per
// address. Every agent computes the same answer from the same inputs: the owner of an address
// is the eligible, healthy node with the highest rendezvous score (a hash of node and address),
// so ownership spreads over nodes and a node joining or leaving moves only the addresses it
// wins or held.
//
// Health comes from the Tracker, a pure state machine fed with heartbeats between agents (and,
// in cluster mode, with the per-node Leases). See docs/l2.md for the rules and why they stop
// split brain when only the heartbeat path is cut.
//
// The package does no I/O and reads no clock: times are passed in.
package election

import (
	"hash/fnv"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/internal/plan"
)

// Score is the rendezvous score of node for addr: the highest score among the candidates wins.
func Score(node string, addr netip.Addr) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	b := addr.As16()
	h.Write(b[:])
	return mix(h.Sum64())
}

// mix is the splitmix64 finaliser: FNV alone spreads similar inputs (node1, node2; adjacent
// addresses) poorly over the high bits, and the ranking compares whole values.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Owner returns the candidate with the highest score for addr (ties, which need a 64-bit
// collision, go to the smaller name), and false when there is no candidate.
func Owner(addr netip.Addr, candidates []string) (string, bool) {
	best, bestScore, ok := "", uint64(0), false
	for _, c := range candidates {
		s := Score(c, addr)
		if !ok || s > bestScore || (s == bestScore && c < best) {
			best, bestScore, ok = c, s, true
		}
	}
	return best, ok
}

// Member is what a node says about itself in its heartbeats.
type Member struct {
	Interfaces       []string
	DefaultInterface string
	// Ready is false while the node warms up (it has not heard its peers yet): it takes no
	// address, and nobody hands it one, so a restarting agent never answers on a partial view.
	Ready bool
}

// Assignment is the decided owner of one address.
type Assignment struct {
	Addr    netip.Addr
	Service string
	// Owner is "" when no eligible node is healthy or has a matching interface.
	Owner string
	// Interfaces are the owner's interfaces that answer.
	Interfaces []string
	// Candidates are the eligible nodes that were healthy and had a matching interface.
	Candidates []string
}

// Assign picks the owner of every address. members holds what each node reported (its
// interfaces); a node missing from it is not known to be up and is skipped. healthy says
// whether a node is up in this agent's view.
func Assign(addrs []plan.L2Address, members map[string]Member, healthy func(string) bool) []Assignment {
	out := make([]Assignment, 0, len(addrs))
	type cand struct {
		name   string
		ifaces []string
	}
	var cands []cand
	var names []string
	for _, a := range addrs {
		cands, names = cands[:0], names[:0]
		for _, n := range a.Nodes {
			m, ok := members[n.Name]
			if !ok || !m.Ready || !healthy(n.Name) {
				continue
			}
			ifs := n.MatchInterfaces(m.Interfaces, m.DefaultInterface)
			if len(ifs) == 0 {
				continue
			}
			cands = append(cands, cand{n.Name, ifs})
			names = append(names, n.Name)
		}
		as := Assignment{Addr: a.Addr, Service: a.Service.String(), Candidates: slices.Clone(names)}
		if owner, ok := Owner(a.Addr, names); ok {
			as.Owner = owner
			for _, c := range cands {
				if c.name == owner {
					as.Interfaces = c.ifaces
				}
			}
		}
		out = append(out, as)
	}
	return out
}
