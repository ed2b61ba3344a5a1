package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	herald "github.com/heraldlb/herald/internal/source/kube"
)

// TestBadInputIsExplainedAndChangesNothing: objects the CRD schema accepts but Herald's
// validation does not (a pool CIDR with host bits, a cluster config peer that is not an
// address, an unknown community) get a condition or an event naming the field, and a Service
// that already has its address keeps it.
func TestBadInputIsExplainedAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	oc := herald.DefaultOperatorConfig()
	oc.LeaderElectionNamespace, oc.MetricsAddr, oc.SkipNameValidation = "", "", true
	startOperator(t, oc)
	ensureNamespace(t, "bad-input")
	createObjects(t, `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: bad-input-good}
spec:
  blocks: [{cidr: 10.230.0.0/24}]
  serviceSelector: {matchLabels: {herald-test/bad-input: "yes"}}
---
apiVersion: v1
kind: Service
metadata: {name: keeper, namespace: bad-input, labels: {herald-test/bad-input: "yes"}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}], allocateLoadBalancerNodePorts: false}
`)
	var keeper corev1.Service
	eventually(t, "keeper's address", 20*time.Second, func() string {
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "bad-input", Name: "keeper"}, &keeper); err != nil {
			return err.Error()
		}
		if len(keeper.Status.LoadBalancer.Ingress) == 0 {
			return "no address"
		}
		return ""
	})
	ip := keeper.Status.LoadBalancer.Ingress[0].IP

	createObjects(t, `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: bad-input-hostbits}
spec:
  blocks: [{cidr: 10.231.0.1/24}]
  serviceSelector: {matchLabels: {herald-test/bad-input: "never"}}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: bad-input}
spec:
  nodeSelector: {matchLabels: {herald-test/bad-input: "none"}}
  bgpInstances: [{name: x, localASN: 65020, peers: [{name: r, peerAddress: "router.lan", peerASN: 65000}]}]
---
apiVersion: herald.io/v1alpha1
kind: BGPAdvertisement
metadata: {name: bad-input, labels: {herald-test/bad-input: "yes"}}
spec:
  advertisements:
  - advertisementType: Service
    service: {addresses: [LoadBalancerIP]}
    selector: {matchLabels: {herald-test/bad-input: "yes"}}
    attributes: {communities: {standard: ["65000:100", "no-such-community"]}}
`)
	invalid := func(obj client.Object, conds func() []metav1.Condition) func() string {
		return func() string {
			if err := cl.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err.Error()
			}
			c := meta.FindStatusCondition(conds(), herald.ConditionInvalidSpec)
			if c == nil || c.Status != metav1.ConditionTrue {
				return condString(c)
			}
			return ""
		}
	}
	pool := &v1alpha1.LoadBalancerIPPool{ObjectMeta: metav1.ObjectMeta{Name: "bad-input-hostbits"}}
	eventually(t, "InvalidSpec on the pool", 20*time.Second, invalid(pool, func() []metav1.Condition { return pool.Status.Conditions }))
	if c := meta.FindStatusCondition(pool.Status.Conditions, herald.ConditionInvalidSpec); !strings.Contains(c.Message, "spec.blocks[0]") {
		t.Errorf("pool condition does not name the field: %s", c.Message)
	}
	cc := &v1alpha1.BGPClusterConfig{ObjectMeta: metav1.ObjectMeta{Name: "bad-input"}}
	eventually(t, "InvalidSpec on the cluster config", 20*time.Second, invalid(cc, func() []metav1.Condition { return cc.Status.Conditions }))
	if c := meta.FindStatusCondition(cc.Status.Conditions, herald.ConditionInvalidSpec); !strings.Contains(c.Message, "peerAddress") {
		t.Errorf("cluster config condition does not name the field: %s", c.Message)
	}
	eventually(t, "an InvalidSpec event on the advertisement", 20*time.Second, func() string {
		if ev := eventsAbout(t, "default", "BGPAdvertisement", "bad-input"); !slices.Contains(ev, "InvalidSpec") {
			return strings.Join(ev, ",")
		}
		return ""
	})
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "bad-input", Name: "keeper"}, &keeper); err != nil {
		t.Fatal(err)
	}
	if len(keeper.Status.LoadBalancer.Ingress) != 1 || keeper.Status.LoadBalancer.Ingress[0].IP != ip {
		t.Errorf("keeper's address changed from %s to %+v", ip, keeper.Status.LoadBalancer.Ingress)
	}
}

// TestPeerConfigMissingSecret: a peer config naming an MD5 Secret that Herald's namespace
// does not hold says so on itself (the agents start none of its sessions meanwhile); once the
// Secret exists the condition clears, with an event each way. Another peer config is untouched.
func TestPeerConfigMissingSecret(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, "herald-system")
	oc := herald.DefaultOperatorConfig()
	oc.LeaderElectionNamespace, oc.MetricsAddr, oc.SkipNameValidation = "", "", true
	startOperator(t, oc)
	createObjects(t, `apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: md5-missing}
spec:
  authSecretRef: md5-router
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: md5-none}
spec: {}
`)
	cond := func(name string) *metav1.Condition {
		var pc v1alpha1.BGPPeerConfig
		if err := cl.Get(ctx, client.ObjectKey{Name: name}, &pc); err != nil {
			return nil
		}
		return meta.FindStatusCondition(pc.Status.Conditions, herald.ConditionMissingAuthSecret)
	}
	eventually(t, "MissingAuthSecret on md5-missing", 20*time.Second, func() string {
		if c := cond("md5-missing"); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "spec.authSecretRef: Secret herald-system/md5-router does not exist") {
			return condString(c)
		}
		return ""
	})
	// Statuses are written in parallel: md5-none's may land after md5-missing's.
	eventually(t, "a peer config without authSecretRef: MissingAuthSecret False", 20*time.Second, func() string {
		if c := cond("md5-none"); c == nil || c.Status != metav1.ConditionFalse {
			return condString(c)
		}
		return ""
	})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "herald-system", Name: "md5-router"}, StringData: map[string]string{"password": "s3cret"}}
	if err := cl.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(context.Background(), secret) })
	eventually(t, "MissingAuthSecret cleared once the Secret exists", 20*time.Second, func() string {
		if c := cond("md5-missing"); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "SecretFound" {
			return condString(c)
		}
		return ""
	})
	eventually(t, "an event each way", 20*time.Second, func() string {
		if got := eventsAbout(t, "default", "BGPPeerConfig", "md5-missing"); !slices.Equal(got, []string{"MissingAuthSecret", "MissingAuthSecretResolved"}) {
			return strings.Join(got, ",")
		}
		return ""
	})
}
