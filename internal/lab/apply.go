package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/model"
)

// fieldOwner is the lab's name in managedFields: what it wrote, as `kubectl apply` would.
const fieldOwner = "herald-lab"

// labelManagedBy marks the EndpointSlices the lab writes in place of the EndpointSlice
// controller (there are no pods in the lab; every node runs a backend).
const labelManagedBy = "endpointslice.kubernetes.io/managed-by"

// load reads manifests the way `herald validate` does. The lab applies only manifests
// without errors: a broken scenario should fail loudly, not half-apply.
func load(paths []string) (*manifest.Set, *manifest.Built, error) {
	raw, err := manifest.LoadFiles(paths...)
	if err != nil {
		return nil, nil, err
	}
	set := manifest.Herald(raw)
	built := manifest.Build(set)
	var errs []string
	for _, p := range built.Problems {
		if p.Severity == manifest.Error {
			errs = append(errs, p.String())
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("the lab's manifests have errors (herald validate says the same):\n  %s", strings.Join(errs, "\n  "))
	}
	return set, built, nil
}

// Apply server-side-applies every object of the manifests (Herald, Cilium and MetalLB kinds
// converted as the loader does, Namespaces for every namespaced object, Nodes with their
// status, Services, Secrets, EndpointSlices) to the lab's API server, and writes an
// EndpointSlice for every selector Service that has none, with a ready endpoint on every
// node: the backends the lab runs. It returns the model of what it applied.
func (l *Lab) Apply(ctx context.Context, paths ...string) (*manifest.Built, error) {
	set, built, err := load(paths)
	if err != nil {
		return nil, err
	}
	c, err := l.Client()
	if err != nil {
		return nil, err
	}
	var namespaces []string
	for _, o := range set.Objects {
		if o.Namespace != "" && !slices.Contains(namespaces, o.Namespace) {
			namespaces = append(namespaces, o.Namespace)
		}
	}
	for _, ns := range namespaces {
		if err := ensureNamespace(ctx, c, ns); err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	for _, o := range set.Objects {
		obj, ok := o.Obj.(client.Object)
		if !ok {
			continue // not an API object (a Cilium kind converted into Herald ones)
		}
		if err := apply(ctx, c, obj); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", o.Source, o.Kind, o.Name, err)
		}
	}
	for _, s := range l.endpointSlices(&built.Cluster) {
		if err := apply(ctx, c, s); err != nil {
			return nil, fmt.Errorf("EndpointSlice %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return built, nil
}

// apply server-side-applies obj, and a Node's status too (there is no kubelet to write it).
func apply(ctx context.Context, c client.Client, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return err
	}
	obj = obj.DeepCopyObject().(client.Object)
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	obj.SetResourceVersion("")
	obj.SetManagedFields(nil)
	var nodeStatus *corev1.NodeStatus
	if n, ok := obj.(*corev1.Node); ok {
		nodeStatus = n.Status.DeepCopy()
		n.Status = corev1.NodeStatus{} // written below, by an update
	}
	if err := c.Patch(ctx, obj, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	if nodeStatus == nil {
		return nil
	}
	// An update, not an apply: the status may list two InternalIPs (a node on two subnets, as
	// in seed 003), which server-side apply's list keys (by type) refuse; kubelets update too.
	var n corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: obj.GetName()}, &n); err != nil {
		return err
	}
	n.Status = *nodeStatus
	return c.Status().Update(ctx, &n)
}

// endpointSlices are the slices the EndpointSlice controller would write if every node ran
// a ready pod of every selector Service: one endpoint per lab node, on the node's address.
// Services the manifests give slices of their own keep those (seed 001's Local Service has
// its one pod on worker-2).
func (l *Lab) endpointSlices(c *model.Cluster) []*discoveryv1.EndpointSlice {
	has := map[model.ServiceKey]bool{}
	for _, e := range c.Endpoints {
		has[e.Service] = true
	}
	var out []*discoveryv1.EndpointSlice
	for _, s := range c.Services {
		if s.Type != "LoadBalancer" || s.Selector == nil || has[s.Key] {
			continue
		}
		es := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.Key.Namespace, Name: s.Key.Name + "-lab",
				Labels: map[string]string{discoveryv1.LabelServiceName: s.Key.Name, labelManagedBy: fieldOwner}},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		for _, h := range l.state.Spec.hosts(Node) {
			var addr string
			for _, n := range c.Nodes {
				if a, ok := n.IPv4(); ok && n.Name == h.Name {
					addr = a.String()
				}
			}
			if addr == "" {
				continue
			}
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: ptr(h.Name),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}})
		}
		out = append(out, es)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// checkNodes makes sure every node host plays a Node the manifests define, with the host's
// address: otherwise the agents would wait for configuration that never comes.
func (l *Lab) checkNodes(c *model.Cluster) error {
	var errs []error
	for _, h := range l.state.Spec.hosts(Node) {
		i := slices.IndexFunc(c.Nodes, func(n model.Node) bool { return n.Name == h.Name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("host %s plays Kubernetes node %s, but the manifests define no Node of that name", h.Name, h.Name))
			continue
		}
		addr, _ := c.Nodes[i].IPv4()
		if !slices.Contains(h.addrs(), addr) {
			errs = append(errs, fmt.Errorf("Node %s has InternalIP %s in the manifests, which host %s does not have (it has %v)", h.Name, addr, h.Name, h.addrs()))
		}
	}
	return errors.Join(errs...)
}

// tcpPorts are the TCP ports of every LoadBalancer Service: what the backends listen on.
func tcpPorts(c *model.Cluster) []int {
	var out []int
	for _, s := range c.Services {
		for _, p := range s.Ports {
			if strings.EqualFold(p.Protocol, "TCP") && !slices.Contains(out, int(p.Port)) {
				out = append(out, int(p.Port))
			}
		}
	}
	slices.Sort(out)
	return out
}
