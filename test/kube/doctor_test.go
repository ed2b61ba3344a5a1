package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/doctor"
	herald "github.com/heraldlb/herald/internal/source/kube"
	"github.com/heraldlb/herald/test/netlab"
)

// TestDoctorInClusterMode: `herald doctor --kubeconfig` reads the cluster through the API and
// explains a requested address outside every pool, an invalid pool (the field named), two
// cluster configs for one node, a node whose BGP configuration no agent runs, and an L2
// address no node's Lease says it answers for; exit 1.
func TestDoctorInClusterMode(t *testing.T) {
	oc := herald.DefaultOperatorConfig()
	oc.LeaderElectionNamespace, oc.MetricsAddr, oc.SkipNameValidation = "", "", true
	startOperator(t, oc)
	ensureNamespace(t, "doctor")
	createObjects(t, `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: doctor}
spec:
  blocks: [{cidr: 10.240.0.0/24}]
  serviceSelector: {matchLabels: {herald-test/doctor: "yes"}}
---
apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: doctor-hostbits}
spec:
  blocks: [{cidr: 10.241.0.7/24}]
  serviceSelector: {matchLabels: {herald-test/doctor: "never"}}
---
apiVersion: v1
kind: Service
metadata: {name: far, namespace: doctor, labels: {herald-test/doctor: "yes"}, annotations: {herald.io/ips: 10.99.99.99}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}], allocateLoadBalancerNodePorts: false}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: doctor-a}
spec:
  nodeSelector: {matchLabels: {herald-test/doctor: "yes"}}
  bgpInstances: [{name: i, localASN: 65030, peers: [{name: r, peerAddress: 10.250.0.1, peerASN: 65000}]}]
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: doctor-b}
spec:
  nodeSelector: {matchLabels: {herald-test/doctor: "yes"}}
  bgpInstances: [{name: j, localASN: 65031}]
---
apiVersion: herald.io/v1alpha1
kind: L2AnnouncementPolicy
metadata: {name: doctor}
spec:
  loadBalancerIPs: true
  serviceSelector: {matchLabels: {herald-test/doctor-l2: "yes"}}
  nodeSelector: {matchLabels: {herald-test/doctor: "yes"}}
---
apiVersion: v1
kind: Service
metadata: {name: lan, namespace: doctor, labels: {herald-test/doctor: "yes", herald-test/doctor-l2: "yes"}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}], allocateLoadBalancerNodePorts: false}
---
apiVersion: v1
kind: Node
metadata: {name: doctor-node, labels: {herald-test/doctor: "yes"}}
status: {addresses: [{type: InternalIP, address: 10.250.0.11}]}
`)
	bin := netlab.HeraldBinary(t)
	kc := writeKubeconfig(t)
	want := map[string]string{
		"service-without-address":     "Service doctor/far",
		"manifest":                    "LoadBalancerIPPool doctor-hostbits",
		"conflicting-cluster-configs": "BGPClusterConfig doctor-b",
		"agent-not-reporting":         "BGPNodeConfig doctor-node",
		"l2-unanswered":               "Service doctor/lan", // no agent runs, so no Lease answers for it
	}
	eventually(t, "doctor's cluster-mode findings", 30*time.Second, func() string {
		out, err := exec.Command(bin, "doctor", "--kubeconfig", kc, "-o", "json").Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			return fmt.Sprintf("exit: %v (want 1: errors found)", err)
		}
		var fs []doctor.Finding
		if err := json.Unmarshal(out, &fs); err != nil {
			return err.Error()
		}
		var missing []string
		for check, obj := range want {
			found := false
			for _, f := range fs {
				found = found || (f.Check == check && strings.HasPrefix(f.Object, obj) && f.Fix != "")
			}
			if !found {
				missing = append(missing, check+" on "+obj)
			}
		}
		if len(missing) > 0 {
			return "missing " + strings.Join(missing, ", ")
		}
		for _, f := range fs {
			if f.Check == "manifest" && f.Object == "LoadBalancerIPPool doctor-hostbits" && !strings.Contains(f.Field, "spec.blocks[0]") {
				return "the pool finding does not name the field: " + f.Field
			}
		}
		return ""
	})
}
