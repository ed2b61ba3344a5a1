package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// invalidSpecCondition is the herald.io/InvalidSpec condition for the validation errors of an
// object (the same validation as `herald validate`): True naming every field and why, so a
// broken object says so where `kubectl describe` looks, without an admission webhook.
func invalidSpecCondition(gen int64, errs field.ErrorList) metav1.Condition {
	c := metav1.Condition{Type: ConditionInvalidSpec, Status: metav1.ConditionFalse, Reason: "Valid", Message: "the object validates", ObservedGeneration: gen}
	if len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, "InvalidSpec", strings.Join(msgs, "; ")+"; the object is ignored until fixed, and nothing else changes"
	}
	return c
}

// writeInvalidSpec sets only the InvalidSpec condition of obj (conds finds its conditions),
// when it changed: for objects whose other conditions nobody writes, or which are invalid and
// so get no others.
func writeInvalidSpec[T client.Object](ctx context.Context, c client.Client, rec events.EventRecorder, obj T, conds func(T) *[]metav1.Condition, errs field.ErrorList) error {
	return writeProblemConditions(ctx, c, rec, obj, conds, invalidSpecCondition(obj.GetGeneration(), errs))
}

// writeProblemConditions sets the given conditions of obj, patching its status only when one
// changed, with an event for each problem that appeared or went away.
func writeProblemConditions[T client.Object](ctx context.Context, c client.Client, rec events.EventRecorder, obj T, conds func(T) *[]metav1.Condition, set ...metav1.Condition) error {
	fresh := obj.DeepCopyObject().(T)
	types := make([]string, 0, len(set))
	for _, cond := range set {
		meta.SetStatusCondition(conds(fresh), cond)
		types = append(types, cond.Type)
	}
	if equalConditions(*conds(obj), *conds(fresh)) {
		return nil
	}
	if err := c.Status().Patch(ctx, fresh, client.MergeFrom(obj)); err != nil {
		return fmt.Errorf("%s: conditions %v: %w", obj.GetName(), types, err)
	}
	problemEvents(rec, fresh, *conds(obj), *conds(fresh), types...)
	return nil
}

// invalidEvents reports objects without a status (BGPAdvertisement, BGPNodeConfigOverride)
// with a Warning event when their validation errors change, and a Normal one when fixed. It
// remembers what it said, so a resync says nothing new (a restart says it once more).
type invalidEvents struct {
	mu   sync.Mutex
	said map[string]string
}

func (v *invalidEvents) report(rec events.EventRecorder, obj client.Object, errs field.ErrorList) {
	if rec == nil {
		return
	}
	key := fmt.Sprintf("%T/%s", obj, obj.GetName())
	msg := ""
	if len(errs) > 0 {
		msg = invalidSpecCondition(obj.GetGeneration(), errs).Message
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.said == nil {
		v.said = map[string]string{}
	}
	prev, known := v.said[key]
	if prev == msg && (known || msg == "") {
		return
	}
	v.said[key] = msg
	switch {
	case msg != "":
		rec.Eventf(obj, nil, corev1.EventTypeWarning, "InvalidSpec", "Validate", "%s", msg)
	case known:
		rec.Eventf(obj, nil, corev1.EventTypeNormal, "InvalidSpecResolved", "Validate", "the object validates")
	}
}
