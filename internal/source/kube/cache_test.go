package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSlimForCache(t *testing.T) {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web",
		Annotations:   map[string]string{lastApplied: `{"kind":"Service"}`, "io.cilium/lb-ipam-ips": "10.0.0.1"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}}
	orig := s.Annotations
	out, err := slimForCache(s)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Service)
	if got.ManagedFields != nil || got.Annotations[lastApplied] != "" || got.Annotations["io.cilium/lb-ipam-ips"] != "10.0.0.1" {
		t.Errorf("slimmed: %+v", got.ObjectMeta)
	}
	if orig[lastApplied] == "" {
		t.Error("the original annotation map was modified")
	}
}
