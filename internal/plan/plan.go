// Package plan computes what each node advertises over BGP: from the configuration, nodes,
// Services, endpoints and address allocations it derives, per node, the BGP instances, their
// peers and the routes (with communities and LOCAL_PREF) each peer should receive. It follows
// Cilium's selection chain: cluster config (by node selector) → peers → peer config → families
// → advertisements (by label) → advertisement entries → Services or pod CIDRs.
//
// It is pure: the same input always gives the same plan, and nothing here does I/O.
package plan

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"time"

	"github.com/heraldlb/herald/internal/model"
)

// Allocated is one LoadBalancer address of a Service and the pool it came from.
type Allocated struct {
	Addr netip.Addr
	Pool string
}

// Options are the planner's switches.
type Options struct {
	// ExternalIPAllowList: externalIPs are advertised only inside these prefixes. Any
	// namespace owner can set spec.externalIPs, so without a list nothing is advertised.
	ExternalIPAllowList []netip.Prefix
	// AdvertiseWithoutEndpoints keeps advertising Services whose endpoints are all unready
	// (Cilium's default); Herald withdraws them unless this is set.
	AdvertiseWithoutEndpoints bool
}

// Input is everything the planner reads.
type Input struct {
	Cluster     *model.Cluster
	Allocations map[model.ServiceKey][]Allocated
	Options     Options
}

// Plan is the desired BGP state of every node.
type Plan struct {
	Nodes map[string]*Node
	// Problems are configuration conditions (conflicting cluster configs, missing peer
	// configs, selectors that select nothing), deduplicated and sorted.
	Problems []Problem
}

// Node is one node's desired state.
type Node struct {
	Name string
	// Addresses are the node's addresses (InternalIPs first), for next hops of the other
	// family than a session's.
	Addresses []netip.Addr
	// ClusterConfig is the config that applies to the node ("" when none selects it).
	ClusterConfig string
	Instances     []Instance
}

// Instance is one BGP speaker on the node.
type Instance struct {
	Name       string
	LocalASN   uint32
	RouterID   netip.Addr
	ListenPort uint16 // 0: connect only
	Peers      []Peer
}

// Peer is one session and what it advertises.
type Peer struct {
	Name         string
	Address      netip.Addr
	ASN          uint32 // 0: accept any
	LocalAddress netip.Addr
	// Config is the resolved peer config; HasConfig is false when the reference is missing,
	// in which case the peer advertises nothing.
	Config    model.BGPPeerConfig
	HasConfig bool
	Families  []Family
}

// IBGP reports whether the session is internal (same AS). With peer ASN 0 the AS is not known
// before the session is up, so it is treated as external: LOCAL_PREF is never leaked.
func (p *Peer) IBGP(localASN uint32) bool { return p.ASN != 0 && p.ASN == localASN }

// Family is the routes of one address family for one peer.
type Family struct {
	model.AFISAFI
	Routes []Route
}

// Route is one prefix to advertise with its attributes.
type Route struct {
	Prefix      netip.Prefix
	Communities model.Communities
	LocalPref   *uint32
}

// Problem is a configuration condition on an object.
type Problem struct {
	Kind, Name string
	// Reason is a stable CamelCase word (Kubernetes condition reason style).
	Reason  string
	Message string
}

// Condition reasons.
const (
	ReasonConflictingClusterConfig = "ConflictingClusterConfig"
	ReasonMissingPeerConfig        = "MissingPeerConfig"
	ReasonNoAdvertisementSelector  = "NoAdvertisementSelector"
	ReasonNoMatchingAdvertisement  = "NoMatchingAdvertisement"
	ReasonNoMatchingNode           = "NoMatchingNode"
	ReasonExternalIPNotAllowed     = "ExternalIPNotAllowed"
	ReasonDerivedRouterID          = "DerivedRouterID"
)

// Compute builds the plan for every node.
func Compute(in Input) *Plan {
	c := newComputer(in)
	p := &Plan{Nodes: map[string]*Node{}}
	for i := range in.Cluster.Nodes {
		n := &in.Cluster.Nodes[i]
		p.Nodes[n.Name] = c.node(n)
	}
	for _, cc := range in.Cluster.ClusterConfigs {
		if !c.usedConfigs[cc.Name] && !c.conflicted[cc.Name] {
			c.problem("BGPClusterConfig", cc.Name, ReasonNoMatchingNode, fmt.Sprintf("nodeSelector %s matches no node", cc.NodeSelector))
		}
		// A broken reference is reported whether or not the config owns a node now: it is
		// wrong in the object, and a config that loses a conflict today may own nodes tomorrow.
		for _, mi := range cc.Instances {
			for _, mp := range mi.Peers {
				if _, ok := c.peerConfigs[mp.PeerConfigRef]; ok {
					continue
				}
				what := "has no peerConfigRef"
				if mp.PeerConfigRef != "" {
					what = fmt.Sprintf("refers to BGPPeerConfig %q, which does not exist or is invalid", mp.PeerConfigRef)
				}
				c.problem("BGPClusterConfig", cc.Name, ReasonMissingPeerConfig, fmt.Sprintf("instance %s peer %s %s; the session uses defaults and advertises nothing", mi.Name, mp.Name, what))
			}
		}
	}
	p.Problems = c.problems()
	return p
}

type computer struct {
	in          Input
	configs     []*model.BGPClusterConfig // oldest first
	peerConfigs map[string]*model.BGPPeerConfig
	overrides   map[string]*model.BGPNodeOverride
	// endpoints by Service: whether any slice exists, ready anywhere, ready per node.
	slices      map[model.ServiceKey]bool
	readyAny    map[model.ServiceKey]bool
	readyOn     map[model.ServiceKey]map[string]bool
	usedConfigs map[string]bool
	conflicted  map[string]bool
	probs       map[Problem]bool
}

func newComputer(in Input) *computer {
	c := &computer{in: in, peerConfigs: map[string]*model.BGPPeerConfig{}, overrides: map[string]*model.BGPNodeOverride{},
		slices: map[model.ServiceKey]bool{}, readyAny: map[model.ServiceKey]bool{}, readyOn: map[model.ServiceKey]map[string]bool{},
		usedConfigs: map[string]bool{}, conflicted: map[string]bool{}, probs: map[Problem]bool{}}
	cl := in.Cluster
	for i := range cl.ClusterConfigs {
		c.configs = append(c.configs, &cl.ClusterConfigs[i])
	}
	slices.SortStableFunc(c.configs, func(a, b *model.BGPClusterConfig) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
	})
	for i := range cl.PeerConfigs {
		c.peerConfigs[cl.PeerConfigs[i].Name] = &cl.PeerConfigs[i]
	}
	for i := range cl.NodeOverrides {
		c.overrides[cl.NodeOverrides[i].Node] = &cl.NodeOverrides[i]
	}
	for _, s := range cl.Endpoints {
		c.slices[s.Service] = true
		for _, e := range s.Endpoints {
			// Kubernetes' rule: ready means serving and not terminating.
			if !e.Ready || e.Terminating {
				continue
			}
			c.readyAny[s.Service] = true
			if e.NodeName != "" {
				if c.readyOn[s.Service] == nil {
					c.readyOn[s.Service] = map[string]bool{}
				}
				c.readyOn[s.Service][e.NodeName] = true
			}
		}
	}
	return c
}

func (c *computer) problem(kind, name, reason, msg string) {
	c.probs[Problem{Kind: kind, Name: name, Reason: reason, Message: msg}] = true
}

func (c *computer) problems() []Problem {
	out := make([]Problem, 0, len(c.probs))
	for p := range c.probs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Message, b.Message))
	})
	return out
}

func (c *computer) node(n *model.Node) *Node {
	out := &Node{Name: n.Name, Addresses: n.Addresses}
	var chosen *model.BGPClusterConfig
	for _, cc := range c.configs {
		if !cc.NodeSelector.Matches(model.MapLabels(n.Labels)) {
			continue
		}
		if chosen == nil {
			chosen = cc
			continue
		}
		// A second config for the same node is a conflict; the first (oldest) keeps the
		// node, so adding a config never tears down sessions that work.
		c.conflicted[cc.Name] = true
		c.problem("BGPClusterConfig", cc.Name, ReasonConflictingClusterConfig,
			fmt.Sprintf("node %s is already selected by BGPClusterConfig %s (older), which it keeps; make the node selectors disjoint", n.Name, chosen.Name))
	}
	if chosen == nil {
		return out
	}
	c.usedConfigs[chosen.Name] = true
	out.ClusterConfig = chosen.Name
	ov := c.overrides[n.Name]
	for _, mi := range chosen.Instances {
		out.Instances = append(out.Instances, c.instance(n, chosen, mi, instanceOverride(ov, mi.Name)))
	}
	return out
}

func instanceOverride(ov *model.BGPNodeOverride, name string) *model.BGPInstanceOverride {
	if ov == nil {
		return nil
	}
	for i := range ov.Instances {
		if ov.Instances[i].Name == name {
			return &ov.Instances[i]
		}
	}
	return nil
}

func (c *computer) instance(n *model.Node, cc *model.BGPClusterConfig, mi model.BGPInstance, ov *model.BGPInstanceOverride) Instance {
	in := Instance{Name: mi.Name, LocalASN: mi.LocalASN, ListenPort: mi.LocalPort}
	if ov != nil {
		if ov.LocalASN != 0 {
			in.LocalASN = ov.LocalASN
		}
		if ov.LocalPort != 0 {
			in.ListenPort = ov.LocalPort
		}
		in.RouterID = ov.RouterID
	}
	if !in.RouterID.IsValid() {
		if a, ok := n.IPv4(); ok {
			in.RouterID = a
		} else {
			in.RouterID = derivedRouterID(n.Name)
			c.problem("Node", n.Name, ReasonDerivedRouterID, fmt.Sprintf("the node has no IPv4 address; router ID %s is derived from its name (set one with a BGPNodeConfigOverride)", in.RouterID))
		}
	}
	for _, mp := range mi.Peers {
		p := Peer{Name: mp.Name, Address: mp.Address, ASN: mp.ASN}
		if ov != nil {
			for _, po := range ov.Peers {
				if po.Name == mp.Name {
					p.LocalAddress = po.LocalAddress
				}
			}
		}
		pc, ok := c.peerConfigs[mp.PeerConfigRef]
		if !ok { // reported by Compute, once per cluster config
			in.Peers = append(in.Peers, p)
			continue
		}
		p.Config, p.HasConfig = *pc, true
		for _, f := range pc.Families {
			p.Families = append(p.Families, Family{AFISAFI: f.AFISAFI, Routes: c.routes(n, in.LocalASN, &p, f)})
		}
		in.Peers = append(in.Peers, p)
	}
	return in
}

// derivedRouterID hashes the node name into 100.64.0.0/10, so that a node without IPv4 still
// gets a stable, probably unique router ID. It must be a unicast-looking address: FRR and
// most routers refuse BGP identifiers in 224.0.0.0/3 (class D and E) with a NOTIFICATION.
func derivedRouterID(name string) netip.Addr {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return netip.AddrFrom4([4]byte{100, byte(64 | (v>>16)&0x3F), byte(v >> 8), byte(v)})
}

// DefaultTimers are Cilium's session timers, used for a peer without a peer config.
var DefaultTimers = model.Timers{ConnectRetry: 120 * time.Second, Hold: 90 * time.Second, Keepalive: 30 * time.Second}
