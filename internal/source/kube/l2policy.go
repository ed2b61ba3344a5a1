package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/translate"
)

// L2 policy condition types.
const (
	// ConditionInvalidSpec is True while an object does not validate (a bad CIDR, regular
	// expression, selector or community): it is ignored, and the message names the field.
	ConditionInvalidSpec = "herald.io/InvalidSpec"
	// ConditionL2NoMatchingNode is True while the node selector matches no node.
	ConditionL2NoMatchingNode = "herald.io/NoMatchingNode"
)

// L2Policies keeps the conditions of L2 announcement policies: the same validation as
// `herald validate`, and whether the node selector selects anything. No admission webhook is
// needed to see why a policy does nothing.
type L2Policies struct {
	Client client.Client
	Log    *slog.Logger
	Events events.EventRecorder
}

// SetupWithManager registers the controller.
func (r *L2Policies) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("l2-policies").
		Watches(&v1alpha1.L2AnnouncementPolicy{}, enqueueAll).
		Watches(&corev1.Node{}, enqueueAll).
		Complete(r)
}

// Reconcile validates every policy and writes its conditions when they change.
func (r *L2Policies) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	var pols v1alpha1.L2AnnouncementPolicyList
	var nodes corev1.NodeList
	for _, l := range []client.ObjectList{&pols, &nodes} {
		if err := r.Client.List(ctx, l); err != nil {
			return reconcile.Result{}, fmt.Errorf("listing: %w", err)
		}
	}
	var ns []model.Node
	for i := range nodes.Items {
		n, _ := translate.Node(&nodes.Items[i])
		ns = append(ns, n)
	}
	var errs []error
	for i := range pols.Items {
		if err := r.write(ctx, &pols.Items[i], ns); err != nil {
			errs = append(errs, err)
		}
	}
	return reconcile.Result{}, errors.Join(errs...)
}

func (r *L2Policies) write(ctx context.Context, p *v1alpha1.L2AnnouncementPolicy, nodes []model.Node) error {
	want := p.DeepCopy()
	noNode := metav1.Condition{Type: ConditionL2NoMatchingNode, Status: metav1.ConditionFalse, Reason: "None", Message: "the node selector matches a node", ObservedGeneration: p.Generation}
	m, ferrs := p.Model()
	invalid := invalidSpecCondition(p.Generation, ferrs)
	if len(ferrs) > 0 {
		noNode.Reason, noNode.Message = "InvalidSpec", "not evaluated: the policy does not validate"
	} else {
		matched := 0
		for i := range nodes {
			if m.NodeSelector.Matches(model.MapLabels(nodes[i].Labels)) {
				matched++
			}
		}
		if matched == 0 {
			noNode.Status, noNode.Reason, noNode.Message = metav1.ConditionTrue, "NoMatchingNode", fmt.Sprintf("nodeSelector %s matches no node, so nothing answers for the Services it selects", m.NodeSelector)
		}
	}
	meta.SetStatusCondition(&want.Status.Conditions, invalid)
	meta.SetStatusCondition(&want.Status.Conditions, noNode)
	if equalConditions(p.Status.Conditions, want.Status.Conditions) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, want, client.MergeFrom(p)); err != nil {
		return fmt.Errorf("L2AnnouncementPolicy %s conditions: %w", p.Name, err)
	}
	problemEvents(r.Events, want, p.Status.Conditions, want.Status.Conditions, ConditionInvalidSpec, ConditionL2NoMatchingNode)
	return nil
}
