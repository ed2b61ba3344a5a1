package kube

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// problemEvents records the problem conditions of obj that changed status with this write:
// a Warning named after the condition when it turns True, and "<name>Resolved" when it turns
// False again. Called only after a status write, so a resync that changes nothing records
// nothing; a condition that starts out False (a new, healthy object) records nothing either.
func problemEvents(rec events.EventRecorder, obj runtime.Object, before, after []metav1.Condition, problemTypes ...string) {
	if rec == nil {
		return
	}
	for _, typ := range problemTypes {
		now := meta.FindStatusCondition(after, typ)
		if now == nil {
			continue
		}
		was := meta.FindStatusCondition(before, typ)
		name := strings.TrimPrefix(typ, "herald.io/")
		switch {
		case now.Status == metav1.ConditionTrue && (was == nil || was.Status != metav1.ConditionTrue):
			rec.Eventf(obj, nil, corev1.EventTypeWarning, name, "Reconcile", "%s", now.Message)
		case now.Status == metav1.ConditionFalse && was != nil && was.Status == metav1.ConditionTrue:
			rec.Eventf(obj, nil, corev1.EventTypeNormal, name+"Resolved", "Reconcile", "%s", now.Message)
		}
	}
}
