package manifest

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/v1alpha1"
)

type gvk struct{ apiVersion, kind string }

// strictness says what an unknown field means.
type strictness int

const (
	// strict: Herald's own kinds; an unknown field is a typo and an error.
	strict strictness = iota
	// foreign: Cilium and MetalLB kinds; an unknown field is a feature Herald lacks, reported
	// as a warning.
	foreign
	// lenient: core kinds, which carry far more than Herald reads.
	lenient
)

type kindInfo struct {
	new    func() any
	strict strictness
}

func k[T any](s strictness) kindInfo { return kindInfo{new: func() any { return new(T) }, strict: s} }

// kinds is every kind Herald reads. Cilium's BGPv2 kinds decode straight into Herald's types:
// that is what field-for-field means.
var kinds = map[gvk]kindInfo{}

func init() {
	h := v1alpha1.GroupVersion
	kinds[gvk{h, v1alpha1.KindLoadBalancerIPPool}] = k[v1alpha1.LoadBalancerIPPool](strict)
	kinds[gvk{h, v1alpha1.KindBGPClusterConfig}] = k[v1alpha1.BGPClusterConfig](strict)
	kinds[gvk{h, v1alpha1.KindBGPPeerConfig}] = k[v1alpha1.BGPPeerConfig](strict)
	kinds[gvk{h, v1alpha1.KindBGPAdvertisement}] = k[v1alpha1.BGPAdvertisement](strict)
	kinds[gvk{h, v1alpha1.KindBGPNodeConfigOverride}] = k[v1alpha1.BGPNodeConfigOverride](strict)
	kinds[gvk{h, v1alpha1.KindL2AnnouncementPolicy}] = k[v1alpha1.L2AnnouncementPolicy](strict)

	for _, v := range []string{"cilium.io/v2", "cilium.io/v2alpha1"} {
		kinds[gvk{v, "CiliumLoadBalancerIPPool"}] = k[CiliumLoadBalancerIPPool](foreign)
		kinds[gvk{v, "CiliumBGPClusterConfig"}] = k[v1alpha1.BGPClusterConfig](foreign)
		kinds[gvk{v, "CiliumBGPPeerConfig"}] = k[v1alpha1.BGPPeerConfig](foreign)
		kinds[gvk{v, "CiliumBGPAdvertisement"}] = k[v1alpha1.BGPAdvertisement](foreign)
		kinds[gvk{v, "CiliumBGPNodeConfigOverride"}] = k[v1alpha1.BGPNodeConfigOverride](foreign)
		kinds[gvk{v, "CiliumL2AnnouncementPolicy"}] = k[v1alpha1.L2AnnouncementPolicy](foreign)
		kinds[gvk{v, "CiliumBGPPeeringPolicy"}] = k[CiliumBGPPeeringPolicy](foreign)
	}
	for _, v := range []string{"metallb.io/v1beta1", "metallb.io/v1beta2"} {
		kinds[gvk{v, "IPAddressPool"}] = k[MetalLBIPAddressPool](foreign)
		kinds[gvk{v, "BGPPeer"}] = k[MetalLBBGPPeer](foreign)
		kinds[gvk{v, "BGPAdvertisement"}] = k[MetalLBBGPAdvertisement](foreign)
		kinds[gvk{v, "L2Advertisement"}] = k[MetalLBL2Advertisement](foreign)
		kinds[gvk{v, "Community"}] = k[MetalLBCommunity](foreign)
		kinds[gvk{v, "BFDProfile"}] = k[MetalLBBFDProfile](foreign)
	}
	kinds[gvk{"v1", "Service"}] = k[corev1.Service](lenient)
	kinds[gvk{"v1", "Node"}] = k[corev1.Node](lenient)
	kinds[gvk{"v1", "Namespace"}] = k[corev1.Namespace](lenient)
	kinds[gvk{"v1", "Secret"}] = k[corev1.Secret](lenient)
	kinds[gvk{"discovery.k8s.io/v1", "EndpointSlice"}] = k[discoveryv1.EndpointSlice](lenient)
}

// kindHint explains why a kind users may expect is not read.
func kindHint(apiVersion, kind string) string {
	switch {
	case kind == "CiliumBGPNodeConfig" || kind == v1alpha1.KindBGPNodeConfig:
		return " (node configs are written by the operator from the cluster configs)"
	case strings.HasPrefix(apiVersion, "cilium.io/"):
		return " (Herald reads Cilium's LB-IPAM, BGP and L2 announcement kinds)"
	case strings.HasPrefix(apiVersion, "metallb.io/"):
		return " (Herald reads MetalLB's IPAddressPool, BGPPeer, BGPAdvertisement, L2Advertisement, Community and BFDProfile)"
	case apiVersion == v1alpha1.GroupVersion:
		return " (check the kind's spelling)"
	}
	return ""
}

// CiliumLoadBalancerIPPool is Cilium's pool; v2alpha1 also had the deprecated spec.cidrs.
type CiliumLoadBalancerIPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		v1alpha1.LoadBalancerIPPoolSpec
		Cidrs []v1alpha1.IPPoolBlock `json:"cidrs,omitempty"`
	} `json:"spec"`
}

// CiliumBGPPeeringPolicy is Cilium's legacy (v1) BGP control plane policy.
type CiliumBGPPeeringPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		NodeSelector   *metav1.LabelSelector `json:"nodeSelector,omitempty"`
		VirtualRouters []CiliumVirtualRouter `json:"virtualRouters"`
	} `json:"spec"`
}

// CiliumVirtualRouter is one virtual router of a v1 policy.
type CiliumVirtualRouter struct {
	LocalASN              int64                 `json:"localASN"`
	ExportPodCIDR         *bool                 `json:"exportPodCIDR,omitempty"`
	PodIPPoolSelector     *metav1.LabelSelector `json:"podIPPoolSelector,omitempty"`
	ServiceSelector       *metav1.LabelSelector `json:"serviceSelector,omitempty"`
	ServiceAdvertisements []string              `json:"serviceAdvertisements,omitempty"`
	Neighbors             []CiliumNeighbor      `json:"neighbors"`
}

// CiliumNeighbor is one neighbour of a v1 virtual router.
type CiliumNeighbor struct {
	PeerAddress              string                       `json:"peerAddress"`
	PeerPort                 *int32                       `json:"peerPort,omitempty"`
	PeerASN                  int64                        `json:"peerASN"`
	AuthSecretRef            *string                      `json:"authSecretRef,omitempty"`
	EBGPMultihopTTL          *int32                       `json:"eBGPMultihopTTL,omitempty"`
	ConnectRetryTimeSeconds  *int32                       `json:"connectRetryTimeSeconds,omitempty"`
	HoldTimeSeconds          *int32                       `json:"holdTimeSeconds,omitempty"`
	KeepAliveTimeSeconds     *int32                       `json:"keepAliveTimeSeconds,omitempty"`
	GracefulRestart          *v1alpha1.BGPGracefulRestart `json:"gracefulRestart,omitempty"`
	Families                 []struct{ AFI, SAFI string } `json:"families,omitempty"`
	AdvertisedPathAttributes []CiliumAdvertisedPathAttrs  `json:"advertisedPathAttributes,omitempty"`
}

// CiliumAdvertisedPathAttrs are v1's per-neighbour path attributes.
type CiliumAdvertisedPathAttrs struct {
	SelectorType    string                   `json:"selectorType"`
	Selector        *metav1.LabelSelector    `json:"selector,omitempty"`
	Communities     *v1alpha1.BGPCommunities `json:"communities,omitempty"`
	LocalPreference *int64                   `json:"localPreference,omitempty"`
}

// MetalLBIPAddressPool is MetalLB's pool.
type MetalLBIPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Addresses         []string                    `json:"addresses"`
		AutoAssign        *bool                       `json:"autoAssign,omitempty"`
		AvoidBuggyIPs     bool                        `json:"avoidBuggyIPs,omitempty"`
		ServiceAllocation *v1alpha1.ServiceAllocation `json:"serviceAllocation,omitempty"`
	} `json:"spec"`
}

// MetalLBBGPPeer is MetalLB's peer.
type MetalLBBGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		MyASN                 int64                   `json:"myASN"`
		PeerASN               int64                   `json:"peerASN"`
		PeerAddress           string                  `json:"peerAddress"`
		SourceAddress         string                  `json:"sourceAddress,omitempty"`
		PeerPort              *int32                  `json:"peerPort,omitempty"`
		HoldTime              *metav1.Duration        `json:"holdTime,omitempty"`
		KeepaliveTime         *metav1.Duration        `json:"keepaliveTime,omitempty"`
		ConnectTime           *metav1.Duration        `json:"connectTime,omitempty"`
		RouterID              string                  `json:"routerID,omitempty"`
		NodeSelectors         []metav1.LabelSelector  `json:"nodeSelectors,omitempty"`
		Password              string                  `json:"password,omitempty"`
		PasswordSecret        *corev1.SecretReference `json:"passwordSecret,omitempty"`
		BFDProfile            string                  `json:"bfdProfile,omitempty"`
		EBGPMultiHop          bool                    `json:"ebgpMultiHop,omitempty"`
		VRFName               string                  `json:"vrf,omitempty"`
		EnableGracefulRestart bool                    `json:"enableGracefulRestart,omitempty"`
	} `json:"spec"`
}

// MetalLBBGPAdvertisement is MetalLB's BGP advertisement.
type MetalLBBGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		AggregationLength      *int32                 `json:"aggregationLength,omitempty"`
		AggregationLengthV6    *int32                 `json:"aggregationLengthV6,omitempty"`
		LocalPref              *int64                 `json:"localPref,omitempty"`
		Communities            []string               `json:"communities,omitempty"`
		IPAddressPools         []string               `json:"ipAddressPools,omitempty"`
		IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`
		NodeSelectors          []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
		Peers                  []string               `json:"peers,omitempty"`
	} `json:"spec"`
}

// MetalLBL2Advertisement is MetalLB's L2 advertisement.
type MetalLBL2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		IPAddressPools         []string               `json:"ipAddressPools,omitempty"`
		IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`
		NodeSelectors          []metav1.LabelSelector `json:"nodeSelectors,omitempty"`
		Interfaces             []string               `json:"interfaces,omitempty"`
	} `json:"spec"`
}

// MetalLBCommunity names communities for BGPAdvertisements to use.
type MetalLBCommunity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Communities []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"communities"`
	} `json:"spec"`
}

// MetalLBBFDProfile is MetalLB's BFD profile.
type MetalLBBFDProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		ReceiveInterval  *int32 `json:"receiveInterval,omitempty"`
		TransmitInterval *int32 `json:"transmitInterval,omitempty"`
		DetectMultiplier *int32 `json:"detectMultiplier,omitempty"`
		EchoInterval     *int32 `json:"echoInterval,omitempty"`
		EchoMode         bool   `json:"echoMode,omitempty"`
		PassiveMode      bool   `json:"passiveMode,omitempty"`
		MinimumTTL       *int32 `json:"minimumTtl,omitempty"`
	} `json:"spec"`
}
