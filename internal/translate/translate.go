// Package translate turns Kubernetes core objects (Service, Node, Namespace, Secret,
// EndpointSlice) into model types, once, at the edge. The manifest loader and the informers of
// cluster mode both call it, so the two modes read objects identically.
package translate

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/heraldlb/herald/internal/model"
)

// FieldProblem is a value Herald cannot use, by field path.
type FieldProblem struct {
	Field, Message string
}

// Service converts a Service. Malformed IPAM annotations do not fail the conversion: they are
// recorded in Request.Problems (the allocator answers bad_annotation) and returned as field
// problems for reporting.
func Service(s *corev1.Service) (model.Service, []FieldProblem) {
	out := model.Service{
		Key:                   model.ServiceKey{Namespace: namespaceOr(s.Namespace), Name: s.Name},
		Labels:                s.Labels,
		Annotations:           s.Annotations,
		Created:               s.CreationTimestamp.Time,
		Type:                  string(s.Spec.Type),
		ExternalTrafficPolicy: model.TrafficPolicy(s.Spec.ExternalTrafficPolicy),
		Selector:              s.Spec.Selector,
		Request:               model.ParseRequest(s.Annotations, s.Spec.LoadBalancerIP),
	}
	if out.Type == "" {
		out.Type = string(corev1.ServiceTypeClusterIP)
	}
	if s.Spec.LoadBalancerClass != nil {
		out.LoadBalancerClass = *s.Spec.LoadBalancerClass
	}
	if s.Spec.InternalTrafficPolicy != nil {
		out.InternalTrafficPolicy = model.TrafficPolicy(*s.Spec.InternalTrafficPolicy)
	}
	if s.Spec.IPFamilyPolicy != nil {
		out.IPFamilyPolicy = model.IPFamilyPolicy(*s.Spec.IPFamilyPolicy)
	}
	var probs []FieldProblem
	for _, p := range out.Request.Problems {
		f := "metadata.annotations[" + p.Key + "]"
		if p.Key == model.FieldLoadBalancerIP {
			f = p.Key
		}
		probs = append(probs, FieldProblem{f, fmt.Sprintf("%q %s", p.Value, p.Reason)})
	}
	for i, f := range s.Spec.IPFamilies {
		fam, err := model.ParseFamily(string(f))
		if err != nil {
			probs = append(probs, FieldProblem{fmt.Sprintf("spec.ipFamilies[%d]", i), err.Error()})
			continue
		}
		out.IPFamilies = append(out.IPFamilies, fam)
	}
	for _, p := range s.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		out.Ports = append(out.Ports, model.Port{Port: p.Port, Protocol: proto})
	}
	out.ClusterIPs = addrs(s.Spec.ClusterIPs, "spec.clusterIPs", &probs)
	if len(out.ClusterIPs) == 0 && s.Spec.ClusterIP != "" {
		out.ClusterIPs = addrs([]string{s.Spec.ClusterIP}, "spec.clusterIP", &probs)
	}
	out.ExternalIPs = addrs(s.Spec.ExternalIPs, "spec.externalIPs", &probs)
	var ingress []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ingress = append(ingress, in.IP)
		}
	}
	out.Ingress = addrs(ingress, "status.loadBalancer.ingress", &probs)
	return out, probs
}

func namespaceOr(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// addrs parses addresses, skipping "None" (headless) and reporting the rest of what fails.
func addrs(in []string, field string, probs *[]FieldProblem) []netip.Addr {
	var out []netip.Addr
	for i, s := range in {
		if s == "" || s == corev1.ClusterIPNone {
			continue
		}
		a, err := model.ParseAddr(s)
		if err != nil {
			*probs = append(*probs, FieldProblem{fmt.Sprintf("%s[%d]", field, i), err.Error()})
			continue
		}
		out = append(out, a)
	}
	return out
}

// Node converts a Node; InternalIPs come before ExternalIPs so the first IPv4 is the one
// router IDs and next hops default to.
func Node(n *corev1.Node) (model.Node, []FieldProblem) {
	out := model.Node{Name: n.Name, Labels: n.Labels, Created: n.CreationTimestamp.Time, Unschedulable: n.Spec.Unschedulable}
	var probs []FieldProblem
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for i, a := range n.Status.Addresses {
			if a.Type != want {
				continue
			}
			addr, err := model.ParseAddr(a.Address)
			if err != nil {
				probs = append(probs, FieldProblem{fmt.Sprintf("status.addresses[%d].address", i), err.Error()})
				continue
			}
			out.Addresses = append(out.Addresses, addr)
		}
	}
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for i, c := range cidrs {
		p, err := model.ParsePrefix(c)
		if err != nil {
			probs = append(probs, FieldProblem{fmt.Sprintf("spec.podCIDRs[%d]", i), err.Error()})
			continue
		}
		out.PodCIDRs = append(out.PodCIDRs, p)
	}
	return out, probs
}

// Namespace converts a Namespace.
func Namespace(n *corev1.Namespace) model.Namespace {
	return model.Namespace{Name: n.Name, Labels: n.Labels}
}

// Secret converts a Secret, merging stringData as the API server would.
func Secret(s *corev1.Secret) model.Secret {
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return model.Secret{Namespace: namespaceOr(s.Namespace), Name: s.Name, Data: data}
}

// EndpointSliceServiceLabel is the label that ties a slice to its Service.
const EndpointSliceServiceLabel = discoveryv1.LabelServiceName

// EndpointSlice converts a slice. Conditions follow the API's rules for unset values: ready
// unset means ready, serving unset means ready's value, terminating unset means false.
func EndpointSlice(s *discoveryv1.EndpointSlice) (model.EndpointSlice, []FieldProblem) {
	out := model.EndpointSlice{
		Namespace: namespaceOr(s.Namespace), Name: s.Name,
		Service: model.ServiceKey{Namespace: namespaceOr(s.Namespace), Name: s.Labels[EndpointSliceServiceLabel]},
	}
	var probs []FieldProblem
	if out.Service.Name == "" {
		probs = append(probs, FieldProblem{"metadata.labels", "has no " + EndpointSliceServiceLabel + " label naming its Service"})
	}
	for i, e := range s.Endpoints {
		ep := model.Endpoint{Ready: true}
		if e.Conditions.Ready != nil {
			ep.Ready = *e.Conditions.Ready
		}
		ep.Serving = ep.Ready
		if e.Conditions.Serving != nil {
			ep.Serving = *e.Conditions.Serving
		}
		if e.Conditions.Terminating != nil {
			ep.Terminating = *e.Conditions.Terminating
		}
		if e.NodeName != nil {
			ep.NodeName = *e.NodeName
		}
		ep.Addresses = addrs(e.Addresses, fmt.Sprintf("endpoints[%d].addresses", i), &probs)
		out.Endpoints = append(out.Endpoints, ep)
	}
	return out, probs
}
