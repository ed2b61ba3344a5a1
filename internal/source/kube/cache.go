package kube

import (
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// lastApplied is the annotation `kubectl apply` keeps: a copy of the whole object as applied.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// slimForCache drops from every cached object what Herald never reads and what can be most
// of its size: managedFields, and kubectl's last-applied copy of the object. With 100,000
// Services applied by kubectl that is more than half of the cache.
func slimForCache(obj any) (any, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	o.SetManagedFields(nil)
	if a := o.GetAnnotations(); a[lastApplied] != "" {
		a = maps.Clone(a)
		delete(a, lastApplied)
		o.SetAnnotations(a)
	}
	return obj, nil
}

var _ cache.TransformFunc = slimForCache
