package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFreeListAgainstModel compares the span tree with a plain set on random take/put/first.
func TestFreeListAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	base := netip.MustParseAddr("10.0.0.0")
	addr := func(i int) netip.Addr {
		a := base
		for range i {
			a = a.Next()
		}
		return a
	}
	const n = 64
	f := newFreeList(addr(0), addr(n-1))
	free := map[int]bool{}
	for i := range n {
		free[i] = true
	}
	for step := range 20000 {
		i := rng.IntN(n)
		switch rng.IntN(3) {
		case 0:
			if got := f.take(addr(i)); got != free[i] {
				t.Fatalf("step %d: take(%d) = %v, want %v", step, i, got, free[i])
			}
			delete(free, i)
		case 1:
			f.put(addr(i))
			free[i] = true
		case 2:
			a, ok := f.first(func(netip.Addr) bool { return true })
			low := -1
			for j := range n {
				if free[j] {
					low = j
					break
				}
			}
			if ok != (low >= 0) || (ok && a != addr(low)) {
				t.Fatalf("step %d: first = %v %v, want %d", step, a, ok, low)
			}
		}
		for j := range n {
			if (f.containing(addr(j)) != nil) != free[j] {
				t.Fatalf("step %d: address %d free=%v in tree, %v in model", step, j, f.containing(addr(j)) != nil, free[j])
			}
		}
		if f.spans() > n/2+1 {
			t.Fatalf("step %d: %d spans for %d addresses: spans are not merged", step, f.spans(), n)
		}
	}
}

func TestFreeListEdgesOfAddressSpace(t *testing.T) {
	lo, hi := netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255")
	f := newFreeList(lo, hi)
	if !f.take(lo) || !f.take(hi) {
		t.Fatal("could not take the ends")
	}
	f.put(lo)
	f.put(hi)
	if f.spans() != 1 {
		t.Fatalf("%d spans after returning both ends", f.spans())
	}
	v6 := newFreeList(netip.MustParseAddr("::"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
	if !v6.take(netip.MustParseAddr("2001:db8::1")) || v6.spans() != 2 {
		t.Fatal("IPv6 split failed")
	}
}
