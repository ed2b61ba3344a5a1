package v1alpha1

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/heraldlb/herald/internal/model"
)

// Defaults, as Cilium documents them for its v2 kinds (and MetalLB for BFD). They are applied
// by Model, not written back into objects, so that `herald convert` prints what users wrote.
const (
	DefaultPeerPort            = 179
	DefaultConnectRetrySecs    = 120
	DefaultHoldTimeSecs        = 90
	DefaultKeepaliveSecs       = 30
	DefaultRestartTimeSecs     = 120
	DefaultEBGPMultihop        = 1
	DefaultBFDIntervalMs       = 300
	DefaultBFDDetectMultiplier = 3
)

var (
	specPath     = field.NewPath("spec")
	metadataPath = field.NewPath("metadata")
)

// Selector converts and validates a label selector. A nil selector stays nil: each field
// decides what "unset" means.
func Selector(s *metav1.LabelSelector, path *field.Path) (*model.Selector, field.ErrorList) {
	if s == nil {
		return nil, nil
	}
	out := &model.Selector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, model.Requirement{
			Key: e.Key, Operator: model.Operator(e.Operator), Values: e.Values,
		})
	}
	if err := out.Validate(); err != nil {
		return nil, field.ErrorList{field.Invalid(path, s, err.Error())}
	}
	return out, nil
}

func checkName(m metav1.ObjectMeta) field.ErrorList {
	if m.Name == "" {
		return field.ErrorList{field.Required(metadataPath.Child("name"), "every object needs a name")}
	}
	return nil
}

// Model validates the pool and converts it.
func (p *LoadBalancerIPPool) Model() (model.Pool, field.ErrorList) {
	errs := checkName(p.ObjectMeta)
	s := p.Spec
	out := model.Pool{
		Name: p.Name, Labels: p.Labels, Created: p.CreationTimestamp.Time,
		Disabled: s.Disabled, AvoidBuggyIPs: s.AvoidBuggyIPs, AutoAssign: s.AutoAssign == nil || *s.AutoAssign,
	}
	switch s.AllowFirstLastIPs {
	case "", "Yes":
		out.AllowFirstLastIPs = true
	case "No":
	default:
		errs = append(errs, field.NotSupported(specPath.Child("allowFirstLastIPs"), s.AllowFirstLastIPs, []string{"Yes", "No"}))
	}
	bp := specPath.Child("blocks")
	if len(s.Blocks) == 0 {
		errs = append(errs, field.Required(bp, "a pool needs at least one block (cidr, or start and stop)"))
	}
	for i, b := range s.Blocks {
		blk, err := model.ParseBlock(b.Cidr, b.Start, b.Stop)
		if err != nil {
			errs = append(errs, field.Invalid(bp.Index(i), b, err.Error()))
			continue
		}
		for j, prev := range out.Blocks {
			if prev.Overlaps(blk.Range) {
				errs = append(errs, field.Invalid(bp.Index(i), b, fmt.Sprintf("overlaps block %d (%s) of the same pool", j, prev)))
			}
		}
		out.Blocks = append(out.Blocks, blk)
	}
	var e field.ErrorList
	out.ServiceSelector, e = Selector(s.ServiceSelector, specPath.Child("serviceSelector"))
	errs = append(errs, e...)
	if sa := s.ServiceAllocation; sa != nil {
		sp := specPath.Child("serviceAllocation")
		if sa.Priority != nil {
			out.Priority, out.HasPriority = int(*sa.Priority), true
		}
		out.Namespaces = sa.Namespaces
		for i := range sa.NamespaceSelectors {
			sel, e := Selector(&sa.NamespaceSelectors[i], sp.Child("namespaceSelectors").Index(i))
			errs = append(errs, e...)
			out.NamespaceSelectors = append(out.NamespaceSelectors, sel)
		}
		for i := range sa.ServiceSelectors {
			sel, e := Selector(&sa.ServiceSelectors[i], sp.Child("serviceSelectors").Index(i))
			errs = append(errs, e...)
			out.ServiceSelectors = append(out.ServiceSelectors, sel)
		}
	}
	return out, errs
}

func checkASN(v *int64, path *field.Path, allowZero bool) (uint32, field.ErrorList) {
	if v == nil {
		if allowZero {
			return 0, nil
		}
		return 0, field.ErrorList{field.Required(path, "an AS number from 1 to 4294967295")}
	}
	lo := int64(1)
	if allowZero {
		lo = 0
	}
	if *v < lo || *v > math.MaxUint32 {
		what := "1 to 4294967295"
		if allowZero {
			what = "0 (accept any) to 4294967295"
		}
		return 0, field.ErrorList{field.Invalid(path, *v, "AS number must be "+what)}
	}
	return uint32(*v), nil
}

func checkPort(v *int32, path *field.Path) (uint16, field.ErrorList) {
	if v == nil {
		return 0, nil
	}
	if *v < 1 || *v > 65535 {
		return 0, field.ErrorList{field.Invalid(path, *v, "a TCP port from 1 to 65535")}
	}
	return uint16(*v), nil
}

func checkAddr(v *string, path *field.Path) (netip.Addr, field.ErrorList) {
	if v == nil || *v == "" {
		return netip.Addr{}, nil
	}
	a, err := model.ParseAddr(*v)
	if err != nil {
		return netip.Addr{}, field.ErrorList{field.Invalid(path, *v, err.Error())}
	}
	return a, nil
}

// Model validates the cluster config and converts it.
func (c *BGPClusterConfig) Model() (model.BGPClusterConfig, field.ErrorList) {
	errs := checkName(c.ObjectMeta)
	out := model.BGPClusterConfig{Name: c.Name, Created: c.CreationTimestamp.Time}
	var e field.ErrorList
	out.NodeSelector, e = Selector(c.Spec.NodeSelector, specPath.Child("nodeSelector"))
	errs = append(errs, e...)
	ip := specPath.Child("bgpInstances")
	if len(c.Spec.BGPInstances) == 0 {
		errs = append(errs, field.Required(ip, "at least one BGP instance"))
	}
	names := map[string]bool{}
	for i, in := range c.Spec.BGPInstances {
		p := ip.Index(i)
		if in.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), "instances are named"))
		} else if names[in.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), in.Name))
		}
		names[in.Name] = true
		mi := model.BGPInstance{Name: in.Name}
		mi.LocalASN, e = checkASN(in.LocalASN, p.Child("localASN"), false)
		errs = append(errs, e...)
		mi.LocalPort, e = checkPort(in.LocalPort, p.Child("localPort"))
		errs = append(errs, e...)
		peerNames := map[string]bool{}
		for j, peer := range in.Peers {
			pp := p.Child("peers").Index(j)
			if peer.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), "peers are named"))
			} else if peerNames[peer.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), peer.Name))
			}
			peerNames[peer.Name] = true
			mp := model.BGPPeer{Name: peer.Name}
			if peer.PeerAddress == nil || *peer.PeerAddress == "" {
				errs = append(errs, field.Required(pp.Child("peerAddress"), "the router's address, e.g. 10.90.254.1"))
			} else {
				mp.Address, e = checkAddr(peer.PeerAddress, pp.Child("peerAddress"))
				errs = append(errs, e...)
			}
			mp.ASN, e = checkASN(peer.PeerASN, pp.Child("peerASN"), true)
			errs = append(errs, e...)
			if peer.PeerConfigRef != nil {
				mp.PeerConfigRef = peer.PeerConfigRef.Name
			}
			mi.Peers = append(mi.Peers, mp)
		}
		out.Instances = append(out.Instances, mi)
	}
	return out, errs
}

func seconds(v *int32, def int32) int32 {
	if v == nil {
		return def
	}
	return *v
}

// Model validates the peer config, applies Cilium's defaults and converts it.
func (c *BGPPeerConfig) Model() (model.BGPPeerConfig, field.ErrorList) {
	errs := checkName(c.ObjectMeta)
	s := c.Spec
	out := model.BGPPeerConfig{Name: c.Name, PeerPort: DefaultPeerPort, EBGPMultihop: DefaultEBGPMultihop}
	var e field.ErrorList
	if s.Transport != nil && s.Transport.PeerPort != nil {
		out.PeerPort, e = checkPort(s.Transport.PeerPort, specPath.Child("transport", "peerPort"))
		errs = append(errs, e...)
	}
	var t BGPTimers
	if s.Timers != nil {
		t = *s.Timers
	}
	tp := specPath.Child("timers")
	retry := seconds(t.ConnectRetryTimeSeconds, DefaultConnectRetrySecs)
	hold := seconds(t.HoldTimeSeconds, DefaultHoldTimeSecs)
	keep := seconds(t.KeepAliveTimeSeconds, DefaultKeepaliveSecs)
	if t.HoldTimeSeconds != nil && t.KeepAliveTimeSeconds == nil && hold > 0 {
		keep = max(1, hold/3) // RFC 4271 §10 suggests a third of the hold time
	}
	if retry < 1 || retry > 65535 {
		errs = append(errs, field.Invalid(tp.Child("connectRetryTimeSeconds"), retry, "from 1 to 65535 seconds"))
	}
	if hold != 0 && (hold < 3 || hold > 65535) {
		errs = append(errs, field.Invalid(tp.Child("holdTimeSeconds"), hold, "0 (no keepalives) or 3 to 65535 seconds (RFC 4271)"))
	}
	switch {
	case keep < 1 || keep > 65535:
		errs = append(errs, field.Invalid(tp.Child("keepAliveTimeSeconds"), keep, "from 1 to 65535 seconds"))
	case hold != 0 && keep > hold:
		errs = append(errs, field.Invalid(tp.Child("keepAliveTimeSeconds"), keep,
			fmt.Sprintf("must not exceed holdTimeSeconds (%d); a third of it is usual", hold)))
	}
	out.Timers = model.Timers{
		ConnectRetry: time.Duration(retry) * time.Second,
		Hold:         time.Duration(hold) * time.Second,
		Keepalive:    time.Duration(keep) * time.Second,
	}
	if s.AuthSecretRef != nil {
		if *s.AuthSecretRef == "" {
			errs = append(errs, field.Invalid(specPath.Child("authSecretRef"), "", "name a Secret, or remove the field"))
		}
		out.AuthSecretRef = *s.AuthSecretRef
	}
	if gr := s.GracefulRestart; gr != nil {
		rt := seconds(gr.RestartTimeSeconds, DefaultRestartTimeSecs)
		if rt < 1 || rt > 4095 {
			errs = append(errs, field.Invalid(specPath.Child("gracefulRestart", "restartTimeSeconds"), rt, "from 1 to 4095 seconds (a 12-bit field, RFC 4724)"))
		}
		out.GracefulRestart = model.GracefulRestart{Enabled: gr.Enabled, RestartTime: time.Duration(rt) * time.Second}
	}
	if s.EBGPMultihop != nil {
		if *s.EBGPMultihop < 1 || *s.EBGPMultihop > 255 {
			errs = append(errs, field.Invalid(specPath.Child("ebgpMultihop"), *s.EBGPMultihop, "a TTL from 1 to 255"))
		} else {
			out.EBGPMultihop = uint8(*s.EBGPMultihop)
		}
	}
	out.Families, e = families(s.Families)
	errs = append(errs, e...)
	out.BFD, e = bfd(s.BFD)
	errs = append(errs, e...)
	return out, errs
}

func families(fs []BGPFamily) ([]model.PeerFamily, field.ErrorList) {
	if len(fs) == 0 {
		// Cilium's default: both unicast families, advertising nothing until selected.
		return []model.PeerFamily{{AFISAFI: model.AFISAFI{AFI: "ipv4", SAFI: "unicast"}}, {AFISAFI: model.AFISAFI{AFI: "ipv6", SAFI: "unicast"}}}, nil
	}
	var errs field.ErrorList
	var out []model.PeerFamily
	seen := map[model.AFISAFI]bool{}
	for i, f := range fs {
		p := specPath.Child("families").Index(i)
		if f.AFI != "ipv4" && f.AFI != "ipv6" {
			errs = append(errs, field.NotSupported(p.Child("afi"), f.AFI, []string{"ipv4", "ipv6"}))
		}
		if f.SAFI != "unicast" {
			errs = append(errs, field.NotSupported(p.Child("safi"), f.SAFI, []string{"unicast"}))
		}
		k := model.AFISAFI{AFI: f.AFI, SAFI: f.SAFI}
		if seen[k] {
			errs = append(errs, field.Duplicate(p, k.String()))
		}
		seen[k] = true
		sel, e := Selector(f.Advertisements, p.Child("advertisements"))
		errs = append(errs, e...)
		out = append(out, model.PeerFamily{AFISAFI: k, Advertisements: sel})
	}
	return out, errs
}

func bfd(b *BFDConfig) (model.BFD, field.ErrorList) {
	if b == nil || (b.Enabled != nil && !*b.Enabled) {
		return model.BFD{}, nil
	}
	p := specPath.Child("bfd")
	var errs field.ErrorList
	ms := func(v *int32, name string) time.Duration {
		x := seconds(v, DefaultBFDIntervalMs)
		if x < 10 || x > 60000 {
			errs = append(errs, field.Invalid(p.Child(name), x, "milliseconds from 10 to 60000"))
		}
		return time.Duration(x) * time.Millisecond
	}
	out := model.BFD{Enabled: true, MinRx: ms(b.ReceiveIntervalMs, "receiveInterval"), MinTx: ms(b.TransmitIntervalMs, "transmitInterval")}
	m := seconds(b.DetectMultiplier, DefaultBFDDetectMultiplier)
	if m < 2 || m > 255 {
		errs = append(errs, field.Invalid(p.Child("detectMultiplier"), m, "from 2 to 255"))
	}
	out.DetectMultiplier = uint8(min(max(m, 0), 255))
	return out, errs
}

// Model validates the advertisement and converts it.
func (a *BGPAdvertisement) Model() (model.BGPAdvertisement, field.ErrorList) {
	errs := checkName(a.ObjectMeta)
	out := model.BGPAdvertisement{Name: a.Name, Labels: a.Labels}
	ap := specPath.Child("advertisements")
	if len(a.Spec.Advertisements) == 0 {
		errs = append(errs, field.Required(ap, "at least one advertisement"))
	}
	for i, ad := range a.Spec.Advertisements {
		me, e := ad.model(ap.Index(i))
		errs = append(errs, e...)
		out.Entries = append(out.Entries, me)
	}
	return out, errs
}

func (ad BGPAdvertisementEntry) model(p *field.Path) (model.AdvertisementEntry, field.ErrorList) {
	var errs field.ErrorList
	out := model.AdvertisementEntry{Type: model.AdvertisementType(ad.AdvertisementType)}
	switch out.Type {
	case model.AdvertisePodCIDR:
		if ad.Service != nil || ad.Selector != nil {
			errs = append(errs, field.Forbidden(p, "service and selector apply to advertisementType Service only"))
		}
	case model.AdvertiseService:
		if ad.Service == nil || len(ad.Service.Addresses) == 0 {
			errs = append(errs, field.Required(p.Child("service", "addresses"), "one or more of LoadBalancerIP, ClusterIP, ExternalIP"))
			break
		}
		for j, at := range ad.Service.Addresses {
			switch t := model.ServiceAddressType(at); t {
			case model.AddressLoadBalancerIP, model.AddressClusterIP, model.AddressExternalIP:
				out.ServiceAddresses = append(out.ServiceAddresses, t)
			default:
				errs = append(errs, field.NotSupported(p.Child("service", "addresses").Index(j), at, []string{"LoadBalancerIP", "ClusterIP", "ExternalIP"}))
			}
		}
		agg := func(v *int16, maxLen int16, name string) uint8 {
			if v == nil {
				return 0
			}
			if *v < 0 || *v > maxLen {
				errs = append(errs, field.Invalid(p.Child("service", name), *v, fmt.Sprintf("a prefix length from 0 to %d", maxLen)))
				return 0
			}
			return uint8(*v)
		}
		out.AggregationLengthIPv4 = agg(ad.Service.AggregationLengthIPv4, 32, "aggregationLengthIPv4")
		out.AggregationLengthIPv6 = agg(ad.Service.AggregationLengthIPv6, 128, "aggregationLengthIPv6")
	default:
		errs = append(errs, field.NotSupported(p.Child("advertisementType"), ad.AdvertisementType, []string{"PodCIDR", "Service"}))
	}
	var e field.ErrorList
	out.Selector, e = Selector(ad.Selector, p.Child("selector"))
	errs = append(errs, e...)
	out.Attributes, e = attributes(ad.Attributes, p.Child("attributes"))
	errs = append(errs, e...)
	return out, errs
}

func attributes(a *BGPAttributes, p *field.Path) (model.PathAttributes, field.ErrorList) {
	var out model.PathAttributes
	if a == nil {
		return out, nil
	}
	var errs field.ErrorList
	if a.LocalPreference != nil {
		if *a.LocalPreference < 0 || *a.LocalPreference > math.MaxUint32 {
			errs = append(errs, field.Invalid(p.Child("localPreference"), *a.LocalPreference, "from 0 to 4294967295"))
		} else {
			lp := uint32(*a.LocalPreference)
			out.LocalPreference = &lp
		}
	}
	if c := a.Communities; c != nil {
		cp := p.Child("communities")
		for i, s := range c.Standard {
			v, err := model.ParseCommunity(s)
			if err != nil {
				errs = append(errs, field.Invalid(cp.Child("standard").Index(i), s, err.Error()))
			}
			out.Communities.Standard = append(out.Communities.Standard, v)
		}
		for i, s := range c.WellKnown {
			v, err := model.ParseWellKnownCommunity(s)
			if err != nil {
				errs = append(errs, field.Invalid(cp.Child("wellKnown").Index(i), s, err.Error()))
			}
			out.Communities.Standard = append(out.Communities.Standard, v)
		}
		for i, s := range c.Large {
			v, err := model.ParseLargeCommunity(s)
			if err != nil {
				errs = append(errs, field.Invalid(cp.Child("large").Index(i), s, err.Error()))
			}
			out.Communities.Large = append(out.Communities.Large, v)
		}
		out.Communities = out.Communities.Union(model.Communities{})
	}
	return out, errs
}

// Model validates the override and converts it; the object's name is the node's.
func (o *BGPNodeConfigOverride) Model() (model.BGPNodeOverride, field.ErrorList) {
	errs := checkName(o.ObjectMeta)
	out := model.BGPNodeOverride{Node: o.Name}
	var e field.ErrorList
	for i, in := range o.Spec.BGPInstances {
		p := specPath.Child("bgpInstances").Index(i)
		if in.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), "the name of the instance to override"))
		}
		mi := model.BGPInstanceOverride{Name: in.Name}
		mi.RouterID, e = checkAddr(in.RouterID, p.Child("routerID"))
		errs = append(errs, e...)
		if mi.RouterID.IsValid() && !mi.RouterID.Is4() {
			errs = append(errs, field.Invalid(p.Child("routerID"), *in.RouterID, "a router ID is written as an IPv4 address"))
		}
		mi.LocalPort, e = checkPort(in.LocalPort, p.Child("localPort"))
		errs = append(errs, e...)
		if in.LocalASN != nil {
			mi.LocalASN, e = checkASN(in.LocalASN, p.Child("localASN"), false)
			errs = append(errs, e...)
		}
		for j, peer := range in.Peers {
			mp := model.BGPPeerOverride{Name: peer.Name}
			mp.LocalAddress, e = checkAddr(peer.LocalAddress, p.Child("peers").Index(j).Child("localAddress"))
			errs = append(errs, e...)
			mi.Peers = append(mi.Peers, mp)
		}
		out.Instances = append(out.Instances, mi)
	}
	return out, errs
}

// Model validates the policy and converts it.
func (l *L2AnnouncementPolicy) Model() (model.L2Policy, field.ErrorList) {
	errs := checkName(l.ObjectMeta)
	out := model.L2Policy{Name: l.Name, LoadBalancerIPs: l.Spec.LoadBalancerIPs, ExternalIPs: l.Spec.ExternalIPs}
	var e field.ErrorList
	out.ServiceSelector, e = Selector(l.Spec.ServiceSelector, specPath.Child("serviceSelector"))
	errs = append(errs, e...)
	out.NodeSelector, e = Selector(l.Spec.NodeSelector, specPath.Child("nodeSelector"))
	errs = append(errs, e...)
	for i, expr := range l.Spec.Interfaces {
		re, err := regexp.Compile(expr)
		if err != nil {
			errs = append(errs, field.Invalid(specPath.Child("interfaces").Index(i), expr, "not a regular expression: "+err.Error()))
			continue
		}
		out.Interfaces = append(out.Interfaces, re)
	}
	return out, errs
}
