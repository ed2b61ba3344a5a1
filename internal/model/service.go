package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ServiceKey names a Service.
type ServiceKey struct {
	Namespace, Name string
}

func (k ServiceKey) String() string { return k.Namespace + "/" + k.Name }

// Compare orders keys by namespace, then name.
func (k ServiceKey) Compare(o ServiceKey) int {
	if c := strings.Compare(k.Namespace, o.Namespace); c != 0 {
		return c
	}
	return strings.Compare(k.Name, o.Name)
}

// The virtual labels Cilium gives every Service so that selectors can pick by name and namespace.
const (
	LabelServiceNamespace = "io.kubernetes.service.namespace"
	LabelServiceName      = "io.kubernetes.service.name"
	// LabelServicePool is Herald's virtual label holding the pool of the Service's
	// LoadBalancer address. It lets advertisements select by pool, which MetalLB's
	// advertisements and Cilium's v1 path attributes do; the IPAM result sets it, so pools
	// themselves cannot select on it.
	LabelServicePool = "herald.io/lb-pool"
)

// TrafficPolicy is externalTrafficPolicy or internalTrafficPolicy.
type TrafficPolicy string

// The two policies Kubernetes defines.
const (
	TrafficCluster TrafficPolicy = "Cluster"
	TrafficLocal   TrafficPolicy = "Local"
)

// IPFamilyPolicy is a Service's spec.ipFamilyPolicy.
type IPFamilyPolicy string

// Kubernetes' three policies.
const (
	SingleStack      IPFamilyPolicy = "SingleStack"
	PreferDualStack  IPFamilyPolicy = "PreferDualStack"
	RequireDualStack IPFamilyPolicy = "RequireDualStack"
)

// Port is a service port as far as IP sharing cares: (port, protocol).
type Port struct {
	Port     int32
	Protocol string
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// Service is what Herald needs of a Kubernetes Service.
type Service struct {
	Key         ServiceKey
	Labels      map[string]string
	Annotations map[string]string
	Created     time.Time
	// Seq is the Service's position in its source's order (document order for manifests, as
	// `kubectl apply -f` would create them). It breaks ties between equal creation times, which
	// manifests (no timestamps) and the API's one-second resolution both produce.
	Seq int

	// Type is spec.type; only LoadBalancer Services get addresses from pools.
	Type string
	// LoadBalancerClass is spec.loadBalancerClass; empty when unset.
	LoadBalancerClass string

	// Request is what the annotations and spec.loadBalancerIP ask for, parsed once at the edge.
	Request Request

	IPFamilyPolicy IPFamilyPolicy
	IPFamilies     []Family
	Ports          []Port

	ExternalTrafficPolicy TrafficPolicy
	InternalTrafficPolicy TrafficPolicy
	// Selector is the pod selector; Services without one never share an IP under Local.
	Selector map[string]string

	ClusterIPs  []netip.Addr
	ExternalIPs []netip.Addr
	// Ingress holds the addresses in status.loadBalancer.ingress: what a previous allocator
	// run gave this Service, adopted before anything new is allocated.
	Ingress []netip.Addr

	// NamespaceLabels are the labels of the Service's Namespace (MetalLB's namespaceSelectors).
	NamespaceLabels map[string]string
}

// LabelFunc returns the Service's labels plus the two virtual labels, without allocating a map.
func (s *Service) LabelFunc() LabelFunc {
	return func(k string) (string, bool) {
		switch k {
		case LabelServiceNamespace:
			return s.Key.Namespace, true
		case LabelServiceName:
			return s.Key.Name, true
		}
		v, ok := s.Labels[k]
		return v, ok
	}
}

// IsLoadBalancer reports whether spec.type is LoadBalancer.
func (s *Service) IsLoadBalancer() bool { return s.Type == "LoadBalancer" }

// Request is the part of a Service that asks for particular addresses or sharing.
type Request struct {
	IPs []netip.Addr
	// Pool restricts allocation to one named pool (MetalLB's address-pool annotation).
	Pool string
	// SharingKey lets Services with the same key share one address.
	SharingKey string
	// SharingCrossNamespace lists the namespaces (or "*") allowed to share with this Service.
	SharingCrossNamespace []string
	// Problems are the malformed annotations; a Service with any is unsatisfied with
	// bad_annotation and keeps whatever it already had.
	Problems []AnnotationProblem
}

// AnnotationProblem names one unusable annotation (or spec.loadBalancerIP) value.
type AnnotationProblem struct {
	Key, Value, Reason string
}

func (p AnnotationProblem) Error() string {
	return fmt.Sprintf("%s: %q %s", p.Key, p.Value, p.Reason)
}

// The annotations, in the order they are read. Herald's own spelling comes first; the Cilium
// and MetalLB ones are honoured so that Services keep their addresses when users migrate.
var (
	AnnotationsIPs = []string{
		"herald.io/ips",
		"lbipam.cilium.io/ips",
		"io.cilium/lb-ipam-ips",
		"metallb.io/loadBalancerIPs",
		"metallb.universe.tf/loadBalancerIPs",
	}
	AnnotationsSharingKey = []string{
		"herald.io/sharing-key",
		"lbipam.cilium.io/sharing-key",
		"io.cilium/lb-ipam-sharing-key",
		"metallb.io/allow-shared-ip",
		"metallb.universe.tf/allow-shared-ip",
	}
	AnnotationsSharingCrossNamespace = []string{
		"herald.io/sharing-cross-namespace",
		"lbipam.cilium.io/sharing-cross-namespace",
		"io.cilium/lb-ipam-sharing-cross-namespace",
	}
	AnnotationsPool = []string{
		"herald.io/pool",
		"metallb.io/address-pool",
		"metallb.universe.tf/address-pool",
	}
)

// FieldLoadBalancerIP names spec.loadBalancerIP in problems.
const FieldLoadBalancerIP = "spec.loadBalancerIP"

// ParseRequest reads the IPAM annotations and spec.loadBalancerIP. It never fails: problems are
// collected in Request.Problems so that the caller can report every one of them.
func ParseRequest(annotations map[string]string, loadBalancerIP string) Request {
	var r Request
	seen := map[netip.Addr]bool{}
	byFamily := map[Family]string{}
	addIPs := func(key, value string) {
		if p, bad := placeholder(key, value); bad {
			r.Problems = append(r.Problems, p)
			return
		}
		for _, entry := range strings.Split(value, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a, err := ParseAddr(entry)
			if err != nil {
				r.Problems = append(r.Problems, AnnotationProblem{key, entry, "is not an IP address"})
				continue
			}
			if seen[a] {
				continue // the same address asked for twice (e.g. annotation and spec) is one request
			}
			if other, dup := byFamily[FamilyOf(a)]; dup {
				r.Problems = append(r.Problems, AnnotationProblem{key, entry,
					fmt.Sprintf("asks for a second %s address (already %s); a Service gets at most one address per family", FamilyOf(a), other)})
				continue
			}
			seen[a] = true
			byFamily[FamilyOf(a)] = a.String()
			r.IPs = append(r.IPs, a)
		}
	}
	for _, k := range AnnotationsIPs {
		if v, ok := annotations[k]; ok {
			addIPs(k, v)
		}
	}
	if loadBalancerIP != "" {
		addIPs(FieldLoadBalancerIP, loadBalancerIP)
	}
	r.SharingKey = firstValue(&r, annotations, AnnotationsSharingKey)
	r.Pool = firstValue(&r, annotations, AnnotationsPool)
	if v := firstValue(&r, annotations, AnnotationsSharingCrossNamespace); v != "" {
		for _, ns := range strings.Split(v, ",") {
			if ns = strings.TrimSpace(ns); ns != "" {
				r.SharingCrossNamespace = append(r.SharingCrossNamespace, ns)
			}
		}
	}
	slices.SortFunc(r.IPs, netip.Addr.Compare)
	return r
}

// firstValue returns the first set annotation of keys, reporting a placeholder value as a problem.
func firstValue(r *Request, annotations map[string]string, keys []string) string {
	for _, k := range keys {
		v, ok := annotations[k]
		if !ok {
			continue
		}
		if p, bad := placeholder(k, v); bad {
			r.Problems = append(r.Problems, p)
			return ""
		}
		return strings.TrimSpace(v)
	}
	return ""
}

// placeholder recognises values that a templating step left behind: seed 000's Flux
// Kustomization without postBuild.substituteFrom leaves "${VAR}", and an unset Helm value
// renders as "null". Both would otherwise be read as "no request" and silently give the Service
// a different address.
func placeholder(key, value string) (AnnotationProblem, bool) {
	v := strings.TrimSpace(value)
	switch {
	case strings.Contains(v, "${") || strings.HasPrefix(v, "$"):
		return AnnotationProblem{key, value, "is an unsubstituted variable: the manifest was applied without " +
			"substituting it (with Flux, add postBuild.substituteFrom to the Kustomization)"}, true
	case v == "null" || v == "~" || v == "<nil>" || v == "None":
		return AnnotationProblem{key, value, "is a literal null: the variable behind it was empty or unset when " +
			"the manifest was rendered; set it or remove the annotation"}, true
	}
	return AnnotationProblem{}, false
}

// WantedFamilies returns the families a LoadBalancer Service should get addresses for, and
// whether having only some of them still satisfies it (PreferDualStack).
func (s *Service) WantedFamilies() (fams []Family, partialOK bool) {
	primary := IPv4
	if len(s.IPFamilies) > 0 {
		primary = s.IPFamilies[0]
	}
	switch s.IPFamilyPolicy {
	case RequireDualStack:
		return familyLists[primary][1], false
	case PreferDualStack:
		return familyLists[primary][1], true
	}
	if len(s.Request.IPs) > 0 && len(s.IPFamilies) == 0 {
		// A SingleStack Service that names its addresses gets those families.
		var out []Family
		for _, a := range s.Request.IPs {
			if f := FamilyOf(a); !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
		return out, false
	}
	return familyLists[primary][0], false
}

// familyLists are the answers of WantedFamilies, shared so that the hot path allocates
// nothing: [primary][0] is single-stack, [primary][1] dual-stack. Callers must not modify them.
var familyLists = map[Family][2][]Family{
	IPv4: {{IPv4}, {IPv4, IPv6}},
	IPv6: {{IPv6}, {IPv6, IPv4}},
}

// CompareAge orders Services oldest first: creation time, then source order, then key.
func CompareAge(a, b *Service) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	if a.Seq != b.Seq {
		return a.Seq - b.Seq
	}
	return a.Key.Compare(b.Key)
}
