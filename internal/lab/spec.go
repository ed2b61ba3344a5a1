// Package lab is Herald's homelab in a box: on one Linux machine, network namespaces become a
// router running FRR (configured by `herald router-config`), Kubernetes nodes running `herald
// agent` against a real kube-apiserver, and a client routed through the router. `herald lab
// up|status|down` drives it for people; the end-to-end tests drive it for CI, with the seeds'
// manifests as scenarios. Everything it creates carries its name as a prefix and is recorded
// in its directory, so `down` removes exactly that, from any process.
package lab

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Kind is the role of a host in the lab.
type Kind string

// The hosts a lab can have.
const (
	Router Kind = "router" // FRR: zebra, bgpd, bfdd; forwards between its segments
	Node   Kind = "node"   // a Kubernetes node: herald agent, an HTTP backend, the Service addresses
	Client Kind = "client" // a machine that uses the Services through the router
)

// Link is one interface of a host, on one segment (a bridge in the lab's switch namespace).
type Link struct {
	Segment string   // the segment's name: hosts with links on the same segment share a LAN
	Name    string   // interface name inside the host (eth0, enp86s0.122)
	Addrs   []string // addresses in CIDR notation
}

// Host is one machine of the lab: a network namespace named Spec.Name + "-" + Name.
type Host struct {
	// Name of the host; for a node, the Kubernetes node name it plays.
	Name    string
	Kind    Kind
	Links   []Link
	Gateway string // default route via this address
	// ListenRange (routers) accepts any node in this CIDR as a dynamic neighbour instead of
	// listing every node (`herald router-config --listen-range`, seed 001's question).
	ListenRange string
}

// Spec describes a lab: its hosts, the manifests applied to its API server, and where its
// parts are.
type Spec struct {
	// Name prefixes every namespace (and is the lab's identity): short, [a-z0-9].
	Name string
	// Dir holds the lab's state: what it created, certificates, configs, logs, node state.
	Dir   string
	Hosts []Host
	// Manifests (files or directories) applied once the API server is up: Herald, Cilium and
	// MetalLB kinds (converted as the loader does), Nodes, Services, EndpointSlices.
	Manifests []string
	// RouterUnconfigured starts FRR without the nodes' BGP configuration, as a router is
	// before its owner has added the nodes; ConfigureRouter loads it later.
	RouterUnconfigured bool
	// Herald is the herald binary the nodes and the control plane run.
	Herald string
	// KubeAssets is the directory with kube-apiserver and etcd (hack/kube-testenv.sh).
	KubeAssets string
	// CRDs is the directory of Herald's CustomResourceDefinitions.
	CRDs string
	// AgentArgs are extra flags for every `herald agent`.
	AgentArgs []string
}

// The control plane (etcd, kube-apiserver, herald operator) lives in its own host on a
// management segment that every node also joins, the way a cluster's API is reachable from
// its nodes. The seeds' LANs then stay exactly as they describe them.
const (
	cpHost       = "cp"
	mgmtSegment  = "mgmt"
	mgmtIf       = "mgmt0"
	cpAddr       = "172.31.255.1"
	apiPort      = 6443
	switchHost   = "sw"
	maxNameBytes = 8
)

// mgmtAddr is node i's address on the management segment.
func mgmtAddr(i int) string { return fmt.Sprintf("172.31.255.%d/24", 10+i) }

// Default is the lab `make lab` starts: seed 000's home network. A router (the UDM at
// 10.90.254.1, AS 65001) on the 10.90.0.0/16 LAN with three nodes, stanton-01..03, and a
// home network 192.168.10.0/24 with a client behind the router.
func Default() Spec {
	s := Spec{Name: "hlab", Dir: "/run/herald-lab", Manifests: []string{"examples/lab"}, CRDs: "deploy/helm/herald/crds"}
	s.Hosts = append(s.Hosts, Host{Name: "router", Kind: Router, Links: []Link{
		{Segment: "lan", Name: "eth0", Addrs: []string{"10.90.254.1/16"}},
		{Segment: "home", Name: "eth1", Addrs: []string{"192.168.10.1/24"}},
	}})
	for i := 1; i <= 3; i++ {
		s.Hosts = append(s.Hosts, Host{Name: fmt.Sprintf("stanton-%02d", i), Kind: Node, Gateway: "10.90.254.1",
			Links: []Link{{Segment: "lan", Name: "eth0", Addrs: []string{fmt.Sprintf("10.90.3.%d/16", 100+i)}}}})
	}
	s.Hosts = append(s.Hosts, Host{Name: "client", Kind: Client, Gateway: "192.168.10.1",
		Links: []Link{{Segment: "home", Name: "eth0", Addrs: []string{"192.168.10.10/24"}}}})
	return s
}

var (
	labName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	ifName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// Validate reports what is wrong with the spec, naming the host and field.
func (s *Spec) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if !labName.MatchString(s.Name) || len(s.Name) > maxNameBytes {
		bad("name %q: want 1-%d lowercase letters and digits, starting with a letter", s.Name, maxNameBytes)
	}
	if s.Dir == "" {
		bad("dir: empty")
	}
	seen := map[string]bool{cpHost: true, switchHost: true}
	routers, nodes := 0, 0
	for _, h := range s.Hosts {
		if seen[h.Name] {
			bad("host %q: the name is taken (cp and sw are the lab's own)", h.Name)
		}
		seen[h.Name] = true
		switch h.Kind {
		case Router:
			routers++
		case Node:
			nodes++
		case Client:
		default:
			bad("host %s: kind %q: want router, node or client", h.Name, h.Kind)
		}
		if len(h.Links) == 0 {
			bad("host %s: no links", h.Name)
		}
		for i, l := range h.Links {
			if !ifName.MatchString(l.Name) || len(l.Name) > 15 || l.Name == mgmtIf {
				bad("host %s: links[%d].name %q: want an interface name of at most 15 characters, not %s", h.Name, i, l.Name, mgmtIf)
			}
			if l.Segment == "" || l.Segment == mgmtSegment {
				bad("host %s: links[%d].segment %q: want a name other than %s", h.Name, i, l.Segment, mgmtSegment)
			}
			for _, a := range l.Addrs {
				if _, err := netip.ParsePrefix(a); err != nil {
					bad("host %s: links[%d].addrs: %q is not an address in CIDR notation", h.Name, i, a)
				}
			}
		}
		if h.ListenRange != "" {
			if _, err := netip.ParsePrefix(h.ListenRange); err != nil || h.Kind != Router {
				bad("host %s: listenRange %q: want a CIDR, on a router", h.Name, h.ListenRange)
			}
		}
		if h.Gateway != "" {
			if _, err := netip.ParseAddr(h.Gateway); err != nil {
				bad("host %s: gateway %q is not an address", h.Name, h.Gateway)
			}
		}
	}
	if routers == 0 || nodes == 0 {
		bad("hosts: want at least one router and one node (have %d and %d)", routers, nodes)
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab %s: %s", s.Name, strings.Join(errs, "; "))
	}
	return nil
}

// NS is the namespace of a host of this lab.
func (s *Spec) NS(host string) string { return s.Name + "-" + host }

// hosts returns the hosts of a kind, in spec order.
func (s *Spec) hosts(k Kind) []Host {
	var out []Host
	for _, h := range s.Hosts {
		if h.Kind == k {
			out = append(out, h)
		}
	}
	return out
}

// Host returns the host with that name.
func (s *Spec) Host(name string) (Host, bool) {
	i := slices.IndexFunc(s.Hosts, func(h Host) bool { return h.Name == name })
	if i < 0 {
		return Host{}, false
	}
	return s.Hosts[i], true
}

// addrs returns the host's addresses without prefix lengths.
func (h Host) addrs() []netip.Addr {
	var out []netip.Addr
	for _, l := range h.Links {
		for _, a := range l.Addrs {
			if p, err := netip.ParsePrefix(a); err == nil {
				out = append(out, p.Addr())
			}
		}
	}
	return out
}
