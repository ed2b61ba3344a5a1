package manifest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/model"
)

// MetalLBClusterConfig names the cluster config that MetalLB peers are gathered into.
const MetalLBClusterConfig = "metallb"

func (c *converter) metallbPool(o *Object, x *MetalLBIPAddressPool) {
	p := &v1alpha1.LoadBalancerIPPool{ObjectMeta: x.ObjectMeta, Spec: v1alpha1.LoadBalancerIPPoolSpec{
		// MetalLB hands out every address of a CIDR unless avoidBuggyIPs is set.
		AllowFirstLastIPs: "Yes",
		AutoAssign:        x.Spec.AutoAssign,
		AvoidBuggyIPs:     x.Spec.AvoidBuggyIPs,
		ServiceAllocation: x.Spec.ServiceAllocation,
	}}
	for i, a := range x.Spec.Addresses {
		b, err := model.ParseRangeString(a)
		if err != nil {
			c.fail(o, fmt.Sprintf("spec.addresses[%d]", i), err.Error())
			continue
		}
		if b.CIDR.IsValid() {
			p.Spec.Blocks = append(p.Spec.Blocks, v1alpha1.IPPoolBlock{Cidr: b.CIDR.String()})
		} else {
			p.Spec.Blocks = append(p.Spec.Blocks, v1alpha1.IPPoolBlock{Start: b.From.String(), Stop: b.To.String()})
		}
	}
	c.emit(o, v1alpha1.KindLoadBalancerIPPool, &p.ObjectMeta, &p.TypeMeta, p, false)
}

// metallbPeerObj emits a peer config for the peer and, for the first peer of each ASN, the
// shared cluster config holding every MetalLB peer (one instance per local ASN).
func (c *converter) metallbPeerObj(o *Object, x *MetalLBBGPPeer) {
	s := x.Spec
	pc := &v1alpha1.BGPPeerConfig{ObjectMeta: metav1.ObjectMeta{Name: x.Name}}
	if s.PeerPort != nil {
		pc.Spec.Transport = &v1alpha1.BGPTransport{PeerPort: s.PeerPort}
	}
	secs := func(d *metav1.Duration) *int32 {
		if d == nil {
			return nil
		}
		return i32(int32(d.Seconds()))
	}
	if s.HoldTime != nil || s.KeepaliveTime != nil || s.ConnectTime != nil {
		pc.Spec.Timers = &v1alpha1.BGPTimers{HoldTimeSeconds: secs(s.HoldTime), KeepAliveTimeSeconds: secs(s.KeepaliveTime), ConnectRetryTimeSeconds: secs(s.ConnectTime)}
	}
	if s.EnableGracefulRestart {
		pc.Spec.GracefulRestart = &v1alpha1.BGPGracefulRestart{Enabled: true}
	}
	if s.EBGPMultiHop {
		pc.Spec.EBGPMultihop = i32(255)
	}
	switch {
	case s.PasswordSecret != nil:
		pc.Spec.AuthSecretRef = str(s.PasswordSecret.Name)
	case s.Password != "":
		c.warn(o, "spec.password", "a literal password is not carried over: put it in a Secret (key \"password\") and set authSecretRef on peer config "+x.Name)
	}
	if s.BFDProfile != "" {
		prof, ok := c.bfd[s.BFDProfile]
		if !ok {
			c.fail(o, "spec.bfdProfile", fmt.Sprintf("BFDProfile %q is not among the loaded manifests", s.BFDProfile))
		} else {
			pc.Spec.BFD = &v1alpha1.BFDConfig{ReceiveIntervalMs: prof.Spec.ReceiveInterval, TransmitIntervalMs: prof.Spec.TransmitInterval, DetectMultiplier: prof.Spec.DetectMultiplier}
			if prof.Spec.EchoMode || prof.Spec.PassiveMode {
				c.warn(o, "spec.bfdProfile", "BFD echo and passive modes are not supported; plain asynchronous BFD is used")
			}
		}
	}
	for _, f := range []string{"ipv4", "ipv6"} {
		pc.Spec.Families = append(pc.Spec.Families, v1alpha1.BGPFamily{AFI: f, SAFI: "unicast", Advertisements: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: LabelPeerPrefix + x.Name, Operator: metav1.LabelSelectorOpExists}},
		}})
	}
	for fieldName, set := range map[string]bool{"spec.nodeSelectors": len(s.NodeSelectors) > 0, "spec.routerID": s.RouterID != "", "spec.sourceAddress": s.SourceAddress != "", "spec.vrf": s.VRFName != ""} {
		if set {
			c.warn(o, fieldName, "is per node or per VRF in MetalLB and is not converted; use a BGPClusterConfig nodeSelector or a BGPNodeConfigOverride")
		}
	}
	c.emit(o, v1alpha1.KindBGPPeerConfig, &pc.ObjectMeta, &pc.TypeMeta, pc, false)
	if c.metallbPeer[0] == x.Name {
		c.metallbCluster(o)
	}
}

func (c *converter) metallbCluster(o *Object) {
	cc := &v1alpha1.BGPClusterConfig{ObjectMeta: metav1.ObjectMeta{Name: MetalLBClusterConfig}}
	for _, asn := range c.metallbASNs {
		in := v1alpha1.BGPInstance{Name: fmt.Sprintf("asn-%d", asn), LocalASN: i64(asn)}
		for _, po := range c.in.Objects {
			p, ok := po.Obj.(*MetalLBBGPPeer)
			if !ok || p.Spec.MyASN != asn {
				continue
			}
			in.Peers = append(in.Peers, v1alpha1.BGPPeer{
				Name: p.Name, PeerAddress: str(p.Spec.PeerAddress), PeerASN: i64(p.Spec.PeerASN),
				PeerConfigRef: &v1alpha1.PeerConfigReference{Name: p.Name},
			})
		}
		cc.Spec.BGPInstances = append(cc.Spec.BGPInstances, in)
	}
	c.emit(o, v1alpha1.KindBGPClusterConfig, &cc.ObjectMeta, &cc.TypeMeta, cc, false)
}

func (c *converter) metallbAdvertisement(o *Object, x *MetalLBBGPAdvertisement) {
	s := x.Spec
	peers := s.Peers
	if len(peers) == 0 {
		peers = c.metallbPeer
		if len(peers) == 0 {
			c.warn(o, "", "no MetalLB BGPPeer is among the loaded manifests, so no peer config selects this advertisement")
		}
	}
	ad := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: x.Name, Labels: map[string]string{}}}
	for _, p := range peers {
		ad.Labels[LabelPeerPrefix+p] = ""
	}
	entry := v1alpha1.BGPAdvertisementEntry{AdvertisementType: "Service", Service: &v1alpha1.BGPServiceOptions{Addresses: []string{"LoadBalancerIP"}}}
	if len(s.IPAddressPools) == 0 && len(s.IPAddressPoolSelectors) == 0 {
		entry.Selector = &metav1.LabelSelector{} // MetalLB: every pool
	} else {
		sel, _ := c.poolSelector(s.IPAddressPools, s.IPAddressPoolSelectors)
		if sel == nil {
			c.warn(o, "spec.ipAddressPoolSelectors", "selects no pool among the loaded manifests; nothing is advertised")
			sel = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: model.LabelServicePool, Operator: metav1.LabelSelectorOpDoesNotExist}}}
		}
		entry.Selector = sel
	}
	if s.AggregationLength != nil || s.AggregationLengthV6 != nil {
		entry.Service.AggregationLengthIPv4 = i16(s.AggregationLength)
		entry.Service.AggregationLengthIPv6 = i16(s.AggregationLengthV6)
	}
	attrs := &v1alpha1.BGPAttributes{LocalPreference: s.LocalPref}
	for i, cm := range s.Communities {
		v := cm
		if alias, ok := c.communities[cm]; ok {
			v = alias
		}
		if l, ok := strings.CutPrefix(v, "large:"); ok {
			comms(attrs).Large = append(comms(attrs).Large, l)
		} else if strings.Count(v, ":") == 1 {
			comms(attrs).Standard = append(comms(attrs).Standard, v)
		} else {
			c.fail(o, fmt.Sprintf("spec.communities[%d]", i), fmt.Sprintf("%q is neither a community (65001:100, large:1:2:3) nor a Community alias among the loaded manifests", cm))
		}
	}
	if attrs.LocalPreference != nil || attrs.Communities != nil {
		entry.Attributes = attrs
	}
	if len(s.NodeSelectors) > 0 {
		c.warn(o, "spec.nodeSelectors", "per-advertisement node selection is not converted: every node selected by the cluster config advertises")
	}
	ad.Spec.Advertisements = []v1alpha1.BGPAdvertisementEntry{entry}
	c.emit(o, v1alpha1.KindBGPAdvertisement, &ad.ObjectMeta, &ad.TypeMeta, ad, false)
}

func (c *converter) metallbL2(o *Object, x *MetalLBL2Advertisement) {
	s := x.Spec
	pol := &v1alpha1.L2AnnouncementPolicy{ObjectMeta: metav1.ObjectMeta{Name: x.Name}, Spec: v1alpha1.L2AnnouncementPolicySpec{LoadBalancerIPs: true}}
	if len(s.IPAddressPools) > 0 || len(s.IPAddressPoolSelectors) > 0 {
		sel, _ := c.poolSelector(s.IPAddressPools, s.IPAddressPoolSelectors)
		if sel == nil {
			c.warn(o, "spec.ipAddressPoolSelectors", "selects no pool among the loaded manifests; nothing is announced")
			sel = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: model.LabelServicePool, Operator: metav1.LabelSelectorOpDoesNotExist}}}
		}
		pol.Spec.ServiceSelector = sel
	}
	switch len(s.NodeSelectors) {
	case 0:
	case 1:
		pol.Spec.NodeSelector = &s.NodeSelectors[0]
	default:
		c.warn(o, "spec.nodeSelectors", "several node selectors (ORed in MetalLB) cannot be expressed in one policy; only the first is used")
		pol.Spec.NodeSelector = &s.NodeSelectors[0]
	}
	for _, ifc := range s.Interfaces {
		pol.Spec.Interfaces = append(pol.Spec.Interfaces, "^"+regexp.QuoteMeta(ifc)+"$")
	}
	slices.Sort(pol.Spec.Interfaces)
	c.emit(o, v1alpha1.KindL2AnnouncementPolicy, &pol.ObjectMeta, &pol.TypeMeta, pol, false)
}

// comms returns the attributes' communities, creating them on first use.
func comms(a *v1alpha1.BGPAttributes) *v1alpha1.BGPCommunities {
	if a.Communities == nil {
		a.Communities = &v1alpha1.BGPCommunities{}
	}
	return a.Communities
}

func i16(v *int32) *int16 {
	if v == nil {
		return nil
	}
	x := int16(*v)
	return &x
}
