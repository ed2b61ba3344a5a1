package ipam

import (
	"math/big"
	"net/netip"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/model"
)

// pool is a model.Pool with its allocation state.
type pool struct {
	model.Pool
	// conflictsWith names the older pool this one overlaps; such a pool allocates nothing.
	conflictsWith string
	blocks        []*block
	family        [2]bool // has IPv4 blocks, has IPv6 blocks
	used          int
}

// block is one block of a pool with its free addresses. Conflicting pools have no free lists:
// they hand nothing out, and leaving them out means an address is free in at most one list.
type block struct {
	model.Block
	pool *pool
	// lo and hi are the first and last allocatable addresses (after reserving network and
	// broadcast); lo > hi when nothing is allocatable.
	lo, hi netip.Addr
	free   *freeList
	total  *big.Int
}

func familyIndex(f model.Family) int {
	if f == model.IPv6 {
		return 1
	}
	return 0
}

func newPool(p model.Pool) *pool {
	np := &pool{Pool: p}
	for _, b := range p.Blocks {
		nb := &block{Block: b, pool: np, lo: b.From, hi: b.To}
		if reservesFirstLast(p, b) {
			nb.lo, nb.hi = b.From.Next(), b.To.Prev()
		}
		nb.total = countAllocatable(nb.lo, nb.hi, p.AvoidBuggyIPs)
		np.blocks = append(np.blocks, nb)
		np.family[familyIndex(b.Family())] = true
	}
	slices.SortFunc(np.blocks, func(a, b *block) int { return a.From.Compare(b.From) })
	return np
}

// reservesFirstLast applies Cilium's allowFirstLastIPs: "No": the network and broadcast
// addresses of CIDR blocks of /30 (IPv6 /126) and larger are not handed out; /31, /32, /127,
// /128 and start/stop ranges are used whole.
func reservesFirstLast(p model.Pool, b model.Block) bool {
	if p.AllowFirstLastIPs || !b.CIDR.IsValid() {
		return false
	}
	return b.CIDR.Bits() <= b.CIDR.Addr().BitLen()-2
}

// buggy reports MetalLB's avoidBuggyIPs addresses: IPv4 addresses ending in .0 or .255, which
// some old client stacks refuse to talk to.
func buggy(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	last := a.As4()[3]
	return last == 0 || last == 255
}

// allocatable reports whether a may be handed out from b.
func (b *block) allocatable(a netip.Addr) bool {
	if !b.lo.IsValid() || a.Less(b.lo) || b.hi.Less(a) {
		return false
	}
	return !(b.pool.AvoidBuggyIPs && buggy(a))
}

// countAllocatable counts [lo, hi], less the .0/.255 addresses when avoidBuggy is set.
func countAllocatable(lo, hi netip.Addr, avoidBuggy bool) *big.Int {
	if !lo.IsValid() || !hi.IsValid() || hi.Less(lo) {
		return new(big.Int)
	}
	n := model.Range{From: lo, To: hi}.Size()
	if avoidBuggy && lo.Is4() {
		f, t := int64(u32(lo)), int64(u32(hi))
		n.Sub(n, big.NewInt(countResidue(f, t, 0)+countResidue(f, t, 255)))
	}
	return n
}

// countResidue counts x in [f, t] with x mod 256 == r.
func countResidue(f, t, r int64) int64 {
	floorDiv := func(a int64) int64 {
		if a >= 0 {
			return a / 256
		}
		return -((-a + 255) / 256)
	}
	return floorDiv(t-r) - floorDiv(f-1-r)
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// blockOf returns the block of p holding a, if any.
func (p *pool) blockOf(a netip.Addr) *block {
	i, _ := slices.BinarySearchFunc(p.blocks, a, func(b *block, a netip.Addr) int {
		if b.To.Less(a) {
			return -1
		}
		if a.Less(b.From) {
			return 1
		}
		return 0
	})
	if i < len(p.blocks) && p.blocks[i].Contains(a) {
		return p.blocks[i]
	}
	return nil
}

func (p *pool) hasFamily(f model.Family) bool { return p.family[familyIndex(f)] }

func (p *pool) total() *big.Int {
	t := new(big.Int)
	for _, b := range p.blocks {
		t.Add(t, b.total)
	}
	return t
}

// choiceOrder sorts pools as Services pick them: lower priority first, pools without a
// priority after all with one, then by name, so the choice never depends on map order.
func choiceOrder(a, b *pool) int {
	switch {
	case a.HasPriority != b.HasPriority:
		if a.HasPriority {
			return -1
		}
		return 1
	case a.HasPriority && a.Priority != b.Priority:
		return a.Priority - b.Priority
	}
	return strings.Compare(a.Name, b.Name)
}

// markConflicts marks every pool that overlaps an older one, Cilium's rule: the oldest (then
// lexically first) pool keeps the addresses; the newer one allocates nothing until the overlap
// is gone.
func markConflicts(pools []*pool) {
	byAge := slices.Clone(pools)
	slices.SortFunc(byAge, func(a, b *pool) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var kept []*pool
	for _, p := range byAge {
		for _, k := range kept {
			if overlaps(p, k) {
				p.conflictsWith = k.Name
				break
			}
		}
		if p.conflictsWith == "" {
			kept = append(kept, p)
		}
	}
}

func overlaps(a, b *pool) bool {
	for _, x := range a.blocks {
		for _, y := range b.blocks {
			if x.Overlaps(y.Range) {
				return true
			}
		}
	}
	return false
}
