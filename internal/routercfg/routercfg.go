// Package routercfg generates the router side of Herald's BGP sessions: from the cluster's
// BGP configuration, nodes and pools it writes what a router needs (neighbours or a listen
// range, remote AS, timers, MD5, BFD, a prefix filter limited to the pools, ECMP, the RFC 8326
// graceful-shutdown policy) for FRR, UniFi, BIRD 2, OPNsense, MikroTik RouterOS 7 and Junos.
// It is pure: the same input always gives the same text.
package routercfg

import (
	"cmp"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/heraldlb/herald/internal/model"
)

// Formats are the routers Herald writes configuration for.
var Formats = []string{"frr", "udm", "bird", "opnsense", "mikrotik", "junos"}

// Options tune the output.
type Options struct {
	// ListenRange, when set, replaces the per-node neighbour list with dynamic neighbours from
	// that range (FRR `bgp listen range`, BIRD `neighbor range`, RouterOS and Junos allow).
	ListenRange netip.Prefix
	// Router limits output to the router with this address (default: every router).
	Router netip.Addr
	// RouterASN is used for peers with peerASN 0 (accept any), whose AS the manifests cannot say.
	RouterASN uint32
}

// Router is everything one router needs: one per distinct peer address and AS.
type Router struct {
	Address   netip.Addr
	ASN       uint32
	RouterID  netip.Addr
	Groups    []Group
	Prefixes  []netip.Prefix // pool blocks and pod CIDRs the nodes may announce
	Passwords []string       // Secret names whose passwords are placeholders
}

// Group is the nodes of one instance as one peer group.
type Group struct {
	Name        string
	RemoteASN   uint32
	Nodes       []Node
	ListenRange netip.Prefix
	Timers      model.Timers
	Password    string // the password, or a placeholder naming the Secret
	Multihop    uint8
	BFD         model.BFD
	IBGP        bool
	Source      string // the cluster config and instance, for the comment
}

// Node is one neighbour.
type Node struct {
	Name    string
	Address netip.Addr
}

// Build collects the routers. Secrets give MD5 passwords by Secret name when the manifests
// carry them; otherwise a placeholder says which Secret to read.
func Build(c *model.Cluster, opts Options) ([]Router, error) {
	peerConfigs := map[string]*model.BGPPeerConfig{}
	for i := range c.PeerConfigs {
		peerConfigs[c.PeerConfigs[i].Name] = &c.PeerConfigs[i]
	}
	routers := map[netip.Addr]*Router{}
	for _, cc := range c.ClusterConfigs {
		var nodes []model.Node
		for _, n := range c.Nodes {
			if cc.NodeSelector.Matches(model.MapLabels(n.Labels)) && !n.Excluded() {
				nodes = append(nodes, n)
			}
		}
		for _, in := range cc.Instances {
			for _, p := range in.Peers {
				if opts.Router.IsValid() && p.Address != opts.Router {
					continue
				}
				r, ok := routers[p.Address]
				asn := p.ASN
				if asn == 0 {
					asn = opts.RouterASN
				}
				if asn == 0 {
					return nil, fmt.Errorf("BGPClusterConfig %s peer %s has peerASN 0 (accept any): pass the router's AS with --router-asn", cc.Name, p.Name)
				}
				if !ok {
					r = &Router{Address: p.Address, ASN: asn, RouterID: p.Address}
					if !p.Address.Is4() {
						r.RouterID = netip.Addr{}
					}
					routers[p.Address] = r
				}
				g := Group{Name: groupName(in.Name), RemoteASN: in.LocalASN, ListenRange: opts.ListenRange, IBGP: in.LocalASN == asn,
					Source: fmt.Sprintf("BGPClusterConfig %s, instance %s, peer %s", cc.Name, in.Name, p.Name), Timers: defaultTimers}
				if pc, ok := peerConfigs[p.PeerConfigRef]; ok {
					g.Timers, g.Multihop, g.BFD = pc.Timers, pc.EBGPMultihop, pc.BFD
					if pc.AuthSecretRef != "" {
						g.Password = secretPassword(c.Secrets, pc.AuthSecretRef)
						if g.Password == "" {
							g.Password = "<password from Secret " + pc.AuthSecretRef + ">"
							r.Passwords = append(r.Passwords, pc.AuthSecretRef)
						}
					}
				}
				for _, n := range nodes {
					if a := nodeAddress(n, p.Address, localAddress(c.NodeOverrides, n.Name, in.Name, p.Name)); a.IsValid() {
						g.Nodes = append(g.Nodes, Node{Name: n.Name, Address: a})
					}
				}
				r.Groups = append(r.Groups, g)
				for _, n := range nodes {
					r.Prefixes = append(r.Prefixes, n.PodCIDRs...)
				}
			}
		}
	}
	out := make([]Router, 0, len(routers))
	for _, r := range routers {
		for _, pool := range c.Pools {
			for _, b := range pool.Blocks {
				r.Prefixes = append(r.Prefixes, b.Prefixes()...)
			}
		}
		slices.SortFunc(r.Prefixes, func(a, b netip.Prefix) int {
			return cmp.Or(a.Addr().Compare(b.Addr()), a.Bits()-b.Bits())
		})
		r.Prefixes = slices.Compact(r.Prefixes)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Router) int { return a.Address.Compare(b.Address) })
	if len(out) == 0 {
		return nil, fmt.Errorf("no BGP peers in the manifests (a BGPClusterConfig with peers is needed)")
	}
	return out, nil
}

var defaultTimers = model.Timers{ConnectRetry: 120 * time.Second, Hold: 90 * time.Second, Keepalive: 30 * time.Second}

func groupName(instance string) string {
	s := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, instance)
	return "k8s-" + s
}

// nodeAddress is the address the node's session to peer comes from, so the router knows
// the neighbour by it: the node override's local address when there is one, else the node's
// address of the peer's family nearest the peer (the kernel picks the source on the
// interface towards the peer: a node on two subnets, as in seed 003, peers from each).
func nodeAddress(n model.Node, peer, local netip.Addr) netip.Addr {
	if local.IsValid() {
		return local
	}
	var best netip.Addr
	bestLen := -1
	for _, a := range n.Addresses {
		if a.Is4() != peer.Is4() {
			continue
		}
		if l := commonPrefixLen(a, peer); l > bestLen {
			best, bestLen = a, l
		}
	}
	return best
}

// commonPrefixLen is how many leading bits two addresses of one family share.
func commonPrefixLen(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			return i*8 + bits.LeadingZeros8(d)
		}
	}
	return 128
}

// localAddress is the source address a node override sets towards one peer of an instance.
func localAddress(overrides []model.BGPNodeOverride, node, instance, peer string) netip.Addr {
	for _, o := range overrides {
		if o.Node != node {
			continue
		}
		for _, in := range o.Instances {
			if in.Name != instance {
				continue
			}
			for _, p := range in.Peers {
				if p.Name == peer {
					return p.LocalAddress
				}
			}
		}
	}
	return netip.Addr{}
}

func secretPassword(secrets []model.Secret, name string) string {
	for _, s := range secrets {
		if s.Name == name {
			return string(s.Data["password"])
		}
	}
	return ""
}

// ecmp is how many next hops the router should install per prefix.
func (r Router) ecmp() int {
	n := 1
	for _, g := range r.Groups {
		n = max(n, len(g.Nodes))
	}
	if r.Groups != nil && r.Groups[0].ListenRange.IsValid() {
		n = max(n, 16) // unknown number of dynamic neighbours
	}
	return n
}

func seconds(d time.Duration) int { return int(d / time.Second) }
