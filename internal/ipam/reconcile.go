package ipam

import (
	"slices"

	"github.com/heraldlb/herald/internal/model"
)

// Reconcile brings the allocator to the given pools and Services in the order that keeps
// addresses stable: set the pools, adopt every existing allocation (oldest Service first),
// then upsert every Service (oldest first, so that on a clash the older one keeps the
// address; see model.CompareAge), then forget Services that are gone. It returns the results sorted by key.
func (a *Allocator) Reconcile(pools []model.Pool, services []model.Service) []Result {
	a.SetPools(pools)
	order := make([]*model.Service, len(services))
	for i := range services {
		order[i] = &services[i]
	}
	slices.SortFunc(order, model.CompareAge)
	present := make(map[model.ServiceKey]bool, len(services))
	for _, s := range order {
		present[s.Key] = true
		a.Restore(s)
	}
	for _, k := range a.Services() {
		if !present[k] {
			a.Delete(k)
		}
	}
	for _, s := range order {
		a.Upsert(s)
	}
	return a.Results()
}
