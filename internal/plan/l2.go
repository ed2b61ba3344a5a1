package plan

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/model"
)

// L2Address is one address answered for with ARP/NDP and the nodes that may answer for it.
// Which one does is the election's job: it also needs the nodes' health and interfaces,
// which change faster than configuration.
type L2Address struct {
	Addr    netip.Addr
	Service model.ServiceKey
	// Policies are the L2 policies that select the Service, sorted.
	Policies []string
	// Nodes are the eligible nodes, sorted by name: selected by a policy, not excluded from
	// load balancers, not cordoned, and (externalTrafficPolicy Local) with a ready endpoint.
	Nodes []L2Node
}

// L2Node is one eligible node and the interfaces it would answer on.
type L2Node struct {
	Name string
	// Interfaces are the policies' interface patterns for this node, ORed. A nil pattern
	// stands for the interface of the node's default route (a policy without interfaces).
	Interfaces []*regexp.Regexp
}

// L2 condition reasons.
const (
	ReasonL2NoEligibleNode = "NoEligibleNode"
)

// L2Plan is the L2 side of the plan.
type L2Plan struct {
	Addresses []L2Address
	Problems  []Problem
}

// ComputeL2 finds, for every address an L2 policy selects, the nodes that may answer for it.
// It reads the same endpoints and externalIP allow-list as the BGP planner, so a Service is
// announced under the same rules whichever way it is announced.
func ComputeL2(in Input) *L2Plan {
	c := newComputer(in)
	cl := in.Cluster
	out := &L2Plan{}
	for i := range cl.Services {
		s := &cl.Services[i]
		alloc := in.Allocations[s.Key]
		labels := serviceLabels(s, alloc)
		var lbAddrs []netip.Addr
		for _, a := range alloc {
			lbAddrs = append(lbAddrs, a.Addr)
		}
		perAddr := map[netip.Addr]*L2Address{}
		var order []netip.Addr
		for pi := range cl.L2Policies {
			pol := &cl.L2Policies[pi]
			if pol.ServiceSelector != nil && !pol.ServiceSelector.Matches(labels) {
				continue
			}
			var addrs []netip.Addr
			if pol.LoadBalancerIPs {
				addrs = append(addrs, lbAddrs...)
			}
			if pol.ExternalIPs {
				addrs = append(addrs, c.allowedExternal(s)...)
			}
			if len(addrs) == 0 {
				continue
			}
			local := s.ExternalTrafficPolicy == model.TrafficLocal
			var nodes []L2Node
			for ni := range cl.Nodes {
				n := &cl.Nodes[ni]
				if pol.NodeSelector != nil && !pol.NodeSelector.Matches(model.MapLabels(n.Labels)) {
					continue
				}
				if n.Excluded() || n.Unschedulable || !c.hasEndpoints(s, n, local) {
					continue
				}
				ifs := pol.Interfaces
				if len(ifs) == 0 {
					ifs = []*regexp.Regexp{nil}
				}
				nodes = append(nodes, L2Node{Name: n.Name, Interfaces: ifs})
			}
			for _, a := range addrs {
				la, ok := perAddr[a]
				if !ok {
					la = &L2Address{Addr: a, Service: s.Key}
					perAddr[a] = la
					order = append(order, a)
				}
				la.Policies = append(la.Policies, pol.Name)
				la.Nodes = mergeL2Nodes(la.Nodes, nodes)
			}
		}
		for _, a := range order {
			la := perAddr[a]
			slices.Sort(la.Policies)
			la.Policies = slices.Compact(la.Policies)
			if len(la.Nodes) == 0 {
				c.problem("Service", s.Key.String(), ReasonL2NoEligibleNode, fmt.Sprintf(
					"%s is selected by L2 policy %v but no node may answer for it (node selector, exclusion label, cordon, or no ready local endpoint under externalTrafficPolicy Local)", a, la.Policies))
			}
			out.Addresses = append(out.Addresses, *la)
		}
	}
	slices.SortFunc(out.Addresses, func(a, b L2Address) int { return a.Addr.Compare(b.Addr) })
	out.Problems = c.problems()
	return out
}

// mergeL2Nodes adds nodes to have (sorted by name), uniting the interface patterns of a node
// that several policies select.
func mergeL2Nodes(have, add []L2Node) []L2Node {
	for _, n := range add {
		i, found := slices.BinarySearchFunc(have, n.Name, func(x L2Node, name string) int { return strings.Compare(x.Name, name) })
		if !found {
			have = slices.Insert(have, i, L2Node{Name: n.Name, Interfaces: slices.Clone(n.Interfaces)})
			continue
		}
		have[i].Interfaces = append(have[i].Interfaces, n.Interfaces...)
	}
	return have
}

// AnyInterface reports whether the patterns select at least one of names.
func (n L2Node) AnyInterface(names []string, defaultIface string) bool {
	for _, name := range names {
		for _, re := range n.Interfaces {
			if (re == nil && name == defaultIface) || (re != nil && re.MatchString(name)) {
				return true
			}
		}
	}
	return false
}

// MatchInterfaces returns, in the order given, the node's interfaces the patterns select; a
// nil pattern selects defaultIface.
func (n L2Node) MatchInterfaces(names []string, defaultIface string) []string {
	var out []string
	for _, name := range names {
		for _, re := range n.Interfaces {
			if (re == nil && name == defaultIface) || (re != nil && re.MatchString(name)) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}
