package ipam

import (
	"math/big"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/model"
)

// PoolStatus is a pool's state as `herald ipam pools` and the pool's status show it. Total
// counts allocatable addresses (reserved ones excluded), so Available = Total - Used: a /24
// with allowFirstLastIPs "No" and 11 Services reports 254, 11, 243.
type PoolStatus struct {
	Name          string
	Disabled      bool
	ConflictsWith string // "" unless the pool overlaps an older one
	Families      []model.Family
	Total         *big.Int
	Used          int
	Available     *big.Int
}

// Conflicting reports whether the pool overlaps an older pool.
func (p PoolStatus) Conflicting() bool { return p.ConflictsWith != "" }

// Pools returns every pool's status, sorted by name.
func (a *Allocator) Pools() []PoolStatus {
	out := make([]PoolStatus, 0, len(a.pools))
	for _, p := range a.pools {
		ps := PoolStatus{Name: p.Name, Disabled: p.Disabled, ConflictsWith: p.conflictsWith, Used: p.used}
		for _, f := range []model.Family{model.IPv4, model.IPv6} {
			if p.hasFamily(f) {
				ps.Families = append(ps.Families, f)
			}
		}
		ps.Total = p.total()
		ps.Available = new(big.Int).Sub(ps.Total, big.NewInt(int64(p.used)))
		if p.conflictsWith != "" || ps.Available.Sign() < 0 {
			ps.Available.SetInt64(0) // a conflicting pool hands out nothing
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(x, y PoolStatus) int { return strings.Compare(x.Name, y.Name) })
	return out
}
