// Package v1alpha1 holds the herald.io/v1alpha1 API: the Kubernetes kinds users write, shaped
// field for field like Cilium's BGP Control Plane v2 and LB-IPAM kinds (plus MetalLB's pool
// scoping and BFD, which Cilium lacks), so that existing manifests need only a kind rename.
//
// Defaulting, validation and conversion to internal/model live together in one function per
// kind (Model), which the manifest loader, `herald validate` and the controllers all call.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group and Version of the API.
const (
	Group   = "herald.io"
	Version = "v1alpha1"
)

// GroupVersion is "herald.io/v1alpha1".
var GroupVersion = Group + "/" + Version

// The kinds of this API.
const (
	KindLoadBalancerIPPool    = "LoadBalancerIPPool"
	KindBGPClusterConfig      = "BGPClusterConfig"
	KindBGPPeerConfig         = "BGPPeerConfig"
	KindBGPAdvertisement      = "BGPAdvertisement"
	KindBGPNodeConfigOverride = "BGPNodeConfigOverride"
	KindBGPNodeConfig         = "BGPNodeConfig"
	KindL2AnnouncementPolicy  = "L2AnnouncementPolicy"
)

// ---- LB-IPAM --------------------------------------------------------------------------------

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=lbippool;lbippools,categories=herald
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=".spec.disabled"
// +kubebuilder:printcolumn:name="Conflicting",type=string,JSONPath=".status.conditions[?(@.type==\"herald.io/PoolConflict\")].status"
// +kubebuilder:printcolumn:name="IPs Available",type=string,JSONPath=".status.conditions[?(@.type==\"herald.io/IPsAvailable\")].message"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"

// LoadBalancerIPPool is a pool of addresses for LoadBalancer Services (CiliumLoadBalancerIPPool).
type LoadBalancerIPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              LoadBalancerIPPoolSpec   `json:"spec"`
	Status            LoadBalancerIPPoolStatus `json:"status,omitempty"`
}

// LoadBalancerIPPoolSpec is Cilium's pool spec plus MetalLB's scoping fields.
type LoadBalancerIPPoolSpec struct {
	Blocks []IPPoolBlock `json:"blocks,omitempty"`
	// ServiceSelector picks the Services the pool serves; unset serves every Service.
	ServiceSelector *metav1.LabelSelector `json:"serviceSelector,omitempty"`
	// AllowFirstLastIPs "No" reserves network and broadcast of CIDR blocks of /30 and larger.
	// Unset means "Yes", as in Cilium.
	// +kubebuilder:validation:Enum=Yes;No
	AllowFirstLastIPs string `json:"allowFirstLastIPs,omitempty"`
	Disabled          bool   `json:"disabled,omitempty"`
	// AvoidBuggyIPs reserves IPv4 addresses ending in .0 and .255 (MetalLB).
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`
	// AutoAssign false serves only Services that ask for the pool or one of its addresses.
	AutoAssign *bool `json:"autoAssign,omitempty"`
	// ServiceAllocation orders and scopes the pool (MetalLB's field of the same name).
	ServiceAllocation *ServiceAllocation `json:"serviceAllocation,omitempty"`
}

// IPPoolBlock is a CIDR or a start/stop range.
// +kubebuilder:validation:XValidation:rule="has(self.cidr) != has(self.start)",message="set either cidr or start (with an optional stop)"
// +kubebuilder:validation:XValidation:rule="!has(self.stop) || has(self.start)",message="stop needs start"
type IPPoolBlock struct {
	Cidr  string `json:"cidr,omitempty"`
	Start string `json:"start,omitempty"`
	Stop  string `json:"stop,omitempty"`
}

// ServiceAllocation is MetalLB's pool priority and scoping.
type ServiceAllocation struct {
	// Priority: lower first; pools without one come after all pools with one.
	Priority           *int32                 `json:"priority,omitempty"`
	Namespaces         []string               `json:"namespaces,omitempty"`
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`
	ServiceSelectors   []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// LoadBalancerIPPoolStatus reports conditions and counts.
type LoadBalancerIPPoolStatus struct {
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ---- BGP ------------------------------------------------------------------------------------

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bgpcc,categories=herald
// +kubebuilder:subresource:status

// BGPClusterConfig selects nodes and declares their BGP instances and peers
// (CiliumBGPClusterConfig).
type BGPClusterConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPClusterConfigSpec `json:"spec"`
	Status            ConditionsStatus     `json:"status,omitempty"`
}

// BGPClusterConfigSpec is the spec of a BGPClusterConfig.
type BGPClusterConfigSpec struct {
	// NodeSelector picks the nodes; unset selects every node.
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	BGPInstances []BGPInstance         `json:"bgpInstances"`
}

// BGPInstance is one BGP speaker on each selected node.
type BGPInstance struct {
	Name string `json:"name"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	LocalASN *int64 `json:"localASN,omitempty"`
	// LocalPort makes the instance listen; unset connects only.
	LocalPort *int32    `json:"localPort,omitempty"`
	Peers     []BGPPeer `json:"peers,omitempty"`
}

// BGPPeer is one neighbour of an instance.
type BGPPeer struct {
	Name        string  `json:"name"`
	PeerAddress *string `json:"peerAddress,omitempty"`
	// PeerASN 0 accepts any AS the peer announces.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	PeerASN       *int64               `json:"peerASN,omitempty"`
	PeerConfigRef *PeerConfigReference `json:"peerConfigRef,omitempty"`
}

// PeerConfigReference names a BGPPeerConfig.
type PeerConfigReference struct {
	Name string `json:"name"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bgppc,categories=herald
// +kubebuilder:subresource:status

// BGPPeerConfig holds session settings shared by the peers that reference it (CiliumBGPPeerConfig).
type BGPPeerConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPPeerConfigSpec `json:"spec"`
	Status            ConditionsStatus  `json:"status,omitempty"`
}

// BGPPeerConfigSpec is the spec of a BGPPeerConfig.
type BGPPeerConfigSpec struct {
	Transport *BGPTransport `json:"transport,omitempty"`
	Timers    *BGPTimers    `json:"timers,omitempty"`
	// AuthSecretRef names a Secret (in Herald's namespace) whose "password" key is the TCP MD5
	// password. A missing Secret keeps the peer down (fail closed).
	AuthSecretRef   *string             `json:"authSecretRef,omitempty"`
	GracefulRestart *BGPGracefulRestart `json:"gracefulRestart,omitempty"`
	EBGPMultihop    *int32              `json:"ebgpMultihop,omitempty"`
	Families        []BGPFamily         `json:"families,omitempty"`
	// BFD is Herald's addition (MetalLB's BFDProfile, inline).
	BFD *BFDConfig `json:"bfd,omitempty"`
}

// BGPTransport is the peer's TCP port.
type BGPTransport struct {
	PeerPort *int32 `json:"peerPort,omitempty"`
}

// BGPTimers are the session timers in seconds.
// +kubebuilder:validation:XValidation:rule="!has(self.holdTimeSeconds) || !has(self.keepAliveTimeSeconds) || self.holdTimeSeconds == 0 || self.keepAliveTimeSeconds <= self.holdTimeSeconds",message="keepAliveTimeSeconds must not exceed holdTimeSeconds"
// +kubebuilder:validation:XValidation:rule="!has(self.holdTimeSeconds) || self.holdTimeSeconds == 0 || self.holdTimeSeconds >= 3",message="holdTimeSeconds is 0 or at least 3 (RFC 4271)"
type BGPTimers struct {
	ConnectRetryTimeSeconds *int32 `json:"connectRetryTimeSeconds,omitempty"`
	HoldTimeSeconds         *int32 `json:"holdTimeSeconds,omitempty"`
	KeepAliveTimeSeconds    *int32 `json:"keepAliveTimeSeconds,omitempty"`
}

// BGPGracefulRestart is the RFC 4724 capability.
type BGPGracefulRestart struct {
	Enabled            bool   `json:"enabled"`
	RestartTimeSeconds *int32 `json:"restartTimeSeconds,omitempty"`
}

// BGPFamily is an address family with the selector of the advertisements sent in it.
type BGPFamily struct {
	AFI            string                `json:"afi"`
	SAFI           string                `json:"safi"`
	Advertisements *metav1.LabelSelector `json:"advertisements,omitempty"`
}

// BFDConfig enables BFD towards the peer.
type BFDConfig struct {
	Enabled            *bool  `json:"enabled,omitempty"`
	ReceiveIntervalMs  *int32 `json:"receiveInterval,omitempty"`
	TransmitIntervalMs *int32 `json:"transmitInterval,omitempty"`
	DetectMultiplier   *int32 `json:"detectMultiplier,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bgpadvert,categories=herald

// BGPAdvertisement is a labelled set of advertisement entries (CiliumBGPAdvertisement).
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPAdvertisementSpec `json:"spec"`
}

// BGPAdvertisementSpec is the spec of a BGPAdvertisement.
type BGPAdvertisementSpec struct {
	Advertisements []BGPAdvertisementEntry `json:"advertisements"`
}

// BGPAdvertisementEntry is one thing to announce.
// +kubebuilder:validation:XValidation:rule="self.advertisementType == 'Service' || (!has(self.service) && !has(self.selector))",message="service and selector apply to advertisementType Service only"
type BGPAdvertisementEntry struct {
	// +kubebuilder:validation:Enum=PodCIDR;Service
	AdvertisementType string             `json:"advertisementType"`
	Service           *BGPServiceOptions `json:"service,omitempty"`
	// Selector picks Services (with the io.kubernetes.service.{name,namespace} virtual labels).
	Selector   *metav1.LabelSelector `json:"selector,omitempty"`
	Attributes *BGPAttributes        `json:"attributes,omitempty"`
}

// BGPServiceOptions say which Service addresses to announce and how to aggregate them.
type BGPServiceOptions struct {
	Addresses             []string `json:"addresses,omitempty"`
	AggregationLengthIPv4 *int16   `json:"aggregationLengthIPv4,omitempty"`
	AggregationLengthIPv6 *int16   `json:"aggregationLengthIPv6,omitempty"`
}

// BGPAttributes are path attributes.
type BGPAttributes struct {
	Communities     *BGPCommunities `json:"communities,omitempty"`
	LocalPreference *int64          `json:"localPreference,omitempty"`
}

// BGPCommunities lists communities by kind.
type BGPCommunities struct {
	Standard  []string `json:"standard,omitempty"`
	WellKnown []string `json:"wellKnown,omitempty"`
	Large     []string `json:"large,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bgpnco,categories=herald

// BGPNodeConfigOverride adjusts one node (named like the object) (CiliumBGPNodeConfigOverride).
type BGPNodeConfigOverride struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPNodeConfigOverrideSpec `json:"spec"`
}

// BGPNodeConfigOverrideSpec is the spec of a BGPNodeConfigOverride.
type BGPNodeConfigOverrideSpec struct {
	BGPInstances []BGPInstanceOverride `json:"bgpInstances"`
}

// BGPInstanceOverride overrides an instance by name.
type BGPInstanceOverride struct {
	Name      string            `json:"name"`
	RouterID  *string           `json:"routerID,omitempty"`
	LocalPort *int32            `json:"localPort,omitempty"`
	LocalASN  *int64            `json:"localASN,omitempty"`
	Peers     []BGPPeerOverride `json:"peers,omitempty"`
}

// BGPPeerOverride sets the source address towards a peer.
type BGPPeerOverride struct {
	Name         string  `json:"name"`
	LocalAddress *string `json:"localAddress,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bgpnc,categories=herald
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"

// BGPNodeConfig is the operator-written, per-node BGP configuration with peer status
// (CiliumBGPNodeConfig).
type BGPNodeConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BGPNodeConfigSpec   `json:"spec"`
	Status            BGPNodeConfigStatus `json:"status,omitempty"`
}

// BGPNodeConfigSpec is the resolved configuration of one node.
type BGPNodeConfigSpec struct {
	BGPInstances []BGPNodeInstance `json:"bgpInstances"`
}

// BGPNodeInstance is a resolved instance.
type BGPNodeInstance struct {
	Name      string        `json:"name"`
	LocalASN  *int64        `json:"localASN,omitempty"`
	LocalPort *int32        `json:"localPort,omitempty"`
	RouterID  *string       `json:"routerID,omitempty"`
	Peers     []BGPNodePeer `json:"peers,omitempty"`
}

// BGPNodePeer is a resolved peer.
type BGPNodePeer struct {
	Name          string               `json:"name"`
	PeerAddress   *string              `json:"peerAddress,omitempty"`
	PeerASN       *int64               `json:"peerASN,omitempty"`
	LocalAddress  *string              `json:"localAddress,omitempty"`
	PeerConfigRef *PeerConfigReference `json:"peerConfigRef,omitempty"`
}

// BGPNodeConfigStatus is what the node's agent reports.
type BGPNodeConfigStatus struct {
	BGPInstances []BGPInstanceStatus `json:"bgpInstances,omitempty"`
	Conditions   []metav1.Condition  `json:"conditions,omitempty"`
}

// BGPInstanceStatus is an instance's peers as the agent sees them.
type BGPInstanceStatus struct {
	Name     string          `json:"name"`
	LocalASN *int64          `json:"localASN,omitempty"`
	Peers    []BGPPeerStatus `json:"peers,omitempty"`
}

// BGPPeerStatus is one session's state.
type BGPPeerStatus struct {
	Name            string                `json:"name"`
	PeerAddress     string                `json:"peerAddress"`
	PeerASN         *int64                `json:"peerASN,omitempty"`
	PeeringState    string                `json:"peeringState,omitempty"`
	EstablishedTime *string               `json:"establishedTime,omitempty"`
	Timers          *BGPAppliedTimers     `json:"timers,omitempty"`
	RouteCount      []BGPFamilyRouteCount `json:"routeCount,omitempty"`
}

// BGPAppliedTimers are the negotiated timers.
type BGPAppliedTimers struct {
	AppliedHoldTimeSeconds  *int32 `json:"appliedHoldTimeSeconds,omitempty"`
	AppliedKeepaliveSeconds *int32 `json:"appliedKeepaliveSeconds,omitempty"`
}

// BGPFamilyRouteCount counts routes per family.
type BGPFamilyRouteCount struct {
	AFI        string `json:"afi"`
	SAFI       string `json:"safi"`
	Advertised *int32 `json:"advertised,omitempty"`
	Received   *int32 `json:"received,omitempty"`
}

// ConditionsStatus is a status with conditions only.
type ConditionsStatus struct {
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ---- L2 -------------------------------------------------------------------------------------

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=l2announcement,categories=herald
// +kubebuilder:subresource:status

// L2AnnouncementPolicy selects Services answered with ARP/NDP and the nodes and interfaces
// that answer (CiliumL2AnnouncementPolicy).
type L2AnnouncementPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              L2AnnouncementPolicySpec `json:"spec"`
	Status            ConditionsStatus         `json:"status,omitempty"`
}

// L2AnnouncementPolicySpec is the spec of an L2AnnouncementPolicy.
type L2AnnouncementPolicySpec struct {
	NodeSelector    *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	ServiceSelector *metav1.LabelSelector `json:"serviceSelector,omitempty"`
	LoadBalancerIPs bool                  `json:"loadBalancerIPs,omitempty"`
	ExternalIPs     bool                  `json:"externalIPs,omitempty"`
	// Interfaces are regular expressions; unset means the interface of the default route.
	Interfaces []string `json:"interfaces,omitempty"`
}
