package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heraldlb/herald/api/v1alpha1"
	herald "github.com/heraldlb/herald/internal/source/kube"
)

// TestL2PolicyConditions: a policy with a bad regular expression and a bad selector operator
// (which the CRD schema cannot reject) says so in a condition naming the fields; fixed, the
// condition clears; a node selector that matches no node is a condition too.
func TestL2PolicyConditions(t *testing.T) {
	ctx := context.Background()
	oc := herald.DefaultOperatorConfig()
	oc.LeaderElectionNamespace, oc.SkipNameValidation = "", true
	startOperator(t, oc)
	pol := &v1alpha1.L2AnnouncementPolicy{ObjectMeta: metav1.ObjectMeta{Name: "l2-broken"}, Spec: v1alpha1.L2AnnouncementPolicySpec{
		LoadBalancerIPs: true,
		Interfaces:      []string{"^eth0$", "enp86s0.(122"},
		NodeSelector:    &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "private", Operator: "Contains"}}},
	}}
	if err := cl.Create(ctx, pol); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Delete(ctx, pol) })
	cond := func(typ string) *metav1.Condition {
		var cur v1alpha1.L2AnnouncementPolicy
		if err := cl.Get(ctx, client.ObjectKeyFromObject(pol), &cur); err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(cur.Status.Conditions, typ)
	}
	eventually(t, "InvalidSpec naming both fields", 10*time.Second, func() string {
		c := cond(herald.ConditionInvalidSpec)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "spec.interfaces[1]") || !strings.Contains(c.Message, "spec.nodeSelector") {
			return condString(c)
		}
		return ""
	})

	var cur v1alpha1.L2AnnouncementPolicy
	if err := cl.Get(ctx, client.ObjectKeyFromObject(pol), &cur); err != nil {
		t.Fatal(err)
	}
	cur.Spec.Interfaces = []string{"^eth0$", `^enp86s0\.122$`}
	cur.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"herald-test/no-such-label": "x"}}
	if err := cl.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, "valid, and NoMatchingNode", 10*time.Second, func() string {
		inv, nn := cond(herald.ConditionInvalidSpec), cond(herald.ConditionL2NoMatchingNode)
		if inv == nil || inv.Status != metav1.ConditionFalse || nn == nil || nn.Status != metav1.ConditionTrue || !strings.Contains(nn.Message, "herald-test/no-such-label=x") {
			return condString(inv) + " / " + condString(nn)
		}
		return ""
	})
}

func condString(c *metav1.Condition) string {
	if c == nil {
		return "no condition"
	}
	return string(c.Status) + " " + c.Reason + ": " + c.Message
}
