package model

import (
	"net/netip"
	"time"
)

// Node is what Herald needs of a Kubernetes Node.
type Node struct {
	Name    string
	Labels  map[string]string
	Created time.Time
	// Addresses are the InternalIPs first, then ExternalIPs.
	Addresses []netip.Addr
	PodCIDRs  []netip.Prefix
	// Unschedulable is spec.unschedulable (cordoned).
	Unschedulable bool
}

// LabelExcludeFromLB is the well-known node label that keeps a node out of external load
// balancing; Herald honours it for BGP and L2, as MetalLB does.
const LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"

// Excluded reports whether the node carries the exclusion label.
func (n *Node) Excluded() bool {
	_, ok := n.Labels[LabelExcludeFromLB]
	return ok
}

// IPv4 returns the node's first IPv4 address, if any.
func (n *Node) IPv4() (netip.Addr, bool) {
	for _, a := range n.Addresses {
		if a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Namespace is a Kubernetes Namespace's name and labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Endpoint is one backend of a Service, from an EndpointSlice.
type Endpoint struct {
	Addresses   []netip.Addr
	NodeName    string
	Ready       bool
	Serving     bool
	Terminating bool
}

// EndpointSlice is one discovery.k8s.io/v1 EndpointSlice, keyed by its own name.
type EndpointSlice struct {
	Namespace, Name string
	Service         ServiceKey
	Endpoints       []Endpoint
}

// Secret is a Kubernetes Secret; Herald reads only the MD5 password from it.
type Secret struct {
	Namespace, Name string
	Data            map[string][]byte
}

// Cluster is every object Herald knows, converted to model types: what a source (manifests or
// informers) hands to the pure packages.
type Cluster struct {
	Pools          []Pool
	ClusterConfigs []BGPClusterConfig
	PeerConfigs    []BGPPeerConfig
	Advertisements []BGPAdvertisement
	NodeOverrides  []BGPNodeOverride
	L2Policies     []L2Policy

	Services   []Service
	Nodes      []Node
	Namespaces []Namespace
	Endpoints  []EndpointSlice
	Secrets    []Secret
}
