package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func metaAddToGroupVersion(s *runtime.Scheme) { metav1.AddToGroupVersion(s, SchemeGroupVersion) }

// +kubebuilder:object:root=true

// LoadBalancerIPPoolList is a list of pools.
type LoadBalancerIPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancerIPPool `json:"items"`
}

// +kubebuilder:object:root=true

// BGPClusterConfigList is a list of cluster configs.
type BGPClusterConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPClusterConfig `json:"items"`
}

// +kubebuilder:object:root=true

// BGPPeerConfigList is a list of peer configs.
type BGPPeerConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeerConfig `json:"items"`
}

// +kubebuilder:object:root=true

// BGPAdvertisementList is a list of advertisements.
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}

// +kubebuilder:object:root=true

// BGPNodeConfigOverrideList is a list of overrides.
type BGPNodeConfigOverrideList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPNodeConfigOverride `json:"items"`
}

// +kubebuilder:object:root=true

// BGPNodeConfigList is a list of node configs.
type BGPNodeConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPNodeConfig `json:"items"`
}

// +kubebuilder:object:root=true

// L2AnnouncementPolicyList is a list of L2 policies.
type L2AnnouncementPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2AnnouncementPolicy `json:"items"`
}
