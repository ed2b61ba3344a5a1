package manifest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/translate"
)

// Built is a validated model and what was wrong on the way.
type Built struct {
	Cluster  model.Cluster
	Problems []Problem
	// Invalid holds the IDs of objects left out of the model because of errors.
	Invalid map[string]bool
}

// Build validates Herald and core objects (convert foreign ones with Herald first) and
// converts them into a model. An object with errors is left out and reported; every other
// object is used as it is: one broken object never takes the others down.
//
// When two documents define the same object, the later one is used, as `kubectl apply -f DIR`
// would leave it (files in lexical order); both are validated and the replacement is reported.
func Build(set *Set) *Built {
	b := &Built{Invalid: map[string]bool{}}
	out := &Set{Problems: set.Problems}
	last := map[string]*Object{}
	nsLabels := map[string]map[string]string{}
	services := 0
	for _, o := range set.Objects {
		if _, ok := o.Obj.(*corev1.Service); ok {
			services++
		}
		if prev, dup := last[o.ID()]; dup {
			out.add(Source{}, Warning, prev, "metadata.name", fmt.Sprintf("%s %q is defined again at %s, which replaces this one (as kubectl apply -f would)", o.Kind, o.Name, o.Source))
		}
		last[o.ID()] = o
		if ns, ok := o.Obj.(*corev1.Namespace); ok {
			nsLabels[ns.Name] = ns.Labels
		}
	}
	c := &b.Cluster
	// Sized once: growing a slice of 100k Services by appending copied 70 MB of pointerful
	// structs (0.5 s of a 5 s first reconcile) and left up to half of it as spare capacity.
	c.Services = make([]model.Service, 0, services)
	scratch := &model.Cluster{} // where replaced objects are converted, to validate them
	for _, o := range set.Objects {
		c := c
		if last[o.ID()] != o {
			c = scratch
		}
		var errs field.ErrorList
		var probs []translate.FieldProblem
		switch x := o.Obj.(type) {
		case *v1alpha1.LoadBalancerIPPool:
			errs = add(&c.Pools, x.Model)
		case *v1alpha1.BGPClusterConfig:
			errs = add(&c.ClusterConfigs, x.Model)
		case *v1alpha1.BGPPeerConfig:
			errs = add(&c.PeerConfigs, x.Model)
		case *v1alpha1.BGPAdvertisement:
			errs = add(&c.Advertisements, x.Model)
		case *v1alpha1.BGPNodeConfigOverride:
			errs = add(&c.NodeOverrides, x.Model)
		case *v1alpha1.L2AnnouncementPolicy:
			errs = add(&c.L2Policies, x.Model)
		case *corev1.Service:
			var s model.Service
			s, probs = translate.Service(x)
			s.NamespaceLabels = nsLabels[s.Key.Namespace]
			s.Seq = len(c.Services)
			c.Services = append(c.Services, s)
		case *corev1.Node:
			var n model.Node
			n, probs = translate.Node(x)
			c.Nodes = append(c.Nodes, n)
		case *corev1.Namespace:
			c.Namespaces = append(c.Namespaces, translate.Namespace(x))
		case *corev1.Secret:
			c.Secrets = append(c.Secrets, translate.Secret(x))
		case *discoveryv1.EndpointSlice:
			var e model.EndpointSlice
			e, probs = translate.EndpointSlice(x)
			c.Endpoints = append(c.Endpoints, e)
		default:
			out.add(Source{}, Error, o, "", fmt.Sprintf("%s %s was not converted to a Herald kind (run it through manifest.Herald)", o.APIVersion, o.Kind))
			continue
		}
		for _, e := range errs {
			out.add(Source{}, Error, o, e.Field, detail(e))
		}
		if len(errs) > 0 && c != scratch {
			b.Invalid[o.ID()] = true
		}
		for _, p := range probs {
			// Core objects stay in the model: a Service with a bad annotation is reported by
			// the allocator too (bad_annotation) and keeps what it has.
			out.add(Source{}, Error, o, p.Field, p.Message)
		}
	}
	out.Problems = append(out.Problems, references(set, c)...)
	b.Problems = out.Problems
	return b
}

// add converts one object with its Model method and appends it when valid.
func add[T any](dst *[]T, conv func() (T, field.ErrorList)) field.ErrorList {
	v, errs := conv()
	if len(errs) == 0 {
		*dst = append(*dst, v)
	}
	return errs
}

// detail renders a field error without repeating the path, which the problem carries.
func detail(e *field.Error) string {
	switch e.Type {
	case field.ErrorTypeRequired, field.ErrorTypeForbidden:
		return fmt.Sprintf("%s: %s", e.Type, e.Detail)
	case field.ErrorTypeNotSupported:
		return fmt.Sprintf("%q is not supported: %s", e.BadValue, e.Detail)
	case field.ErrorTypeDuplicate:
		return fmt.Sprintf("duplicate value %q", e.BadValue)
	}
	if s, ok := e.BadValue.(string); ok && s != "" {
		return fmt.Sprintf("%q: %s", s, e.Detail)
	}
	return e.Detail
}

// references reports links between objects that lead nowhere. They are warnings: the objects
// are valid, they just do less than their author expects.
func references(set *Set, c *model.Cluster) []Problem {
	var ps []Problem
	peerConfigs := map[string]bool{}
	for _, p := range c.PeerConfigs {
		peerConfigs[p.Name] = true
	}
	find := func(kind, name string) *Object {
		for _, o := range set.Objects {
			if o.Kind == kind && o.Name == name {
				return o
			}
		}
		return nil
	}
	for _, cc := range c.ClusterConfigs {
		o := find(v1alpha1.KindBGPClusterConfig, cc.Name)
		for i, in := range cc.Instances {
			for j, p := range in.Peers {
				path := fmt.Sprintf("spec.bgpInstances[%d].peers[%d].peerConfigRef", i, j)
				s := &Set{}
				switch {
				case p.PeerConfigRef == "":
					s.add(Source{}, Warning, o, path, fmt.Sprintf("peer %s has no peer config, so it advertises nothing; reference a BGPPeerConfig whose families select advertisements", p.Name))
				case !peerConfigs[p.PeerConfigRef]:
					s.add(Source{}, Warning, o, path+".name", fmt.Sprintf("peer %s refers to BGPPeerConfig %q, which is not among the valid objects; the peer advertises nothing", p.Name, p.PeerConfigRef))
				}
				ps = append(ps, s.Problems...)
			}
		}
	}
	return ps
}
