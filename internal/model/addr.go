package model

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
)

// Family is an IP address family.
type Family uint8

// The two families. The zero value means "not specified".
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "unspecified"
}

// FamilyOf returns the family of an address; IPv4-mapped IPv6 addresses are unmapped first by
// every parser here, so they count as IPv4.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// ParseFamily accepts the spellings Kubernetes and Cilium use ("IPv4", "ipv4", "IPv6", "ipv6").
func ParseFamily(s string) (Family, error) {
	switch strings.ToLower(s) {
	case "ipv4":
		return IPv4, nil
	case "ipv6":
		return IPv6, nil
	}
	return 0, fmt.Errorf("address family %q is not IPv4 or IPv6", s)
}

// Range is an inclusive range of addresses of one family.
type Range struct {
	From, To netip.Addr
}

// ErrRange is wrapped by every block parsing error.
var ErrRange = errors.New("invalid address block")

// Contains reports whether a lies inside the range.
func (r Range) Contains(a netip.Addr) bool {
	return r.From.BitLen() == a.BitLen() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// Overlaps reports whether the two ranges share an address.
func (r Range) Overlaps(o Range) bool {
	return r.From.BitLen() == o.From.BitLen() && r.From.Compare(o.To) <= 0 && o.From.Compare(r.To) <= 0
}

// Family is the family of the range's addresses.
func (r Range) Family() Family { return FamilyOf(r.From) }

// Size is the number of addresses in the range (a big.Int: an IPv6 /64 holds 2^64).
func (r Range) Size() *big.Int {
	n := new(big.Int).Sub(addrInt(r.To), addrInt(r.From))
	return n.Add(n, big.NewInt(1))
}

func (r Range) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	if p, ok := r.Prefix(); ok {
		return p.String()
	}
	return r.From.String() + "-" + r.To.String()
}

// Prefix returns the CIDR the range covers exactly, if it is one.
func (r Range) Prefix() (netip.Prefix, bool) {
	for bits := 0; bits <= r.From.BitLen(); bits++ {
		p := netip.PrefixFrom(r.From, bits)
		if p.Masked().Addr() == r.From && lastAddr(p) == r.To {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func addrInt(a netip.Addr) *big.Int {
	b := a.AsSlice()
	return new(big.Int).SetBytes(b)
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		lo := i * 8
		switch {
		case lo >= bits:
			b[i] = 0xff
		case lo+8 > bits:
			b[i] |= byte(0xff >> (bits - lo))
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// RangeOfPrefix returns the range of every address in p.
func RangeOfPrefix(p netip.Prefix) Range {
	p = p.Masked()
	return Range{From: p.Addr(), To: lastAddr(p)}
}

// ParseAddr parses one address, rejecting zones and unmapping IPv4-in-IPv6 so that one IPv4
// address has exactly one spelling inside Herald.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zoned addresses are not valid here", s)
	}
	return a.Unmap(), nil
}

// ParsePrefix parses a CIDR. Host bits must be zero, as Cilium and MetalLB require: "10.0.0.1/24"
// is almost always a typo for a /32 or for 10.0.0.0/24, and guessing would hand out the wrong
// addresses.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (want e.g. 10.0.0.0/24 or 2001:db8::/64)", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4 prefixes in IPv4 notation", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// Block is one entry of a pool's blocks: a CIDR or a start/stop range.
type Block struct {
	Range
	// CIDR is set when the block was written as a CIDR; reserved first/last addresses only
	// apply to those.
	CIDR netip.Prefix
}

// Prefixes returns the CIDRs that cover the block exactly (a start/stop range may need
// several): what a router filter or a local route must name.
func (b Block) Prefixes() []netip.Prefix {
	if b.CIDR.IsValid() {
		return []netip.Prefix{b.CIDR}
	}
	var out []netip.Prefix
	for a := b.From; a.IsValid() && a.Compare(b.To) <= 0; {
		bits := a.BitLen()
		// Grow the prefix while it stays aligned and inside the range.
		for bits > 0 {
			p, _ := a.Prefix(bits - 1)
			if p.Addr() != a || RangeOfPrefix(p).To.Compare(b.To) > 0 {
				break
			}
			bits--
		}
		p, _ := a.Prefix(bits)
		out = append(out, p)
		last := RangeOfPrefix(p).To
		if last == b.To {
			break
		}
		a = last.Next()
	}
	return out
}

// ParseBlock parses a pool block. Exactly one of cidr or start must be set; stop defaults to
// start (a single address), as in Cilium.
func ParseBlock(cidr, start, stop string) (Block, error) {
	switch {
	case cidr != "" && (start != "" || stop != ""):
		return Block{}, fmt.Errorf("%w: set either cidr or start/stop, not both", ErrRange)
	case cidr != "":
		p, err := ParsePrefix(cidr)
		if err != nil {
			return Block{}, fmt.Errorf("%w: cidr %w", ErrRange, err)
		}
		return Block{Range: RangeOfPrefix(p), CIDR: p}, nil
	case start != "":
		from, err := ParseAddr(start)
		if err != nil {
			return Block{}, fmt.Errorf("%w: start %w", ErrRange, err)
		}
		to := from
		if stop != "" {
			if to, err = ParseAddr(stop); err != nil {
				return Block{}, fmt.Errorf("%w: stop %w", ErrRange, err)
			}
		}
		if from.BitLen() != to.BitLen() {
			return Block{}, fmt.Errorf("%w: start %s and stop %s are of different families", ErrRange, from, to)
		}
		if from.Compare(to) > 0 {
			return Block{}, fmt.Errorf("%w: start %s is after stop %s", ErrRange, from, to)
		}
		return Block{Range: Range{From: from, To: to}}, nil
	case stop != "":
		return Block{}, fmt.Errorf("%w: stop %q without start", ErrRange, stop)
	}
	return Block{}, fmt.Errorf("%w: one of cidr or start is required", ErrRange)
}

// ParseRangeString parses MetalLB's address syntax, "CIDR" or "A-B", and also a bare address
// (a one-address block), which is how Range.String prints one.
func ParseRangeString(s string) (Block, error) {
	s = strings.TrimSpace(s)
	if from, to, ok := strings.Cut(s, "-"); ok {
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if from == "" || to == "" {
			return Block{}, fmt.Errorf("%w: %q: a range needs both ends, as in 10.0.0.10-10.0.0.20", ErrRange, s)
		}
		return ParseBlock("", from, to)
	}
	if !strings.Contains(s, "/") {
		return ParseBlock("", s, "")
	}
	return ParseBlock(s, "", "")
}
