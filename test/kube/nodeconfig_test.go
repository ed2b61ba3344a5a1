package kube

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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

const seed004 = "../fixtures/seeds/004-enterprise"

// createBGP creates the BGP kinds and Nodes (with their status addresses) of manifests.
func createBGP(t *testing.T, files ...string) {
	t.Helper()
	set, err := manifest.LoadFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, o := range manifest.Herald(set).Objects {
		switch x := o.Obj.(type) {
		case *v1alpha1.BGPClusterConfig, *v1alpha1.BGPPeerConfig, *v1alpha1.BGPAdvertisement, *v1alpha1.BGPNodeConfigOverride:
			if err := cl.Create(ctx, x.(client.Object)); err != nil {
				t.Fatalf("creating %s %s: %v", o.Kind, o.Name, err)
			}
		case *corev1.Node:
			status := x.Status
			if err := cl.Create(ctx, x); err != nil {
				t.Fatal(err)
			}
			x.Status = status
			if err := cl.Status().Update(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func condition(t *testing.T, name, typ string) *metav1.Condition {
	var cc v1alpha1.BGPClusterConfig
	if err := cl.Get(context.Background(), client.ObjectKey{Name: name}, &cc); err != nil {
		return nil
	}
	return meta.FindStatusCondition(cc.Status.Conditions, typ)
}

// TestNodeConfigsSeed004: seed 004's leaf-spine config gives each selected node a
// BGPNodeConfig with the override merged; a second config for the same nodes is reported and
// changes nothing; a missing peer config is reported.
func TestNodeConfigsSeed004(t *testing.T) {
	createBGP(t, filepath.Join(seed004, "v2-datacenter.yaml"), filepath.Join(seed004, "v2-workload.yaml"))
	startOperator(t, herald.OperatorConfig{IPAM: herald.DefaultOperatorConfig().IPAM, SkipNameValidation: true})
	ctx := context.Background()
	var w3 v1alpha1.BGPNodeConfig
	eventually(t, "node configs for both workers", 30*time.Second, func() string {
		var w1 v1alpha1.BGPNodeConfig
		if err := cl.Get(ctx, client.ObjectKey{Name: "node-worker-01"}, &w1); err != nil {
			return err.Error()
		}
		if err := cl.Get(ctx, client.ObjectKey{Name: "node-worker-03"}, &w3); err != nil {
			return err.Error()
		}
		in := w3.Spec.BGPInstances[0]
		if len(in.Peers) != 3 || *in.RouterID != "10.0.1.33" || in.LocalPort == nil || *in.LocalPort != 1179 {
			return fmt.Sprintf("node-worker-03: %+v", in)
		}
		if *w1.Spec.BGPInstances[0].RouterID != "10.0.1.31" || w1.Spec.BGPInstances[0].LocalPort != nil {
			return fmt.Sprintf("node-worker-01: %+v", w1.Spec.BGPInstances[0])
		}
		for _, p := range in.Peers {
			if p.Name == "spine-1" && (p.LocalAddress == nil || *p.LocalAddress != "10.0.1.33") {
				return "spine-1 has no local address 10.0.1.33"
			}
		}
		if len(w3.OwnerReferences) != 1 || w3.OwnerReferences[0].Name != "leaf-spine-bgp" {
			return fmt.Sprintf("owner %+v", w3.OwnerReferences)
		}
		return ""
	})
	rv := w3.ResourceVersion

	// A second, newer config for the same nodes is reported and takes nothing over.
	second := &v1alpha1.BGPClusterConfig{ObjectMeta: metav1.ObjectMeta{Name: "newer"}, Spec: v1alpha1.BGPClusterConfigSpec{
		NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"topology": "leaf-spine"}},
		BGPInstances: []v1alpha1.BGPInstance{{Name: "x", LocalASN: ptr(int64(65099)), Peers: []v1alpha1.BGPPeer{{Name: "p", PeerAddress: ptr("10.255.9.9"), PeerASN: ptr(int64(65000)), PeerConfigRef: &v1alpha1.PeerConfigReference{Name: "nope"}}}}},
	}}
	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second resolution
	if err := cl.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the conflict reported on the newer config", 30*time.Second, func() string {
		c := condition(t, "newer", herald.ConditionConflictingClusterConfig)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Sprintf("conflict condition %+v", c)
		}
		return ""
	})
	eventually(t, "Warning events on the newer config", 30*time.Second, func() string {
		// It selects no node of its own, and its broken peerConfigRef is reported all the same.
		got := eventsAbout(t, "default", "BGPClusterConfig", "newer")
		slices.Sort(got)
		if !slices.Equal(got, []string{"ConflictingClusterConfig", "MissingPeerConfigs"}) {
			return fmt.Sprintf("%v", got)
		}
		return ""
	})
	if c := condition(t, "newer", herald.ConditionMissingPeerConfigs); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, `"nope"`) {
		t.Errorf("MissingPeerConfigs on the newer config: %+v", c)
	}
	if got := eventsAbout(t, "default", "BGPClusterConfig", "leaf-spine-bgp"); len(got) != 0 {
		t.Errorf("events on the healthy config: %v", got)
	}
	if c := condition(t, "leaf-spine-bgp", herald.ConditionConflictingClusterConfig); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("the older config reports a conflict: %+v", c)
	}
	var again v1alpha1.BGPNodeConfig
	if err := cl.Get(ctx, client.ObjectKey{Name: "node-worker-03"}, &again); err != nil || again.ResourceVersion != rv {
		t.Errorf("a conflicting config changed node-worker-03's node config (resourceVersion %s -> %s, %v)", rv, again.ResourceVersion, err)
	}
}

func ptr[T any](v T) *T { return &v }
