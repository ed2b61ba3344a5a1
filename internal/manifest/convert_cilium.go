package manifest

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/v1alpha1"
)

// peeringPolicy converts a v1 CiliumBGPPeeringPolicy the way Cilium's own migration guide maps
// it: the policy becomes a cluster config, each virtual router an instance, and each neighbour
// a peer with its own peer config and advertisement (v1 path attributes are per neighbour).
func (c *converter) peeringPolicy(o *Object, x *CiliumBGPPeeringPolicy) {
	cc := &v1alpha1.BGPClusterConfig{
		ObjectMeta: metav1.ObjectMeta{Name: x.Name, Labels: x.Labels},
		Spec:       v1alpha1.BGPClusterConfigSpec{NodeSelector: x.Spec.NodeSelector},
	}
	instNames := map[string]int{}
	for i, vr := range x.Spec.VirtualRouters {
		vp := fmt.Sprintf("spec.virtualRouters[%d]", i)
		inst := fmt.Sprintf("asn-%d", vr.LocalASN)
		if n := instNames[inst]; n > 0 {
			inst = fmt.Sprintf("%s-%d", inst, n+1)
		}
		instNames[inst]++
		if vr.PodIPPoolSelector != nil {
			c.warn(o, vp+".podIPPoolSelector", "Cilium multi-pool pod IPAM is not supported by Herald; pod IP pools are not advertised")
		}
		in := v1alpha1.BGPInstance{Name: inst, LocalASN: i64(vr.LocalASN)}
		for j, nb := range vr.Neighbors {
			np := fmt.Sprintf("%s.neighbors[%d]", vp, j)
			addr, _, _ := strings.Cut(nb.PeerAddress, "/") // v1 writes peers as /32 or /128
			peer := "peer-" + dnsName(addr)
			pcName := dnsName(x.Name, inst, peer)
			in.Peers = append(in.Peers, v1alpha1.BGPPeer{
				Name: peer, PeerAddress: str(addr), PeerASN: i64(nb.PeerASN),
				PeerConfigRef: &v1alpha1.PeerConfigReference{Name: pcName},
			})
			c.v1PeerConfig(o, np, pcName, nb)
			c.v1Advertisement(o, np, pcName, vr, nb)
		}
		cc.Spec.BGPInstances = append(cc.Spec.BGPInstances, in)
	}
	c.emit(o, v1alpha1.KindBGPClusterConfig, &cc.ObjectMeta, &cc.TypeMeta, cc, false)
}

func (c *converter) v1PeerConfig(o *Object, np, name string, nb CiliumNeighbor) {
	pc := &v1alpha1.BGPPeerConfig{ObjectMeta: metav1.ObjectMeta{Name: name}}
	s := &pc.Spec
	if nb.PeerPort != nil {
		s.Transport = &v1alpha1.BGPTransport{PeerPort: nb.PeerPort}
	}
	if nb.ConnectRetryTimeSeconds != nil || nb.HoldTimeSeconds != nil || nb.KeepAliveTimeSeconds != nil {
		s.Timers = &v1alpha1.BGPTimers{
			ConnectRetryTimeSeconds: nb.ConnectRetryTimeSeconds,
			HoldTimeSeconds:         nb.HoldTimeSeconds,
			KeepAliveTimeSeconds:    nb.KeepAliveTimeSeconds,
		}
	}
	s.AuthSecretRef = nb.AuthSecretRef
	s.GracefulRestart = nb.GracefulRestart
	s.EBGPMultihop = nb.EBGPMultihopTTL
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{LabelPeerConfig: labelValue(name)}}
	fams := nb.Families
	if len(fams) == 0 {
		fams = []struct{ AFI, SAFI string }{{"ipv4", "unicast"}, {"ipv6", "unicast"}}
	}
	for _, f := range fams {
		s.Families = append(s.Families, v1alpha1.BGPFamily{AFI: f.AFI, SAFI: f.SAFI, Advertisements: sel})
	}
	c.emit(o, v1alpha1.KindBGPPeerConfig, &pc.ObjectMeta, &pc.TypeMeta, pc, false)
}

func (c *converter) v1Advertisement(o *Object, np, name string, vr CiliumVirtualRouter, nb CiliumNeighbor) {
	ad := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{LabelPeerConfig: labelValue(name)},
	}}
	var podAttrs *v1alpha1.BGPAttributes
	var poolEntries []v1alpha1.BGPAdvertisementEntry
	addresses := vr.ServiceAdvertisements
	if len(addresses) == 0 {
		addresses = []string{"LoadBalancerIP"} // v1's default
	}
	for k, pa := range nb.AdvertisedPathAttributes {
		pp := fmt.Sprintf("%s.advertisedPathAttributes[%d]", np, k)
		attrs := &v1alpha1.BGPAttributes{Communities: pa.Communities, LocalPreference: pa.LocalPreference}
		switch pa.SelectorType {
		case "PodCIDR":
			podAttrs = attrs
			if vr.ExportPodCIDR == nil || !*vr.ExportPodCIDR {
				c.warn(o, pp, "path attributes for PodCIDR while exportPodCIDR is off: nothing to attach them to")
			}
		case "CiliumLoadBalancerIPPool":
			if vr.ServiceSelector == nil {
				c.warn(o, pp, "path attributes for pools while the virtual router has no serviceSelector: no Service is advertised")
				continue
			}
			var sels []metav1.LabelSelector
			if pa.Selector != nil {
				sels = []metav1.LabelSelector{*pa.Selector}
			} else {
				sels = []metav1.LabelSelector{{}}
			}
			poolSel, _ := c.poolSelector(nil, sels)
			if poolSel == nil {
				c.warn(o, pp+".selector", "selects no pool among the loaded manifests; these attributes apply to nothing (load the pools together with the policy)")
				continue
			}
			sel := vr.ServiceSelector.DeepCopy()
			sel.MatchExpressions = append(sel.MatchExpressions, poolSel.MatchExpressions...)
			poolEntries = append(poolEntries, v1alpha1.BGPAdvertisementEntry{
				AdvertisementType: "Service", Service: &v1alpha1.BGPServiceOptions{Addresses: addresses},
				Selector: sel, Attributes: attrs,
			})
		default:
			c.warn(o, pp+".selectorType", fmt.Sprintf("%q is not supported by Herald (PodCIDR and CiliumLoadBalancerIPPool are)", pa.SelectorType))
		}
	}
	if vr.ExportPodCIDR != nil && *vr.ExportPodCIDR {
		ad.Spec.Advertisements = append(ad.Spec.Advertisements, v1alpha1.BGPAdvertisementEntry{AdvertisementType: "PodCIDR", Attributes: podAttrs})
	}
	if vr.ServiceSelector != nil {
		// The plain entry advertises every selected Service; the pool entries add attributes
		// to the same prefixes, and Herald unites them as Cilium does.
		ad.Spec.Advertisements = append(ad.Spec.Advertisements, v1alpha1.BGPAdvertisementEntry{
			AdvertisementType: "Service", Service: &v1alpha1.BGPServiceOptions{Addresses: addresses}, Selector: vr.ServiceSelector,
		})
		ad.Spec.Advertisements = append(ad.Spec.Advertisements, poolEntries...)
	}
	if len(ad.Spec.Advertisements) == 0 {
		c.warn(o, np, "this neighbour advertises nothing: exportPodCIDR is off and the virtual router has no serviceSelector")
		return
	}
	c.emit(o, v1alpha1.KindBGPAdvertisement, &ad.ObjectMeta, &ad.TypeMeta, ad, false)
}
