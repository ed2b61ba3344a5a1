package kube

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	"github.com/heraldlb/herald/internal/manifest"
	herald "github.com/heraldlb/herald/internal/source/kube"
)

const seed000 = "../fixtures/seeds/000-home-ops"

// apply creates every pool, namespace and Service of the manifests (Cilium kinds converted
// the way `herald convert` does).
func apply(t *testing.T, files ...string) {
	t.Helper()
	set, err := manifest.LoadFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	namespaces := map[string]bool{}
	for _, o := range manifest.Herald(set).Objects {
		var obj client.Object
		switch x := o.Obj.(type) {
		case *v1alpha1.LoadBalancerIPPool:
			obj = x
		case *corev1.Service:
			namespaces[x.Namespace] = true
			obj = x
		default:
			continue
		}
		for ns := range namespaces {
			_ = cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
		if err := cl.Create(ctx, obj); err != nil {
			t.Fatalf("creating %s %s: %v", o.Kind, o.Name, err)
		}
	}
}

func TestSeed000RequestedIPs(t *testing.T) {
	apply(t, filepath.Join(seed000, "networking.yaml"), filepath.Join(seed000, "services.yaml"))
	metricsAddr, statusAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	startOperator(t, herald.OperatorConfig{IPAM: herald.DefaultOperatorConfig().IPAM, SkipNameValidation: true, MetricsAddr: metricsAddr, StatusAddr: statusAddr})
	ctx := context.Background()
	eventually(t, "11 Services with their requested addresses", 30*time.Second, func() string {
		var svcs corev1.ServiceList
		if err := cl.List(ctx, &svcs); err != nil {
			return err.Error()
		}
		var bad []string
		n := 0
		for _, s := range svcs.Items {
			want := s.Annotations["io.cilium/lb-ipam-ips"]
			if want == "" {
				continue
			}
			n++
			c := meta.FindStatusCondition(s.Status.Conditions, herald.ConditionIPAMSatisfied)
			if len(s.Status.LoadBalancer.Ingress) != 1 || s.Status.LoadBalancer.Ingress[0].IP != want || c == nil || c.Status != metav1.ConditionTrue {
				bad = append(bad, fmt.Sprintf("%s/%s: %+v %+v", s.Namespace, s.Name, s.Status.LoadBalancer.Ingress, c))
			}
		}
		if n != 11 || len(bad) > 0 {
			return fmt.Sprintf("%d Services; not yet right: %s", n, strings.Join(bad, "; "))
		}
		return ""
	})
	eventually(t, "the pool to report 243 available", 10*time.Second, func() string {
		var p v1alpha1.LoadBalancerIPPool
		if err := cl.Get(ctx, client.ObjectKey{Name: "lb-pool"}, &p); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(p.Status.Conditions, herald.ConditionIPsAvailable)
		if c == nil || c.Message != "243" {
			return fmt.Sprintf("%+v", p.Status.Conditions)
		}
		return ""
	})
	// The operator's /metrics answers with the pool's usage, the Services by result, reconcile
	// outcomes and the API requests it made.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`controller_runtime_reconcile_total{controller="ipam",result="success"}`, `rest_client_requests_total{code="200"`, "workqueue_depth",
		"\nherald_ipam_pool_addresses_available{pool=\"lb-pool\"} 243\n", "\nherald_ipam_pool_addresses_used{pool=\"lb-pool\"} 11\n", "\nherald_ipam_pool_addresses_total{pool=\"lb-pool\"} 254\n",
		"\nherald_ipam_services{reason=\"satisfied\"} ", "\nherald_reconciles_total "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("operator /metrics lacks %q", want)
		}
	}
	// The status page of the operator's view: the pool and its usage.
	resp, err = http.Get("http://" + statusAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "<td>lb-pool</td>") || !strings.Contains(string(body), "<td>11</td><td>254</td>") {
		t.Errorf("the operator's status page does not show lb-pool with 11 of 254 used:\n%.2000s", body)
	}
}

// freeLoopbackAddr returns a loopback address with a port nobody listens on now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
