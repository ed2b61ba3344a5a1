package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/model"
)

// Labels that conversion writes so that Herald's selectors can express what Cilium v1 and
// MetalLB select by other means.
const (
	// LabelPeerConfig marks the advertisement converted for one v1 neighbour.
	LabelPeerConfig = "herald.io/peer-config"
	// LabelPeerPrefix + peer name marks a converted MetalLB advertisement as sent to that peer.
	LabelPeerPrefix = "peer.herald.io/"
)

// Herald returns the set with every Cilium and MetalLB object replaced by its herald.io form;
// Herald's own and core objects pass through. Lossy conversions are reported as warnings
// naming what was dropped.
func Herald(in *Set) *Set {
	c := &converter{in: in, out: &Set{Problems: slices.Clone(in.Problems)}}
	c.index()
	for _, o := range in.Objects {
		c.convert(o)
	}
	return c.out
}

type converter struct {
	in, out *Set
	// poolLabels maps every pool (any flavour) to its labels, to resolve pool selectors.
	poolLabels  map[string]map[string]string
	communities map[string]string // MetalLB Community aliases
	bfd         map[string]*MetalLBBFDProfile
	metallbPeer []string
	metallbASNs []int64
}

func (c *converter) index() {
	c.poolLabels = map[string]map[string]string{}
	c.communities = map[string]string{}
	c.bfd = map[string]*MetalLBBFDProfile{}
	for _, o := range c.in.Objects {
		switch x := o.Obj.(type) {
		case *v1alpha1.LoadBalancerIPPool:
			c.poolLabels[x.Name] = x.Labels
		case *CiliumLoadBalancerIPPool:
			c.poolLabels[x.Name] = x.Labels
		case *MetalLBIPAddressPool:
			c.poolLabels[x.Name] = x.Labels
		case *MetalLBCommunity:
			for _, e := range x.Spec.Communities {
				c.communities[e.Name] = e.Value
			}
		case *MetalLBBFDProfile:
			c.bfd[x.Name] = x
		case *MetalLBBGPPeer:
			c.metallbPeer = append(c.metallbPeer, x.Name)
			if !slices.Contains(c.metallbASNs, x.Spec.MyASN) {
				c.metallbASNs = append(c.metallbASNs, x.Spec.MyASN)
			}
		}
	}
}

func (c *converter) warn(o *Object, fieldPath, msg string) {
	c.out.add(Source{}, Warning, o, fieldPath, msg)
}
func (c *converter) fail(o *Object, fieldPath, msg string) {
	c.out.add(Source{}, Error, o, fieldPath, msg)
}

// emit adds a converted object. sameShape keeps the source's YAML node, so that field paths of
// later validation errors still find their lines.
func (c *converter) emit(from *Object, kind string, meta *metav1.ObjectMeta, tm *metav1.TypeMeta, obj any, sameShape bool) {
	tm.APIVersion, tm.Kind = v1alpha1.GroupVersion, kind
	meta.Namespace = "" // Herald's kinds are cluster-scoped
	meta.ResourceVersion, meta.UID, meta.ManagedFields, meta.Generation = "", "", nil, 0
	o := &Object{Source: from.Source, APIVersion: v1alpha1.GroupVersion, Kind: kind, Name: meta.Name, Obj: obj, From: from}
	if sameShape {
		o.text, o.textLine, o.node = from.text, from.textLine, from.node
	}
	c.out.Objects = append(c.out.Objects, o)
}

func (c *converter) convert(o *Object) {
	if !strings.HasPrefix(o.APIVersion, "cilium.io/") && !strings.HasPrefix(o.APIVersion, "metallb.io/") {
		c.out.Objects = append(c.out.Objects, o) // Herald's own, or core
		return
	}
	switch x := o.Obj.(type) {
	case *v1alpha1.BGPClusterConfig:
		c.emit(o, v1alpha1.KindBGPClusterConfig, &x.ObjectMeta, &x.TypeMeta, x, true)
	case *v1alpha1.BGPPeerConfig:
		c.emit(o, v1alpha1.KindBGPPeerConfig, &x.ObjectMeta, &x.TypeMeta, x, true)
	case *v1alpha1.BGPAdvertisement:
		c.emit(o, v1alpha1.KindBGPAdvertisement, &x.ObjectMeta, &x.TypeMeta, x, true)
	case *v1alpha1.BGPNodeConfigOverride:
		c.emit(o, v1alpha1.KindBGPNodeConfigOverride, &x.ObjectMeta, &x.TypeMeta, x, true)
	case *v1alpha1.L2AnnouncementPolicy:
		c.emit(o, v1alpha1.KindL2AnnouncementPolicy, &x.ObjectMeta, &x.TypeMeta, x, true)
	case *CiliumLoadBalancerIPPool:
		c.ciliumPool(o, x)
	case *CiliumBGPPeeringPolicy:
		c.peeringPolicy(o, x)
	case *MetalLBIPAddressPool:
		c.metallbPool(o, x)
	case *MetalLBBGPPeer:
		c.metallbPeerObj(o, x)
	case *MetalLBBGPAdvertisement:
		c.metallbAdvertisement(o, x)
	case *MetalLBL2Advertisement:
		c.metallbL2(o, x)
	case *MetalLBCommunity, *MetalLBBFDProfile:
		// Consumed by the advertisements and peers that name them.
	default:
		c.fail(o, "", fmt.Sprintf("internal: no conversion for %T", o.Obj))
	}
}

func (c *converter) ciliumPool(o *Object, x *CiliumLoadBalancerIPPool) {
	p := &v1alpha1.LoadBalancerIPPool{ObjectMeta: x.ObjectMeta, Spec: x.Spec.LoadBalancerIPPoolSpec}
	if len(x.Spec.Cidrs) > 0 {
		c.warn(o, "spec.cidrs", "spec.cidrs is deprecated in Cilium; converted to spec.blocks")
		p.Spec.Blocks = append(p.Spec.Blocks, x.Spec.Cidrs...)
	}
	c.emit(o, v1alpha1.KindLoadBalancerIPPool, &p.ObjectMeta, &p.TypeMeta, p, len(x.Spec.Cidrs) == 0)
}

// poolSelector resolves a selector over pool labels to the pool names it picks, as a Service
// selector on the virtual pool label.
func (c *converter) poolSelector(names []string, sels []metav1.LabelSelector) (*metav1.LabelSelector, []string) {
	picked := slices.Clone(names)
	for i := range sels {
		sel, errs := v1alpha1.Selector(&sels[i], nil)
		if len(errs) > 0 {
			continue
		}
		for name, labels := range c.poolLabels {
			if sel.Matches(model.MapLabels(labels)) {
				picked = append(picked, name)
			}
		}
	}
	slices.Sort(picked)
	picked = slices.Compact(picked)
	if len(picked) == 0 {
		return nil, nil
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: model.LabelServicePool, Operator: metav1.LabelSelectorOpIn, Values: picked,
	}}}, picked
}

// labelValue fits a name into a label value (63 characters), keeping it unique with a hash.
func labelValue(s string) string {
	if len(s) <= 63 {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return s[:54] + "-" + hex.EncodeToString(h[:4])
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

func dnsName(parts ...string) string {
	s := nonName.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-")
	s = strings.Trim(s, "-")
	if len(s) > 253 {
		s = s[:253]
	}
	return s
}

func i32(v int32) *int32 { return &v }
func i64(v int64) *int64 { return &v }
func str(v string) *string {
	return &v
}
