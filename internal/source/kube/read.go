package kube

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/translate"
)

// ReadOptions say what ReadCluster reads besides the objects every reader needs.
type ReadOptions struct {
	// SecretsNamespace, when set, is the one namespace whose Secrets (MD5 passwords) are read.
	SecretsNamespace string
	// BGPConfigs reads the cluster configs and node overrides (doctor; the agent takes its
	// node's configuration from its BGPNodeConfig instead).
	BGPConfigs bool
}

// Invalid is an object that does not validate, one entry per field error.
type Invalid struct {
	Object, Field, Message string
}

// ReadCluster lists the objects Herald reads and turns them into model types once, through the
// same conversions as the loader. Objects that do not validate are left out and returned.
func ReadCluster(ctx context.Context, r client.Reader, opts ReadOptions) (*model.Cluster, []Invalid, error) {
	var (
		svcs  corev1.ServiceList
		nodes corev1.NodeList
		nss   corev1.NamespaceList
		eps   discoveryv1.EndpointSliceList
		pools v1alpha1.LoadBalancerIPPoolList
		pcs   v1alpha1.BGPPeerConfigList
		ads   v1alpha1.BGPAdvertisementList
		l2ps  v1alpha1.L2AnnouncementPolicyList
		ccs   v1alpha1.BGPClusterConfigList
		ovs   v1alpha1.BGPNodeConfigOverrideList
	)
	lists := []client.ObjectList{&svcs, &nodes, &nss, &eps, &pools, &pcs, &ads, &l2ps}
	if opts.BGPConfigs {
		lists = append(lists, &ccs, &ovs)
	}
	for _, l := range lists {
		// No copies: the model is made of them once and nothing here writes to them (the
		// cache's objects are never modified, only replaced), which halves a pass's cost.
		if err := r.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, nil, fmt.Errorf("listing %T: %w", l, err)
		}
	}
	c := &model.Cluster{}
	if opts.SecretsNamespace != "" {
		var secs corev1.SecretList
		if err := r.List(ctx, &secs, client.InNamespace(opts.SecretsNamespace), client.UnsafeDisableDeepCopy); err != nil {
			return nil, nil, fmt.Errorf("listing Secrets: %w", err)
		}
		for i := range secs.Items {
			c.Secrets = append(c.Secrets, translate.Secret(&secs.Items[i]))
		}
	}
	var invalid []Invalid
	bad := func(kind, name string, errs field.ErrorList) {
		for _, e := range errs {
			invalid = append(invalid, Invalid{Object: kind + " " + name, Field: e.Field, Message: e.ErrorBody()})
		}
	}
	nsLabels := map[string]map[string]string{}
	for i := range nss.Items {
		c.Namespaces = append(c.Namespaces, translate.Namespace(&nss.Items[i]))
		nsLabels[nss.Items[i].Name] = nss.Items[i].Labels
	}
	for i := range svcs.Items {
		s, _ := translate.Service(&svcs.Items[i])
		s.NamespaceLabels = nsLabels[s.Key.Namespace]
		c.Services = append(c.Services, s)
	}
	for i := range nodes.Items {
		n, _ := translate.Node(&nodes.Items[i])
		c.Nodes = append(c.Nodes, n)
	}
	for i := range eps.Items {
		if s, fp := translate.EndpointSlice(&eps.Items[i]); len(fp) == 0 {
			c.Endpoints = append(c.Endpoints, s)
		}
	}
	addModel(&c.Pools, v1alpha1.KindLoadBalancerIPPool, pools.Items, bad)
	addModel(&c.PeerConfigs, v1alpha1.KindBGPPeerConfig, pcs.Items, bad)
	addModel(&c.Advertisements, v1alpha1.KindBGPAdvertisement, ads.Items, bad)
	addModel(&c.L2Policies, v1alpha1.KindL2AnnouncementPolicy, l2ps.Items, bad)
	addModel(&c.ClusterConfigs, v1alpha1.KindBGPClusterConfig, ccs.Items, bad)
	addModel(&c.NodeOverrides, v1alpha1.KindBGPNodeConfigOverride, ovs.Items, bad)
	return c, invalid, nil
}

// Adopted runs the allocator over the cluster only to adopt the addresses in Service status
// (and learn their pools and the reasons of the unsatisfied): a Service whose result differs
// from its status, not written by the operator yet, is marked unsatisfied, so nothing reading
// the cluster announces an address the operator has not written.
func Adopted(c *model.Cluster) []ipam.Result {
	results := ipam.New(ipam.DefaultConfig()).Reconcile(c.Pools, c.Services)
	inStatus := map[model.ServiceKey][]string{}
	for _, s := range c.Services {
		for _, a := range s.Ingress {
			inStatus[s.Key] = append(inStatus[s.Key], a.String())
		}
	}
	for i := range results {
		r := &results[i]
		var got []string
		for _, a := range r.Addrs {
			got = append(got, a.String())
		}
		if r.Satisfied && !slices.Equal(got, inStatus[r.Service]) {
			r.Satisfied = false
		}
	}
	return results
}

// modeler is an API object that converts to a model type.
type modeler[M any] interface {
	Model() (M, field.ErrorList)
	GetName() string
}

// addModel converts every item, reporting the invalid ones instead of using them.
func addModel[M any, T any, PT interface {
	*T
	modeler[M]
}](dst *[]M, kind string, items []T, bad func(kind, name string, errs field.ErrorList)) {
	for i := range items {
		p := PT(&items[i])
		m, errs := p.Model()
		if len(errs) > 0 {
			bad(kind, p.GetName(), errs)
			continue
		}
		*dst = append(*dst, m)
	}
}
