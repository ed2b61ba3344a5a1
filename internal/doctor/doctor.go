// Package doctor explains what is wrong with a Herald setup: it runs named checks over the
// configuration, the allocation results, the BGP plan, the live session state and active
// probes of sessions that are down, and returns findings that say what is wrong, why, how to
// fix it, and the evidence. It is pure: gathering the inputs (reading manifests, asking the
// running Herald, probing peers) is the caller's job.
package doctor

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
)

// Severity of a finding.
type Severity string

// Errors break something a user relies on; warnings probably do; info says what to check.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Finding is one thing doctor found.
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Object   string   `json:"object"`
	Field    string   `json:"field,omitempty"`
	// Problem says what is wrong and what it means; Fix what to do; Evidence what it was
	// seen in (a status line, a counter, a selector that matched nothing).
	Problem  string `json:"problem"`
	Fix      string `json:"fix"`
	Evidence string `json:"evidence,omitempty"`
}

// ManifestProblem is a loader problem (kept small so this package needs no manifest import).
type ManifestProblem struct {
	Severity, Source, Object, Field, Message string
}

// Input is everything the checks read. Zero values mean "not known": a check that needs a
// missing input is skipped.
type Input struct {
	Cluster          *model.Cluster
	ManifestProblems []ManifestProblem
	Results          []ipam.Result
	Pools            []ipam.PoolStatus
	Plan             *plan.Plan
	PlanOptions      plan.Options
	// Node is the node this Herald plays (standalone --node).
	Node string
	// BGP is the live session state; Probes the active checks of peers that are down, by
	// peer address.
	BGP    []bgp.InstanceStatus
	Probes map[string]bgp.ProbeResult
	// Interfaces are the local node's interface names, for L2 policies.
	Interfaces []string
	// L2Plan is the L2 side of the plan; L2 the running node's live L2 view; L2Conflicts the
	// other hosts (MACs) that answered ARP/NDP for an address this node owns, by address.
	L2Plan      *plan.L2Plan
	L2          *L2Live
	L2Conflicts map[string][]string
	// AgentReports says, in cluster mode, for each node with a BGPNodeConfig whether its agent
	// wrote session state into it (nil outside cluster mode).
	AgentReports map[string]bool
}

// L2Live is a running node's L2 view (kept small so this package needs no status import).
type L2Live struct {
	Node   string
	Fenced bool
	Why    string
	// States is every node's health state in this node's view.
	States map[string]string
	// Interfaces are the interfaces every node reported in its heartbeats.
	Interfaces    map[string][]string
	Announcements []L2Announcement
}

// viewer says whose view the live L2 state is.
func (l *L2Live) viewer() string {
	if l.Node == "" {
		return "as the nodes' Leases tell"
	}
	return "in " + l.Node + "'s view"
}

// L2Announcement is one address and who answers for it.
type L2Announcement struct {
	IP, Service, Owner string
	Interfaces         []string
	Candidates         []string
}

// Check is one named check.
type Check struct {
	Name string
	Run  func(*Input) []Finding
}

// Checks are every check, in the order they are reported.
var Checks = []Check{
	{"manifest", checkManifests},
	{"unsubstituted-variable", checkUnsubstituted},
	{"service-without-address", checkUnsatisfied},
	{"overlapping-pools", checkOverlappingPools},
	{"conflicting-cluster-configs", checkPlanReason(plan.ReasonConflictingClusterConfig)},
	{"cluster-config-selects-no-node", checkPlanReason(plan.ReasonNoMatchingNode)},
	{"peer-without-peer-config", checkPlanReason(plan.ReasonMissingPeerConfig)},
	{"family-selects-no-advertisement", checkPlanReason(plan.ReasonNoMatchingAdvertisement, plan.ReasonNoAdvertisementSelector)},
	{"advertisement-selects-no-service", checkAdvertisementSelectsNothing},
	{"external-ip-not-allowed", checkPlanReason(plan.ReasonExternalIPNotAllowed)},
	{"local-service-without-endpoint", checkLocalWithoutEndpoint},
	{"aggregate-beyond-pools", checkAggregates},
	{"sharing-across-namespaces", checkCrossNamespaceSharing},
	{"announced-twice", checkL2AndBGPOverlap},
	{"l2-interface-missing", checkL2Interfaces},
	{"l2-interface-on-no-node", checkL2InterfacesAnywhere},
	{"l2-no-eligible-node", checkL2NoEligibleNode},
	{"l2-unanswered", checkL2Unanswered},
	{"l2-fenced", checkL2Fenced},
	{"l2-node-down", checkL2NodeDown},
	{"l2-address-conflict", checkL2Conflicts},
	{"agent-not-reporting", checkAgentReports},
	{"bgp-session", checkSessions},
	{"router-side", checkRouterSide},
}

// Run runs every check and returns the findings, errors first.
func Run(in *Input) []Finding {
	var out []Finding
	for _, c := range Checks {
		for _, f := range c.Run(in) {
			f.Check = c.Name
			out = append(out, f)
		}
	}
	rank := map[Severity]int{Error: 0, Warning: 1, Info: 2}
	slices.SortStableFunc(out, func(a, b Finding) int { return cmp.Compare(rank[a.Severity], rank[b.Severity]) })
	return out
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == Error })
}

func checkManifests(in *Input) []Finding {
	var out []Finding
	for _, p := range in.ManifestProblems {
		if isPlaceholder(p.Message) {
			continue // reported by unsubstituted-variable with its own fix
		}
		sev := Warning
		if p.Severity == string(Error) {
			sev = Error
		}
		out = append(out, Finding{Severity: sev, Object: p.Object, Field: p.Field, Problem: p.Message,
			Fix: "edit " + p.Source, Evidence: p.Source})
	}
	return out
}

// checkUnsubstituted reads the loader's problems rather than the Services in force: a broken
// definition replaced by a later good one in the same directory must still be reported.
func checkUnsubstituted(in *Input) []Finding {
	var out []Finding
	for _, p := range in.ManifestProblems {
		if !isPlaceholder(p.Message) {
			continue
		}
		value, _, _ := strings.Cut(p.Message, " is ")
		out = append(out, Finding{Severity: Error, Object: p.Object, Field: p.Field,
			Problem:  fmt.Sprintf("the annotation holds %s: a templating step left it unfilled, so the Service gets no address (it keeps one it already had)", value),
			Fix:      "with Flux, add postBuild.substituteFrom (the ConfigMap or Secret holding the variable) to the Kustomization that applies this Service; with Helm, set the value; then check with `kubectl get svc -o yaml`",
			Evidence: p.Source + ": " + p.Field + ": " + value})
	}
	return out
}

func isPlaceholder(msg string) bool {
	return strings.Contains(msg, "unsubstituted variable") || strings.Contains(msg, "literal null")
}

// reasonFix says, per allocation reason, what to do (ipam.Reason.Meaning says what it means).
var reasonFix = map[ipam.Reason]string{
	ipam.NoPool:               "add a LoadBalancerIPPool with a block of the family the Service asks for, or request an address inside an existing pool",
	ipam.PoolSelectorMismatch: "give the Service the labels a pool's serviceSelector asks for, or widen the pool's selector (the evidence names the pool and selector)",
	ipam.PoolDisabled:         "set spec.disabled: false on the pool, or add another pool",
	ipam.PoolConflicting:      "remove the overlap between the pools",
	ipam.OutOfIPs:             "add a block to the pool or add a pool",
	ipam.AlreadyAllocated:     "request another address, or give both Services the same sharing key (herald.io/sharing-key) if they should share it",
	ipam.IncompatibleSharing:  "use distinct ports, the same externalTrafficPolicy (and the same pod selector for Local), and allow each other's namespace with herald.io/sharing-cross-namespace",
	ipam.ReservedIP:           "request another address, or set allowFirstLastIPs: \"Yes\" / avoidBuggyIPs: false on the pool",
	ipam.BadAnnotation:        "fix the value the evidence names; the Service keeps the address it had",
}

func checkUnsatisfied(in *Input) []Finding {
	var out []Finding
	for _, r := range in.Results {
		if r.Satisfied || r.Reason == ipam.NotOurs {
			continue
		}
		if r.Reason == ipam.BadAnnotation && isPlaceholder(r.Message) {
			continue // unsubstituted-variable explains it better
		}
		f := Finding{Severity: Error, Object: "Service " + r.Service.String(), Problem: "the Service has no address: " + r.Reason.Meaning(), Fix: reasonFix[r.Reason],
			Evidence: fmt.Sprintf("%s: %s", r.Reason, r.Message)}
		if r.Reason == ipam.NoPool && strings.Contains(r.Message, "requested") {
			f.Problem = "the Service asks for an address outside every pool"
			f.Fix = "request an address inside a pool, or add a pool block covering it"
		}
		out = append(out, f)
	}
	return out
}

func checkOverlappingPools(in *Input) []Finding {
	var out []Finding
	for _, p := range in.Pools {
		if p.ConflictsWith != "" {
			out = append(out, Finding{Severity: Error, Object: "LoadBalancerIPPool " + p.Name, Field: "spec.blocks",
				Problem:  fmt.Sprintf("its blocks overlap pool %s, which is older; this pool hands out no address until the overlap is gone", p.ConflictsWith),
				Fix:      "remove the overlapping block from one of the two pools",
				Evidence: "conflicting with " + p.ConflictsWith})
		}
	}
	return out
}

// checkPlanReason turns the planner's conditions into findings.
func checkPlanReason(reasons ...string) func(*Input) []Finding {
	fixes := map[string]string{
		plan.ReasonConflictingClusterConfig: "make the nodeSelectors of the cluster configs disjoint; the node stays with the older config until then",
		plan.ReasonNoMatchingNode:           "fix the nodeSelector or label the nodes that should peer",
		plan.ReasonMissingPeerConfig:        "create the BGPPeerConfig, or point peerConfigRef at an existing one; its families must select advertisements",
		plan.ReasonNoMatchingAdvertisement:  "label a BGPAdvertisement with the labels the family's advertisements selector asks for, or change the selector",
		plan.ReasonNoAdvertisementSelector:  "add families[].advertisements (a label selector) to the peer config",
		plan.ReasonExternalIPNotAllowed:     "if the address is intended, add its range to --external-ip-cidrs; otherwise remove it from spec.externalIPs",
	}
	return func(in *Input) []Finding {
		if in.Plan == nil {
			return nil
		}
		var out []Finding
		for _, p := range in.Plan.Problems {
			if !slices.Contains(reasons, p.Reason) {
				continue
			}
			sev := Warning
			if p.Reason == plan.ReasonMissingPeerConfig || p.Reason == plan.ReasonConflictingClusterConfig {
				sev = Error
			}
			out = append(out, Finding{Severity: sev, Object: p.Kind + " " + p.Name, Problem: p.Message, Fix: fixes[p.Reason], Evidence: p.Reason})
		}
		return out
	}
}

// advertised reports whether some Service advertisement entry selects s.
func serviceEntries(c *model.Cluster) []struct {
	ad    *model.BGPAdvertisement
	index int
	entry model.AdvertisementEntry
} {
	var out []struct {
		ad    *model.BGPAdvertisement
		index int
		entry model.AdvertisementEntry
	}
	for i := range c.Advertisements {
		for j, e := range c.Advertisements[i].Entries {
			if e.Type == model.AdvertiseService && e.Selector != nil {
				out = append(out, struct {
					ad    *model.BGPAdvertisement
					index int
					entry model.AdvertisementEntry
				}{&c.Advertisements[i], j, e})
			}
		}
	}
	return out
}

func checkAdvertisementSelectsNothing(in *Input) []Finding {
	var out []Finding
	for _, se := range serviceEntries(in.Cluster) {
		matched := false
		for i := range in.Cluster.Services {
			if se.entry.Selector.Matches(in.Cluster.Services[i].LabelFunc()) {
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, Finding{Severity: Warning, Object: "BGPAdvertisement " + se.ad.Name, Field: fmt.Sprintf("spec.advertisements[%d].selector", se.index),
				Problem: "the selector matches no Service, so this entry advertises nothing", Fix: "label the Services to advertise accordingly, or fix the selector",
				Evidence: "selector " + se.entry.Selector.String()})
		}
	}
	return out
}

func checkLocalWithoutEndpoint(in *Input) []Finding {
	if in.Plan == nil {
		return nil
	}
	advertised := map[netip.Addr]bool{}
	for _, n := range in.Plan.Nodes {
		for _, i := range n.Instances {
			for _, p := range i.Peers {
				for _, f := range p.Families {
					for _, r := range f.Routes {
						advertised[r.Prefix.Addr()] = true
					}
				}
			}
		}
	}
	var out []Finding
	for _, s := range in.Cluster.Services {
		if s.ExternalTrafficPolicy != model.TrafficLocal {
			continue
		}
		res := result(in.Results, s.Key)
		if len(res.Addrs) == 0 || !selectedByAnyEntry(in.Cluster, &s) {
			continue
		}
		for _, a := range res.Addrs {
			if !advertised[a] {
				out = append(out, Finding{Severity: Error, Object: "Service " + s.Key.String(),
					Problem:  fmt.Sprintf("externalTrafficPolicy is Local and no announcing node has a ready endpoint of it, so %s is advertised by no node", a),
					Fix:      "check the pods are running and ready on nodes that peer (kubectl get endpointslices), or use externalTrafficPolicy: Cluster",
					Evidence: fmt.Sprintf("%s selected for advertisement, withdrawn on every node", a)})
			}
		}
	}
	return out
}

func selectedByAnyEntry(c *model.Cluster, s *model.Service) bool {
	for _, se := range serviceEntries(c) {
		if se.entry.Selector.Matches(s.LabelFunc()) {
			return true
		}
	}
	return false
}

func result(rs []ipam.Result, k model.ServiceKey) ipam.Result {
	for _, r := range rs {
		if r.Service == k {
			return r
		}
	}
	return ipam.Result{}
}

// checkAggregates warns where an aggregate covers addresses no pool hands out: the router
// then sends traffic for them to the nodes, which may send it back (a routing loop).
func checkAggregates(in *Input) []Finding {
	var out []Finding
	for _, se := range serviceEntries(in.Cluster) {
		for _, bits := range []uint8{se.entry.AggregationLengthIPv4, se.entry.AggregationLengthIPv6} {
			if bits == 0 {
				continue
			}
			for _, pool := range in.Cluster.Pools {
				for _, b := range pool.Blocks {
					agg, _ := b.From.Prefix(int(bits))
					if agg.Addr().BitLen() != b.From.BitLen() {
						continue
					}
					r := model.RangeOfPrefix(agg)
					if r.From.Compare(b.From) < 0 || r.To.Compare(b.To) > 0 {
						out = append(out, Finding{Severity: Warning, Object: "BGPAdvertisement " + se.ad.Name, Field: fmt.Sprintf("spec.advertisements[%d].service", se.index),
							Problem:  fmt.Sprintf("aggregating to /%d announces %s, which is larger than pool %s's block %s: traffic for addresses no pool hands out is drawn to the nodes (a routing loop risk)", bits, agg, pool.Name, b.Range),
							Fix:      "use an aggregation length no shorter than the pool blocks, or widen the pool",
							Evidence: fmt.Sprintf("aggregate %s, block %s", agg, b.Range)})
					}
				}
			}
		}
	}
	return out
}

// checkCrossNamespaceSharing finds Services with one sharing key in several namespaces that
// do not allow each other: MetalLB shares on the key alone, Herald (like Cilium) needs both
// sides to allow it, so migrated Services lose their shared address.
func checkCrossNamespaceSharing(in *Input) []Finding {
	byKey := map[string][]*model.Service{}
	for i := range in.Cluster.Services {
		s := &in.Cluster.Services[i]
		if k := s.Request.SharingKey; k != "" {
			byKey[k] = append(byKey[k], s)
		}
	}
	var out []Finding
	for key, svcs := range byKey {
		for _, a := range svcs {
			for _, b := range svcs {
				if a.Key.Namespace >= b.Key.Namespace {
					continue
				}
				if allows(a, b.Key.Namespace) && allows(b, a.Key.Namespace) {
					continue
				}
				out = append(out, Finding{Severity: Warning, Object: "Service " + a.Key.String(),
					Problem:  fmt.Sprintf("it shares key %q with %s in another namespace, which Herald allows only when both Services allow it (MetalLB did not ask)", key, b.Key),
					Fix:      fmt.Sprintf("annotate %s with herald.io/sharing-cross-namespace: %s and %s with herald.io/sharing-cross-namespace: %s", a.Key, b.Key.Namespace, b.Key, a.Key.Namespace),
					Evidence: "sharing key " + key})
			}
		}
	}
	slices.SortFunc(out, func(x, y Finding) int { return strings.Compare(x.Object, y.Object) })
	return out
}

func allows(s *model.Service, ns string) bool {
	return slices.Contains(s.Request.SharingCrossNamespace, "*") || slices.Contains(s.Request.SharingCrossNamespace, ns)
}

// checkL2AndBGPOverlap finds addresses announced by more than one L2 policy, or by L2 and
// BGP at once: several nodes may answer ARP, or the router learns the address twice.
func checkL2AndBGPOverlap(in *Input) []Finding {
	var out []Finding
	for _, s := range in.Cluster.Services {
		var policies []string
		for _, p := range in.Cluster.L2Policies {
			if p.LoadBalancerIPs && p.ServiceSelector.Matches(s.LabelFunc()) {
				policies = append(policies, p.Name)
			}
		}
		bgpToo := selectedByAnyEntry(in.Cluster, &s)
		if len(policies) > 1 || (len(policies) == 1 && bgpToo) {
			what := "L2 policies " + strings.Join(policies, " and ")
			if bgpToo {
				what += " and a BGP advertisement"
			}
			out = append(out, Finding{Severity: Warning, Object: "Service " + s.Key.String(),
				Problem: "its address is announced by " + what + "; pick one way per Service",
				Fix:     "narrow the serviceSelector of the L2 policies, or exclude the Service from the BGP advertisement (e.g. a label the selector excludes)", Evidence: what})
		}
	}
	return out
}

func checkL2Interfaces(in *Input) []Finding {
	if in.Node == "" || in.Interfaces == nil {
		return nil
	}
	var node *model.Node
	for i := range in.Cluster.Nodes {
		if in.Cluster.Nodes[i].Name == in.Node {
			node = &in.Cluster.Nodes[i]
		}
	}
	if node == nil {
		return nil
	}
	var out []Finding
	for _, p := range in.Cluster.L2Policies {
		if len(p.Interfaces) == 0 || !p.NodeSelector.Matches(model.MapLabels(node.Labels)) {
			continue
		}
		if !slices.ContainsFunc(p.Interfaces, func(re *regexp.Regexp) bool {
			return slices.ContainsFunc(in.Interfaces, re.MatchString)
		}) {
			var exprs []string
			for _, re := range p.Interfaces {
				exprs = append(exprs, re.String())
			}
			out = append(out, Finding{Severity: Warning, Object: "L2AnnouncementPolicy " + p.Name, Field: "spec.interfaces",
				Problem:  fmt.Sprintf("none of its interfaces exists on node %s, which the policy selects, so this node answers for nothing", in.Node),
				Fix:      "fix the interface expressions (they are regular expressions, e.g. ^enp86s0\\.122$), or create the VLAN interface",
				Evidence: fmt.Sprintf("expressions %s; interfaces %s", strings.Join(exprs, ", "), strings.Join(in.Interfaces, ", "))})
		}
	}
	return out
}

func checkL2NoEligibleNode(in *Input) []Finding {
	if in.L2Plan == nil {
		return nil
	}
	var out []Finding
	for _, a := range in.L2Plan.Addresses {
		if len(a.Nodes) > 0 {
			continue
		}
		out = append(out, Finding{Severity: Error, Object: "Service " + a.Service.String(),
			Problem:  fmt.Sprintf("%s is selected by L2 policy %s, but no node may answer ARP/NDP for it, so nothing on the LAN reaches it", a.Addr, strings.Join(a.Policies, ", ")),
			Fix:      "check the policy's nodeSelector against the node labels, the exclusion label node.kubernetes.io/exclude-from-external-load-balancers and cordons; with externalTrafficPolicy: Local a node needs a ready endpoint of the Service",
			Evidence: "eligible nodes: none"})
	}
	return out
}

func checkL2Unanswered(in *Input) []Finding {
	if in.L2 == nil || in.L2Plan == nil {
		return nil
	}
	eligible := map[string][]string{}
	for _, a := range in.L2Plan.Addresses {
		for _, n := range a.Nodes {
			eligible[a.Addr.String()] = append(eligible[a.Addr.String()], n.Name)
		}
	}
	var out []Finding
	for _, a := range in.L2.Announcements {
		if a.Owner != "" || len(eligible[a.IP]) == 0 {
			continue // answered, or reported by l2-no-eligible-node
		}
		var states []string
		for _, n := range eligible[a.IP] {
			states = append(states, n+" "+cmp.Or(in.L2.States[n], "unknown"))
		}
		out = append(out, Finding{Severity: Error, Object: "Service " + a.Service,
			Problem:  fmt.Sprintf("nobody answers ARP/NDP for %s: its eligible nodes are all down (%s), or none has an interface the policy names", a.IP, in.L2.viewer()),
			Fix:      "start herald on an eligible node, open the heartbeat port (7947/udp) between the nodes, or fix the policy's interfaces (herald l2 nodes lists what each node reported)",
			Evidence: "eligible: " + strings.Join(states, ", ")})
	}
	return out
}

func checkL2Fenced(in *Input) []Finding {
	if in.L2 == nil || !in.L2.Fenced {
		return nil
	}
	return []Finding{{Severity: Error, Object: "Node " + in.L2.Node,
		Problem:  "this node answers no ARP/NDP: " + in.L2.Why,
		Fix:      "let the heartbeats through between the nodes (UDP port 7947 by default, both ways: firewall rules, routes, the node's address in its Node object); the node takes its addresses back as soon as it hears a peer",
		Evidence: "herald l2 nodes shows this node as fenced"}}
}

func checkL2NodeDown(in *Input) []Finding {
	if in.L2 == nil {
		return nil
	}
	var out []Finding
	for _, n := range slices.Sorted(maps.Keys(in.L2.States)) {
		if in.L2.States[n] != "down" {
			continue
		}
		out = append(out, Finding{Severity: Warning, Object: "Node " + n,
			Problem:  fmt.Sprintf("%s: %s is not heard by any node, and its L2 addresses moved to other nodes", in.L2.viewer(), n),
			Fix:      fmt.Sprintf("check that herald runs on %s and that UDP port 7947 is open between the nodes; the addresses move back when it is heard again", n),
			Evidence: "herald l2 nodes: " + n + " down"})
	}
	return out
}

func checkL2Conflicts(in *Input) []Finding {
	var out []Finding
	for _, ip := range slices.Sorted(maps.Keys(in.L2Conflicts)) {
		macs := in.L2Conflicts[ip]
		if len(macs) == 0 {
			continue
		}
		out = append(out, Finding{Severity: Error, Object: "address " + ip,
			Problem:  fmt.Sprintf("another host answers ARP/NDP for %s, which this node owns: clients reach whichever answered last", ip),
			Fix:      "find the host with that MAC (the switch's MAC table, `ip neigh` on a client) and remove the address there: a static address, another load balancer (MetalLB, kube-vip) still announcing it, or a DHCP lease inside the pool",
			Evidence: "answered by " + strings.Join(macs, ", ")})
	}
	return out
}

func checkAgentReports(in *Input) []Finding {
	var out []Finding
	for _, n := range slices.Sorted(maps.Keys(in.AgentReports)) {
		if in.AgentReports[n] {
			continue
		}
		out = append(out, Finding{Severity: Warning, Object: "BGPNodeConfig " + n,
			Problem:  fmt.Sprintf("no agent reports sessions for node %s: its BGP configuration exists, but nothing runs it", n),
			Fix:      "check the herald agent pod on that node (kubectl -n herald-system get pods -l app.kubernetes.io/component=agent -o wide, and its logs); the node may be excluded by the DaemonSet's nodeSelector or tolerations",
			Evidence: "status.bgpInstances is empty"})
	}
	return out
}

// checkL2InterfacesAnywhere uses every node's reported interfaces (the heartbeats) to find a
// policy whose interfaces exist on none of the nodes it selects: nothing answers for it.
func checkL2InterfacesAnywhere(in *Input) []Finding {
	if in.L2 == nil || len(in.L2.Interfaces) == 0 {
		return nil
	}
	var out []Finding
	for _, p := range in.Cluster.L2Policies {
		if len(p.Interfaces) == 0 {
			continue
		}
		var seen []string
		matched := false
		for _, n := range in.Cluster.Nodes {
			ifs, known := in.L2.Interfaces[n.Name]
			if !known || n.Excluded() || !p.NodeSelector.Matches(model.MapLabels(n.Labels)) {
				continue
			}
			seen = append(seen, n.Name+": "+strings.Join(ifs, ","))
			matched = matched || slices.ContainsFunc(p.Interfaces, func(re *regexp.Regexp) bool { return slices.ContainsFunc(ifs, re.MatchString) })
		}
		if matched || len(seen) == 0 {
			continue
		}
		var exprs []string
		for _, re := range p.Interfaces {
			exprs = append(exprs, re.String())
		}
		out = append(out, Finding{Severity: Error, Object: "L2AnnouncementPolicy " + p.Name, Field: "spec.interfaces",
			Problem:  "none of its interfaces exists on any node it selects, so no node answers ARP/NDP for its Services",
			Fix:      "fix the interface expressions (regular expressions: ^enp86s0\\.122$ for exactly that VLAN), or create the interface on the nodes",
			Evidence: fmt.Sprintf("expressions %s; selected nodes' interfaces: %s", strings.Join(exprs, ", "), strings.Join(seen, "; "))})
	}
	return out
}
