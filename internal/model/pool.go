package model

import "time"

// Pool is an LB-IPAM pool: Cilium's CiliumLoadBalancerIPPool plus MetalLB's scoping fields.
type Pool struct {
	Name    string
	Labels  map[string]string
	Created time.Time
	Blocks  []Block

	// ServiceSelector picks the Services this pool serves; nil serves every Service.
	ServiceSelector *Selector
	// AllowFirstLastIPs false reserves the network and broadcast address of CIDR blocks of /30
	// (IPv6 /126) and larger, as Cilium's allowFirstLastIPs: "No" does.
	AllowFirstLastIPs bool
	// AvoidBuggyIPs reserves every IPv4 address ending in .0 or .255, as MetalLB's field does.
	AvoidBuggyIPs bool
	// Disabled stops new allocations; existing ones are kept.
	Disabled bool
	// AutoAssign false makes the pool serve only Services that ask for it or for one of its
	// addresses (MetalLB's autoAssign).
	AutoAssign bool

	// Priority orders pools when several match a Service: lower first; pools without one come
	// after every pool with one; ties go by name so the choice is deterministic.
	Priority    int
	HasPriority bool
	// Namespaces and NamespaceSelectors restrict the pool to Services in those namespaces
	// (MetalLB's serviceAllocation); empty means any namespace.
	Namespaces         []string
	NamespaceSelectors []*Selector
	// ServiceSelectors are MetalLB's serviceAllocation.serviceSelectors, ORed; they apply on
	// top of ServiceSelector.
	ServiceSelectors []*Selector
}

// Serves reports whether the pool's selectors and scope admit the Service (ignoring
// AutoAssign, family and disabled state).
func (p *Pool) Serves(s *Service) bool {
	get := s.LabelFunc()
	if !p.ServiceSelector.Matches(get) {
		return false
	}
	if len(p.ServiceSelectors) > 0 && !anyMatches(p.ServiceSelectors, get) {
		return false
	}
	if len(p.Namespaces) > 0 || len(p.NamespaceSelectors) > 0 {
		inList := false
		for _, ns := range p.Namespaces {
			if ns == s.Key.Namespace {
				inList = true
				break
			}
		}
		if !inList && !anyMatches(p.NamespaceSelectors, MapLabels(s.NamespaceLabels)) {
			return false
		}
	}
	return true
}

func anyMatches(sels []*Selector, get LabelFunc) bool {
	for _, s := range sels {
		if s.Matches(get) {
			return true
		}
	}
	return false
}
