package ipam

import (
	"net/netip"

	"github.com/google/btree"
)

// span is an inclusive run of free addresses.
type span struct {
	from, to netip.Addr
}

// freeList is the set of free addresses of one block, as disjoint spans in a B-tree ordered by
// their first address. A fresh /8 or IPv6 /64 is one span; the tree grows only as allocations
// fragment it, so memory follows allocations, not pool size. Every operation is O(log n) in the
// number of spans.
//
// The tree holds pointers so that trimming a span at either end can update it in place: the
// order between disjoint spans cannot change by shrinking one.
type freeList struct {
	t *btree.BTreeG[*span]
	// pivot is the search key, reused so lookups do not allocate (the allocator is not
	// concurrent, so neither is its free list).
	pivot span
}

func spanLess(a, b *span) bool { return a.from.Less(b.from) }

// newFreeList returns a list holding [from, to], or an empty list when from > to.
func newFreeList(from, to netip.Addr) *freeList {
	f := &freeList{t: btree.NewG(16, spanLess)}
	if from.IsValid() && from.Compare(to) <= 0 {
		f.t.ReplaceOrInsert(&span{from, to})
	}
	return f
}

// containing returns the span holding a, if a is free.
func (f *freeList) containing(a netip.Addr) *span {
	var hit *span
	f.pivot.from = a
	f.t.DescendLessOrEqual(&f.pivot, func(s *span) bool {
		hit = s
		return false
	})
	if hit == nil || hit.to.Less(a) {
		return nil
	}
	return hit
}

// take removes a from the free set; it reports false if a was not free.
func (f *freeList) take(a netip.Addr) bool {
	s := f.containing(a)
	if s == nil {
		return false
	}
	switch {
	case s.from == a && s.to == a:
		f.t.Delete(s)
	case s.from == a:
		s.from = a.Next()
	case s.to == a:
		s.to = a.Prev()
	default:
		rest := &span{from: a.Next(), to: s.to}
		s.to = a.Prev()
		f.t.ReplaceOrInsert(rest)
	}
	return true
}

// first returns the lowest free address for which ok is true, dropping the addresses it skips:
// they are the ones that may never be handed out (MetalLB's "buggy" .0/.255), so forgetting
// them keeps later scans short and loses nothing.
func (f *freeList) first(ok func(netip.Addr) bool) (netip.Addr, bool) {
	for {
		s, found := f.t.Min()
		if !found {
			return netip.Addr{}, false
		}
		if ok(s.from) {
			return s.from, true
		}
		f.take(s.from)
	}
}

// put returns a to the free set, merging it with its neighbours.
func (f *freeList) put(a netip.Addr) {
	var prev, next *span
	f.pivot.from = a
	f.t.DescendLessOrEqual(&f.pivot, func(s *span) bool {
		prev = s
		return false
	})
	if prev != nil && prev.from.Compare(a) <= 0 && a.Compare(prev.to) <= 0 {
		return // already free
	}
	f.t.AscendGreaterOrEqual(&f.pivot, func(s *span) bool {
		next = s
		return false
	})
	joinPrev := prev != nil && prev.to.Next() == a
	joinNext := next != nil && a.Next() == next.from
	switch {
	case joinPrev && joinNext:
		f.t.Delete(next)
		prev.to = next.to
	case joinPrev:
		prev.to = a
	case joinNext:
		next.from = a // still ordered: a sits between prev.to and the old next.from
	default:
		f.t.ReplaceOrInsert(&span{a, a})
	}
}

// spans is the number of spans, for tests and memory accounting.
func (f *freeList) spans() int { return f.t.Len() }
