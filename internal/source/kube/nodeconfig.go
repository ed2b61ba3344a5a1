package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
	"github.com/heraldlb/herald/internal/translate"
)

// Cluster config condition types, as Cilium names them.
const (
	ConditionNoMatchingNode           = "herald.io/NoMatchingNode"
	ConditionMissingPeerConfigs       = "herald.io/MissingPeerConfigs"
	ConditionConflictingClusterConfig = "herald.io/ConflictingClusterConfig"
	// ConditionMissingAuthSecret is on a BGPPeerConfig whose authSecretRef names a Secret that
	// Herald's namespace does not hold (or that has no "password" key): its sessions are not
	// started until the Secret appears (fail closed, never an empty password).
	ConditionMissingAuthSecret = "herald.io/MissingAuthSecret"
)

// LabelManaged marks objects the operator writes and may delete.
const LabelManaged = "herald.io/managed-by"

// NodeConfigs writes one BGPNodeConfig per node a cluster config selects (its instances and
// peers with the node's override merged, owned by the cluster config) and the cluster configs'
// conditions. Agents read their node's BGPNodeConfig.
type NodeConfigs struct {
	Client client.Client
	Log    *slog.Logger
	// Events records condition changes on cluster configs; nil records nothing.
	Events events.EventRecorder
	// SecretsNamespace holds the peer configs' MD5 Secrets (Herald's namespace): a peer config
	// naming one that is not there gets the MissingAuthSecret condition. Empty: not checked.
	SecretsNamespace string

	invalid invalidEvents
}

// SetupWithManager registers the controller.
func (r *NodeConfigs) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).Named("bgp-node-configs").
		Watches(&corev1.Node{}, enqueueAll).
		Watches(&v1alpha1.BGPClusterConfig{}, enqueueAll).
		Watches(&v1alpha1.BGPPeerConfig{}, enqueueAll).
		Watches(&v1alpha1.BGPNodeConfigOverride{}, enqueueAll).
		Watches(&v1alpha1.BGPNodeConfig{}, enqueueAll).
		Watches(&v1alpha1.BGPAdvertisement{}, enqueueAll)
	if r.SecretsNamespace != "" {
		b = b.Watches(&corev1.Secret{}, enqueueAll) // the cache holds Herald's namespace only
	}
	return b.Complete(r)
}

// Reconcile plans every node and writes the node configs and conditions.
func (r *NodeConfigs) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	c := &model.Cluster{}
	var nodes corev1.NodeList
	var ccs v1alpha1.BGPClusterConfigList
	var pcs v1alpha1.BGPPeerConfigList
	var ovs v1alpha1.BGPNodeConfigOverrideList
	var existing v1alpha1.BGPNodeConfigList
	var ads v1alpha1.BGPAdvertisementList
	for _, l := range []client.ObjectList{&nodes, &ccs, &pcs, &ovs, &existing, &ads} {
		if err := r.Client.List(ctx, l); err != nil {
			return reconcile.Result{}, fmt.Errorf("listing: %w", err)
		}
	}
	for i := range nodes.Items {
		n, _ := translate.Node(&nodes.Items[i])
		c.Nodes = append(c.Nodes, n)
	}
	ccByName := map[string]*v1alpha1.BGPClusterConfig{}
	for i := range ccs.Items {
		cc := &ccs.Items[i]
		ccByName[cc.Name] = cc
		if m, errs := cc.Model(); len(errs) == 0 {
			c.ClusterConfigs = append(c.ClusterConfigs, m)
		} else {
			r.Log.Warn("invalid cluster config", "config", cc.Name, "err", errs.ToAggregate())
			delete(ccByName, cc.Name) // its conditions are InvalidSpec only
			if err := writeInvalidSpec(ctx, r.Client, r.Events, cc, clusterConfigConditions, errs); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	var errs []error
	secrets, err := r.passwords(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	for i := range pcs.Items {
		pc := &pcs.Items[i]
		m, ferrs := pc.Model()
		if len(ferrs) == 0 {
			c.PeerConfigs = append(c.PeerConfigs, m)
		}
		conds := []metav1.Condition{invalidSpecCondition(pc.Generation, ferrs)}
		if secrets != nil {
			conds = append(conds, missingSecretCondition(pc, r.SecretsNamespace, secrets))
		}
		if err := writeProblemConditions(ctx, r.Client, r.Events, pc, peerConfigConditions, conds...); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range ovs.Items {
		m, ferrs := ovs.Items[i].Model()
		if len(ferrs) == 0 {
			c.NodeOverrides = append(c.NodeOverrides, m)
		}
		r.invalid.report(r.Events, &ovs.Items[i], ferrs)
	}
	for i := range ads.Items {
		// Advertisements are the agents' to apply; the operator only says when one is broken.
		_, ferrs := ads.Items[i].Model()
		r.invalid.report(r.Events, &ads.Items[i], ferrs)
	}
	p := plan.Compute(plan.Input{Cluster: c})
	want := map[string]bool{}
	for _, n := range p.Nodes {
		cc := ccByName[n.ClusterConfig]
		if cc == nil {
			continue
		}
		want[n.Name] = true
		if err := r.writeNodeConfig(ctx, n, cc); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range existing.Items {
		nc := &existing.Items[i]
		if nc.Labels[LabelManaged] == "herald-operator" && !want[nc.Name] {
			if err := r.Client.Delete(ctx, nc); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting BGPNodeConfig %s: %w", nc.Name, err))
			}
		}
	}
	for _, cc := range ccByName {
		if err := r.writeConditions(ctx, cc, p.Problems); err != nil {
			errs = append(errs, err)
		}
	}
	return reconcile.Result{}, errors.Join(errs...)
}

func (r *NodeConfigs) writeNodeConfig(ctx context.Context, n *plan.Node, cc *v1alpha1.BGPClusterConfig) error {
	spec := v1alpha1.BGPNodeConfigSpec{}
	for _, in := range n.Instances {
		ni := v1alpha1.BGPNodeInstance{Name: in.Name, LocalASN: ptrTo(int64(in.LocalASN)), RouterID: ptrTo(in.RouterID.String())}
		if in.ListenPort != 0 {
			ni.LocalPort = ptrTo(int32(in.ListenPort))
		}
		for _, pe := range in.Peers {
			np := v1alpha1.BGPNodePeer{Name: pe.Name, PeerAddress: ptrTo(pe.Address.String()), PeerASN: ptrTo(int64(pe.ASN))}
			if pe.LocalAddress.IsValid() {
				np.LocalAddress = ptrTo(pe.LocalAddress.String())
			}
			if pe.HasConfig {
				np.PeerConfigRef = &v1alpha1.PeerConfigReference{Name: pe.Config.Name}
			}
			ni.Peers = append(ni.Peers, np)
		}
		spec.BGPInstances = append(spec.BGPInstances, ni)
	}
	var cur v1alpha1.BGPNodeConfig
	err := r.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &cur)
	owner := metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindBGPClusterConfig, Name: cc.Name, UID: cc.UID, Controller: ptrTo(true)}
	switch {
	case apierrors.IsNotFound(err):
		nc := &v1alpha1.BGPNodeConfig{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{LabelManaged: "herald-operator"},
			OwnerReferences: []metav1.OwnerReference{owner}}, Spec: spec}
		if err := r.Client.Create(ctx, nc); err != nil {
			return fmt.Errorf("creating BGPNodeConfig %s: %w", n.Name, err)
		}
		return nil
	case err != nil:
		return err
	}
	if reflect.DeepEqual(cur.Spec, spec) && len(cur.OwnerReferences) == 1 && cur.OwnerReferences[0].UID == cc.UID {
		return nil // unchanged: no write, no churn for the agent
	}
	want := cur.DeepCopy()
	want.Spec, want.OwnerReferences = spec, []metav1.OwnerReference{owner}
	if want.Labels == nil {
		want.Labels = map[string]string{}
	}
	want.Labels[LabelManaged] = "herald-operator"
	if err := r.Client.Patch(ctx, want, client.MergeFrom(&cur)); err != nil {
		return fmt.Errorf("updating BGPNodeConfig %s: %w", n.Name, err)
	}
	return nil
}

// writeConditions sets the three Cilium-style conditions from the planner's problems.
func (r *NodeConfigs) writeConditions(ctx context.Context, cc *v1alpha1.BGPClusterConfig, problems []plan.Problem) error {
	want := cc.DeepCopy()
	for typ, reason := range map[string]string{
		ConditionNoMatchingNode:           plan.ReasonNoMatchingNode,
		ConditionMissingPeerConfigs:       plan.ReasonMissingPeerConfig,
		ConditionConflictingClusterConfig: plan.ReasonConflictingClusterConfig,
	} {
		var msgs []string
		for _, p := range problems {
			if p.Kind == v1alpha1.KindBGPClusterConfig && p.Name == cc.Name && p.Reason == reason {
				msgs = append(msgs, p.Message)
			}
		}
		cond := metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: "None", Message: "no problem", ObservedGeneration: cc.Generation}
		if len(msgs) > 0 {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, reason, strings.Join(msgs, "; ")
		}
		meta.SetStatusCondition(&want.Status.Conditions, cond)
	}
	meta.SetStatusCondition(&want.Status.Conditions, invalidSpecCondition(cc.Generation, nil))
	if equalConditions(cc.Status.Conditions, want.Status.Conditions) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, want, client.MergeFrom(cc)); err != nil {
		return fmt.Errorf("BGPClusterConfig %s conditions: %w", cc.Name, err)
	}
	problemEvents(r.Events, want, cc.Status.Conditions, want.Status.Conditions,
		ConditionNoMatchingNode, ConditionMissingPeerConfigs, ConditionConflictingClusterConfig)
	return nil
}

func clusterConfigConditions(c *v1alpha1.BGPClusterConfig) *[]metav1.Condition {
	return &c.Status.Conditions
}

func peerConfigConditions(c *v1alpha1.BGPPeerConfig) *[]metav1.Condition { return &c.Status.Conditions }

// passwords are the names of the Secrets in Herald's namespace that carry a "password" (nil
// when SecretsNamespace is not set: not checked).
func (r *NodeConfigs) passwords(ctx context.Context) (map[string]bool, error) {
	if r.SecretsNamespace == "" {
		return nil, nil
	}
	var list corev1.SecretList
	if err := r.Client.List(ctx, &list, client.InNamespace(r.SecretsNamespace)); err != nil {
		return nil, fmt.Errorf("listing Secrets in %s: %w", r.SecretsNamespace, err)
	}
	out := map[string]bool{}
	for _, s := range list.Items {
		if len(s.Data["password"]) > 0 || s.StringData["password"] != "" {
			out[s.Name] = true
		}
	}
	return out, nil
}

// missingSecretCondition says whether the peer config's MD5 Secret is there: the agents read
// the same Secret, and start no session of this peer config without it.
func missingSecretCondition(pc *v1alpha1.BGPPeerConfig, ns string, passwords map[string]bool) metav1.Condition {
	c := metav1.Condition{Type: ConditionMissingAuthSecret, Status: metav1.ConditionFalse, Reason: "NoSecretNeeded", Message: "no authSecretRef", ObservedGeneration: pc.Generation}
	if pc.Spec.AuthSecretRef == nil || *pc.Spec.AuthSecretRef == "" {
		return c
	}
	name := *pc.Spec.AuthSecretRef
	if passwords[name] {
		c.Reason, c.Message = "SecretFound", fmt.Sprintf("Secret %s/%s holds the MD5 password", ns, name)
		return c
	}
	c.Status, c.Reason = metav1.ConditionTrue, "MissingAuthSecret"
	c.Message = fmt.Sprintf("spec.authSecretRef: Secret %s/%s does not exist or has no \"password\" key; sessions using this peer config are not started until it does (kubectl -n %s create secret generic %s --from-literal=password=...); other peers are unaffected", ns, name, ns, name)
	return c
}
