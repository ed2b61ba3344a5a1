// +kubebuilder:object:generate=true
// +groupName=herald.io

package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeGroupVersion is herald.io/v1alpha1 for the client libraries.
var SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}

var (
	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme registers Herald's kinds.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&LoadBalancerIPPool{}, &LoadBalancerIPPoolList{},
		&BGPClusterConfig{}, &BGPClusterConfigList{},
		&BGPPeerConfig{}, &BGPPeerConfigList{},
		&BGPAdvertisement{}, &BGPAdvertisementList{},
		&BGPNodeConfigOverride{}, &BGPNodeConfigOverrideList{},
		&BGPNodeConfig{}, &BGPNodeConfigList{},
		&L2AnnouncementPolicy{}, &L2AnnouncementPolicyList{},
	)
	metaAddToGroupVersion(s)
	return nil
}
