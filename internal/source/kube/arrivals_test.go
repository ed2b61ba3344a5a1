package kube

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A pass can list Services whose create event has not reached the predicate yet: they are
// numbered after every Service already seen, in creation order (revision within a second),
// and the event arriving later keeps the number.
func TestArrivalsOfListedServices(t *testing.T) {
	second := metav1.NewTime(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	svc := func(name, rv string, created metav1.Time) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: name, UID: types.UID(name), ResourceVersion: rv, CreationTimestamp: created}}
	}
	http, https := svc("web-http", "7", second), svc("web-https", "9", second)
	conflict, earlier := svc("web-dns-conflict", "12", second), svc("older", "30", metav1.NewTime(second.Add(-time.Second)))
	var a arrivals
	a.note(&http)
	a.note(&https)
	// The list holds the conflict (revision 12: after https's 9, though "12" < "9" as text)
	// and a Service from an earlier second that was never delivered either.
	a.noteListed([]corev1.Service{conflict, https, earlier, http})
	got := map[string]int{}
	for _, s := range []corev1.Service{http, https, earlier, conflict} {
		got[s.Name] = a.of(s.UID)
	}
	if !(got["web-http"] < got["web-https"] && got["web-https"] < got["older"] && got["older"] < got["web-dns-conflict"]) {
		t.Fatalf("arrival numbers %v: want web-http < web-https < older < web-dns-conflict", got)
	}
	before := got["web-dns-conflict"]
	a.note(&conflict) // its create event, late
	if a.of(conflict.UID) != before {
		t.Fatalf("the late create event renumbered the Service: %d, was %d", a.of(conflict.UID), before)
	}
}
