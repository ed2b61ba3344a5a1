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
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/internal/plan"
)

// Score is the rendezvous score of node for addr: the highest score among the candidates wins.
// It mixes a hash of the node name with a hash of the address, so an evaluation hashes each
// name and each address once and then pays one mix per candidate. Every agent must compute
// the same scores: changing this function changes owners across a rolling upgrade.
func Score(node string, addr netip.Addr) uint64 { return combine(nodeHash(node), addrHash(addr)) }

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

func nodeHash(node string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(node); i++ {
		h = (h ^ uint64(node[i])) * fnvPrime
	}
	return mix(h)
}

func addrHash(addr netip.Addr) uint64 {
	b := addr.As16()
	return mix(binary.BigEndian.Uint64(b[:8])*fnvPrime ^ mix(binary.BigEndian.Uint64(b[8:])))
}

func combine(node, addr uint64) uint64 { return mix(node ^ addr) }

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
	ah := addrHash(addr)
	best, bestScore, ok := "", uint64(0), false
	for _, c := range candidates {
		s := combine(nodeHash(c), ah)
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
	type info struct {
		up   bool
		m    Member
		hash uint64
	}
	nodes := make(map[string]*info, len(members))
	for name, m := range members {
		nodes[name] = &info{up: m.Ready && healthy(name), m: m, hash: nodeHash(name)}
	}
	var names []string
	for _, a := range addrs {
		names = names[:0]
		ah := addrHash(a.Addr)
		best, bestScore := -1, uint64(0)
		for i, n := range a.Nodes {
			in := nodes[n.Name]
			if in == nil || !in.up || !n.AnyInterface(in.m.Interfaces, in.m.DefaultInterface) {
				continue
			}
			names = append(names, n.Name)
			if s := combine(in.hash, ah); best < 0 || s > bestScore || (s == bestScore && n.Name < a.Nodes[best].Name) {
				best, bestScore = i, s
			}
		}
		as := Assignment{Addr: a.Addr, Service: a.Service.String(), Candidates: slices.Clone(names)}
		if best >= 0 {
			n := a.Nodes[best]
			m := nodes[n.Name].m
			as.Owner, as.Interfaces = n.Name, n.MatchInterfaces(m.Interfaces, m.DefaultInterface)
		}
		out = append(out, as)
	}
	return out
}
