package model

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Community is an RFC 1997 standard community, high 16 bits the AS.
type Community uint32

// LargeCommunity is an RFC 8092 large community.
type LargeCommunity struct {
	GlobalAdmin, Local1, Local2 uint32
}

// GracefulShutdown is RFC 8326's GRACEFUL_SHUTDOWN community (65535:0).
const GracefulShutdown Community = 0xFFFF0000

// WellKnownCommunities maps the names Cilium's CRDs accept (and GoBGP prints) to their values.
// The list is IANA's registry as Cilium exposes it: all fourteen names.
var WellKnownCommunities = map[string]Community{
	"internet":                   0x00000000,
	"planned-shut":               0xFFFF0000, // RFC 8326 graceful shutdown
	"accept-own":                 0xFFFF0001,
	"route-filter-translated-v4": 0xFFFF0002,
	"route-filter-v4":            0xFFFF0003,
	"route-filter-translated-v6": 0xFFFF0004,
	"route-filter-v6":            0xFFFF0005,
	"llgr-stale":                 0xFFFF0006,
	"no-llgr":                    0xFFFF0007,
	"blackhole":                  0xFFFF029A,
	"no-export":                  0xFFFFFF01,
	"no-advertise":               0xFFFFFF02,
	"no-export-subconfed":        0xFFFFFF03,
	"no-peer":                    0xFFFFFF04,
}

// ErrCommunity is wrapped by every community parsing error.
var ErrCommunity = errors.New("invalid community")

// ParseCommunity parses a standard community: "ASN:VALUE" (each 0-65535) or a decimal 32-bit
// number, as Cilium's CRD pattern allows.
func ParseCommunity(s string) (Community, error) {
	if hi, lo, ok := strings.Cut(s, ":"); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("%w: %q: want ASN:VALUE with both parts 0-65535", ErrCommunity, s)
		}
		return Community(h<<16 | l), nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: want ASN:VALUE (e.g. 65001:100) or a 32-bit number", ErrCommunity, s)
	}
	return Community(n), nil
}

// ParseWellKnownCommunity resolves one of the fourteen well-known names.
func ParseWellKnownCommunity(s string) (Community, error) {
	if c, ok := WellKnownCommunities[s]; ok {
		return c, nil
	}
	names := make([]string, 0, len(WellKnownCommunities))
	for n := range WellKnownCommunities {
		names = append(names, n)
	}
	slices.Sort(names)
	return 0, fmt.Errorf("%w: %q is not a well-known community name; valid: %s", ErrCommunity, s, strings.Join(names, ", "))
}

// ParseLargeCommunity parses "GLOBAL:LOCAL1:LOCAL2", each part a 32-bit number.
func ParseLargeCommunity(s string) (LargeCommunity, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return LargeCommunity{}, fmt.Errorf("%w: large community %q: want GLOBAL:LOCAL1:LOCAL2", ErrCommunity, s)
	}
	var v [3]uint32
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return LargeCommunity{}, fmt.Errorf("%w: large community %q: part %d is not a 32-bit number", ErrCommunity, s, i+1)
		}
		v[i] = uint32(n)
	}
	return LargeCommunity{v[0], v[1], v[2]}, nil
}

func (c Community) String() string {
	return fmt.Sprintf("%d:%d", uint32(c)>>16, uint32(c)&0xFFFF)
}

func (l LargeCommunity) String() string {
	return fmt.Sprintf("%d:%d:%d", l.GlobalAdmin, l.Local1, l.Local2)
}

// Communities are the community attributes one advertisement attaches.
type Communities struct {
	Standard []Community
	Large    []LargeCommunity
}

// Union merges o into c without duplicates and returns the result sorted, which is Cilium's
// rule when several advertisements match one prefix.
func (c Communities) Union(o Communities) Communities {
	out := Communities{
		Standard: append(slices.Clone(c.Standard), o.Standard...),
		Large:    append(slices.Clone(c.Large), o.Large...),
	}
	slices.Sort(out.Standard)
	out.Standard = slices.Compact(out.Standard)
	slices.SortFunc(out.Large, compareLarge)
	out.Large = slices.Compact(out.Large)
	return out
}

func compareLarge(a, b LargeCommunity) int {
	return cmp.Or(cmp.Compare(a.GlobalAdmin, b.GlobalAdmin), cmp.Compare(a.Local1, b.Local1), cmp.Compare(a.Local2, b.Local2))
}
