package model

import (
	"net/netip"
	"time"
)

// BGPClusterConfig selects nodes and declares the BGP instances and peers they run.
type BGPClusterConfig struct {
	Name         string
	Created      time.Time
	NodeSelector *Selector // nil: every node
	Instances    []BGPInstance
}

// BGPInstance is one BGP speaker (one GoBGP server) on each selected node.
type BGPInstance struct {
	Name     string
	LocalASN uint32
	// LocalPort is the port to listen on; 0 means connect only (Cilium's default).
	LocalPort uint16
	Peers     []BGPPeer
}

// BGPPeer is one neighbour of an instance.
type BGPPeer struct {
	Name    string
	Address netip.Addr
	// ASN 0 accepts whatever AS the peer announces.
	ASN           uint32
	PeerConfigRef string
}

// Timers are the session timers. Zero hold time disables keepalives, per RFC 4271.
type Timers struct {
	ConnectRetry time.Duration
	Hold         time.Duration
	Keepalive    time.Duration
}

// GracefulRestart is RFC 4724's capability as a peer config carries it.
type GracefulRestart struct {
	Enabled     bool
	RestartTime time.Duration
}

// BFD is the BFD profile for a peer (RFC 5880), MetalLB's BFDProfile in Herald's peer config.
type BFD struct {
	Enabled          bool
	MinRx, MinTx     time.Duration
	DetectMultiplier uint8
}

// AFISAFI names an address family and sub-family.
type AFISAFI struct {
	AFI  string // ipv4 | ipv6
	SAFI string // unicast
}

func (f AFISAFI) String() string { return f.AFI + "/" + f.SAFI }

// PeerFamily is one family of a peer config with the selector of the advertisements it sends.
type PeerFamily struct {
	AFISAFI
	// Advertisements selects BGPAdvertisement objects by label; nil advertises nothing.
	Advertisements *Selector
}

// BGPPeerConfig holds the session settings shared by peers that reference it.
type BGPPeerConfig struct {
	Name            string
	PeerPort        uint16
	Timers          Timers
	AuthSecretRef   string
	GracefulRestart GracefulRestart
	EBGPMultihop    uint8
	Families        []PeerFamily
	BFD             BFD
}

// AdvertisementType is what an advertisement entry announces.
type AdvertisementType string

// The types Herald implements.
const (
	AdvertisePodCIDR AdvertisementType = "PodCIDR"
	AdvertiseService AdvertisementType = "Service"
)

// ServiceAddressType is which address of a Service is announced.
type ServiceAddressType string

// The three Service address types of Cilium's BGPv2.
const (
	AddressLoadBalancerIP ServiceAddressType = "LoadBalancerIP"
	AddressClusterIP      ServiceAddressType = "ClusterIP"
	AddressExternalIP     ServiceAddressType = "ExternalIP"
)

// PathAttributes are the attributes an advertisement sets on its paths.
type PathAttributes struct {
	Communities     Communities
	LocalPreference *uint32
}

// AdvertisementEntry is one element of a BGPAdvertisement's advertisements list.
type AdvertisementEntry struct {
	Type AdvertisementType
	// ServiceAddresses lists the address types of Service entries.
	ServiceAddresses []ServiceAddressType
	// AggregationLengthIPv4/IPv6 announce the covering prefix of that length instead of /32
	// (/128); 0 means no aggregation. Local Services are never aggregated.
	AggregationLengthIPv4 uint8
	AggregationLengthIPv6 uint8
	// Selector picks Services (with the virtual name/namespace labels); nil picks none, as
	// Cilium's BGPv2 does.
	Selector   *Selector
	Attributes PathAttributes
}

// BGPAdvertisement is a labelled set of advertisement entries that peer config families select.
type BGPAdvertisement struct {
	Name    string
	Labels  map[string]string
	Entries []AdvertisementEntry
}

// BGPNodeOverride adjusts one node's instances: router ID, ASN, listen port, source addresses.
type BGPNodeOverride struct {
	Node      string
	Instances []BGPInstanceOverride
}

// BGPInstanceOverride overrides one instance by name; zero values leave the default.
type BGPInstanceOverride struct {
	Name      string
	RouterID  netip.Addr
	LocalASN  uint32
	LocalPort uint16
	Peers     []BGPPeerOverride
}

// BGPPeerOverride sets the source address towards one peer.
type BGPPeerOverride struct {
	Name         string
	LocalAddress netip.Addr
}
