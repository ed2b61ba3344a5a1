package plan

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/internal/model"
)

// routes computes one peer family's routes on one node: every entry of every advertisement
// the family selects, merged per prefix (communities united, highest LOCAL_PREF wins, as in
// Cilium).
func (c *computer) routes(n *model.Node, localASN uint32, p *Peer, f model.PeerFamily) []Route {
	if f.Advertisements == nil {
		c.problem("BGPPeerConfig", p.Config.Name, ReasonNoAdvertisementSelector, fmt.Sprintf("family %s has no advertisements selector, so it advertises nothing", f.AFISAFI))
		return nil
	}
	want := model.IPv4
	if f.AFI == "ipv6" {
		want = model.IPv6
	}
	merged := map[netip.Prefix]*Route{}
	add := func(pfx netip.Prefix, attrs model.PathAttributes) {
		if model.FamilyOf(pfx.Addr()) != want {
			return
		}
		r, ok := merged[pfx]
		if !ok {
			r = &Route{Prefix: pfx}
			merged[pfx] = r
		}
		r.Communities = r.Communities.Union(attrs.Communities)
		if lp := attrs.LocalPreference; lp != nil && p.IBGP(localASN) && (r.LocalPref == nil || *lp > *r.LocalPref) {
			v := *lp
			r.LocalPref = &v
		}
	}
	matched := 0
	for i := range c.in.Cluster.Advertisements {
		ad := &c.in.Cluster.Advertisements[i]
		if !f.Advertisements.Matches(model.MapLabels(ad.Labels)) {
			continue
		}
		matched++
		for _, e := range ad.Entries {
			switch e.Type {
			case model.AdvertisePodCIDR:
				for _, pfx := range n.PodCIDRs {
					add(pfx, e.Attributes)
				}
			case model.AdvertiseService:
				c.serviceRoutes(n, e, func(pfx netip.Prefix) { add(pfx, e.Attributes) })
			}
		}
	}
	if matched == 0 {
		c.problem("BGPPeerConfig", p.Config.Name, ReasonNoMatchingAdvertisement, fmt.Sprintf("family %s selects advertisements with %s, and no BGPAdvertisement has those labels", f.AFISAFI, f.Advertisements))
	}
	out := make([]Route, 0, len(merged))
	for _, r := range merged {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// serviceRoutes emits the prefixes one Service entry yields on node n.
func (c *computer) serviceRoutes(n *model.Node, e model.AdvertisementEntry, emit func(netip.Prefix)) {
	if e.Selector == nil {
		return // Cilium's BGPv2: a Service entry without a selector selects nothing
	}
	cl := c.in.Cluster
	for i := range cl.Services {
		s := &cl.Services[i]
		alloc := c.in.Allocations[s.Key]
		if !e.Selector.Matches(serviceLabels(s, alloc)) {
			continue
		}
		if n.Excluded() {
			continue // node.kubernetes.io/exclude-from-external-load-balancers
		}
		for _, at := range e.ServiceAddresses {
			local := s.ExternalTrafficPolicy == model.TrafficLocal
			var addrs []netip.Addr
			switch at {
			case model.AddressLoadBalancerIP:
				for _, a := range alloc {
					addrs = append(addrs, a.Addr)
				}
			case model.AddressClusterIP:
				addrs = s.ClusterIPs
				local = s.InternalTrafficPolicy == model.TrafficLocal
			case model.AddressExternalIP:
				addrs = c.allowedExternal(s)
			}
			if len(addrs) == 0 || !c.hasEndpoints(s, n, local) {
				continue
			}
			for _, a := range addrs {
				emit(prefixFor(a, e, local))
			}
		}
	}
}

// serviceLabels adds the virtual labels: namespace, name, and the pool of the LoadBalancer
// address (herald.io/lb-pool), which converted MetalLB and Cilium v1 selectors use.
func serviceLabels(s *model.Service, alloc []Allocated) model.LabelFunc {
	base := s.LabelFunc()
	return func(k string) (string, bool) {
		if k == model.LabelServicePool {
			if len(alloc) == 0 || alloc[0].Pool == "" {
				return "", false
			}
			return alloc[0].Pool, true
		}
		return base(k)
	}
}

// hasEndpoints applies the traffic policy. A Local Service is advertised only from nodes with
// a ready, non-terminating local endpoint. Any Service whose endpoint slices exist but hold no
// ready endpoint is withdrawn everywhere (unless AdvertiseWithoutEndpoints). A Service without
// any slice (a selector-less Service, or manifests that carry no slices) counts as having
// endpoints, except under Local, where no node can show one.
func (c *computer) hasEndpoints(s *model.Service, n *model.Node, local bool) bool {
	if local {
		return c.readyOn[s.Key][n.Name]
	}
	if !c.slices[s.Key] || c.in.Options.AdvertiseWithoutEndpoints {
		return true
	}
	return c.readyAny[s.Key]
}

func (c *computer) allowedExternal(s *model.Service) []netip.Addr {
	var out []netip.Addr
	for _, a := range s.ExternalIPs {
		if slices.ContainsFunc(c.in.Options.ExternalIPAllowList, func(p netip.Prefix) bool { return p.Contains(a) }) {
			out = append(out, a)
			continue
		}
		c.problem("Service", s.Key.String(), ReasonExternalIPNotAllowed,
			fmt.Sprintf("externalIP %s is outside the allowed external CIDRs, so it is not advertised (any namespace owner can set externalIPs; add the range to the allow-list if this one is intended)", a))
	}
	return out
}

// prefixFor returns the host route, or the aggregate for Cluster Services when an aggregation
// length is set. Local Services always keep host routes: an aggregate would draw traffic to
// nodes without endpoints.
func prefixFor(a netip.Addr, e model.AdvertisementEntry, local bool) netip.Prefix {
	bits := a.BitLen()
	agg := e.AggregationLengthIPv4
	if a.Is6() {
		agg = e.AggregationLengthIPv6
	}
	if agg != 0 && !local {
		bits = int(agg)
	}
	p, _ := a.Prefix(bits)
	return p
}
