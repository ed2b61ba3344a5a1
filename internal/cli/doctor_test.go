package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldlb/herald/internal/doctor"
)

const doctorBase = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: main, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {blocks: [{cidr: 192.0.2.0/24}]}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {role: worker}}
status: {addresses: [{type: InternalIP, address: 198.51.100.11}]}
---
apiVersion: herald.io/v1alpha1
kind: BGPClusterConfig
metadata: {name: c, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  nodeSelector: {matchLabels: {role: worker}}
  bgpInstances: [{name: main, localASN: 65010, peers: [{name: r, peerAddress: 198.51.100.1, peerASN: 65001, peerConfigRef: {name: pc}}]}]
---
apiVersion: herald.io/v1alpha1
kind: BGPPeerConfig
metadata: {name: pc}
spec:
  families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {adv: lb}}}]
---
apiVersion: herald.io/v1alpha1
kind: BGPAdvertisement
metadata: {name: lb, labels: {adv: lb}}
spec:
  advertisements: [{advertisementType: Service, service: {addresses: [LoadBalancerIP, ExternalIP]}, selector: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {type: LoadBalancer, ports: [{port: 443}]}
`

func runDoctor(t *testing.T, extra string, args ...string) ([]doctor.Finding, int) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(doctorBase+"---\n"+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(append([]string{"doctor", "-f", dir, "--state", t.TempDir(), "--no-probe", "-o", "json"}, args...)...)
	var fs []doctor.Finding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("doctor output is not JSON: %v\n%s\n%s", err, out, errOut)
	}
	return fs, code
}

func TestDoctorCleanSetup(t *testing.T) {
	fs, code := runDoctor(t, "")
	for _, f := range fs {
		if f.Severity != doctor.Info {
			t.Errorf("finding on a clean setup: %+v", f)
		}
	}
	if code != ExitOK {
		t.Errorf("exit %d", code)
	}
}

// TestDoctorChecks creates each broken state and asserts the finding and its fix text.
func TestDoctorChecks(t *testing.T) {
	tests := []struct {
		check, extra, object, fix string
		severity                  doctor.Severity
		args                      []string
	}{
		{"unsubstituted-variable", "apiVersion: v1\nkind: Service\nmetadata: {name: flux, namespace: demo, annotations: {io.cilium/lb-ipam-ips: '${LBIP}'}}\nspec: {type: LoadBalancer}\n",
			"Service demo/flux", "postBuild.substituteFrom", doctor.Error, nil},
		{"service-without-address", "apiVersion: v1\nkind: Service\nmetadata: {name: far, namespace: demo, annotations: {herald.io/ips: 10.9.9.9}}\nspec: {type: LoadBalancer}\n",
			"Service demo/far", "inside a pool", doctor.Error, nil},
		{"overlapping-pools", "apiVersion: herald.io/v1alpha1\nkind: LoadBalancerIPPool\nmetadata: {name: newer, creationTimestamp: \"2025-01-01T00:00:00Z\"}\nspec: {blocks: [{cidr: 192.0.2.128/25}]}\n",
			"LoadBalancerIPPool newer", "remove the overlapping block", doctor.Error, nil},
		{"conflicting-cluster-configs", "apiVersion: herald.io/v1alpha1\nkind: BGPClusterConfig\nmetadata: {name: second, creationTimestamp: \"2025-01-01T00:00:00Z\"}\nspec: {bgpInstances: [{name: x, localASN: 65020}]}\n",
			"BGPClusterConfig second", "disjoint", doctor.Error, nil},
		{"cluster-config-selects-no-node", "apiVersion: herald.io/v1alpha1\nkind: BGPClusterConfig\nmetadata: {name: lonely}\nspec: {nodeSelector: {matchLabels: {role: none}}, bgpInstances: [{name: x, localASN: 65020}]}\n",
			"BGPClusterConfig lonely", "label the nodes", doctor.Warning, nil},
		{"peer-without-peer-config", strings.Replace(strings.SplitN(doctorBase, "---\n", 4)[2], "name: pc}}", "name: missing}}", 1),
			"BGPClusterConfig c", "create the BGPPeerConfig", doctor.Error, nil},
		{"family-selects-no-advertisement", "apiVersion: herald.io/v1alpha1\nkind: BGPPeerConfig\nmetadata: {name: pc}\nspec: {families: [{afi: ipv4, safi: unicast, advertisements: {matchLabels: {adv: nothing}}}]}\n",
			"BGPPeerConfig pc", "label a BGPAdvertisement", doctor.Warning, nil},
		{"advertisement-selects-no-service", "apiVersion: herald.io/v1alpha1\nkind: BGPAdvertisement\nmetadata: {name: picky, labels: {adv: lb}}\nspec: {advertisements: [{advertisementType: Service, service: {addresses: [LoadBalancerIP]}, selector: {matchLabels: {tier: gold}}}]}\n",
			"BGPAdvertisement picky", "label the Services", doctor.Warning, nil},
		{"external-ip-not-allowed", "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: demo}\nspec: {type: LoadBalancer, externalIPs: [203.0.113.5]}\n",
			"Service demo/ext", "--external-ip-cidrs", doctor.Warning, nil},
		{"local-service-without-endpoint", "apiVersion: v1\nkind: Service\nmetadata: {name: local, namespace: demo}\nspec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: x}}\n",
			"Service demo/local", "pods are running and ready", doctor.Error, nil},
		{"aggregate-beyond-pools", "apiVersion: herald.io/v1alpha1\nkind: BGPAdvertisement\nmetadata: {name: agg, labels: {adv: lb}}\nspec: {advertisements: [{advertisementType: Service, service: {addresses: [LoadBalancerIP], aggregationLengthIPv4: 16}, selector: {}}]}\n",
			"BGPAdvertisement agg", "aggregation length", doctor.Warning, nil},
		{"sharing-across-namespaces", "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: one, annotations: {metallb.universe.tf/allow-shared-ip: k}}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: two, annotations: {metallb.universe.tf/allow-shared-ip: k}}\nspec: {type: LoadBalancer, ports: [{port: 81}]}\n",
			"Service one/a", "herald.io/sharing-cross-namespace: two", doctor.Warning, nil},
		{"announced-twice", "apiVersion: herald.io/v1alpha1\nkind: L2AnnouncementPolicy\nmetadata: {name: l2}\nspec: {loadBalancerIPs: true}\n",
			"Service demo/web", "narrow the serviceSelector", doctor.Warning, nil},
		{"l2-interface-missing", "apiVersion: herald.io/v1alpha1\nkind: L2AnnouncementPolicy\nmetadata: {name: vlan}\nspec: {loadBalancerIPs: true, interfaces: [\"^enp86s0\\\\.122$\"], serviceSelector: {matchLabels: {none: none}}}\n",
			"L2AnnouncementPolicy vlan", "regular expressions", doctor.Warning, []string{"--node", "n1"}},
		{"l2-no-eligible-node", "apiVersion: herald.io/v1alpha1\nkind: L2AnnouncementPolicy\nmetadata: {name: private}\nspec: {loadBalancerIPs: true, nodeSelector: {matchLabels: {private: \"\"}}}\n",
			"Service demo/web", "nodeSelector", doctor.Error, nil},
		{"manifest", "apiVersion: herald.io/v1alpha1\nkind: LoadBalancerIPPool\nmetadata: {name: typo}\nspec: {blocks: [{cidr: 10.1.1.1/24}]}\n",
			"LoadBalancerIPPool typo", "edit ", doctor.Error, nil},
	}
	for _, tt := range tests {
		t.Run(tt.check, func(t *testing.T) {
			fs, code := runDoctor(t, tt.extra, tt.args...)
			var found *doctor.Finding
			for i, f := range fs {
				if f.Check == tt.check && f.Object == tt.object {
					found = &fs[i]
				}
			}
			if found == nil {
				t.Fatalf("no %s finding on %s in %+v", tt.check, tt.object, fs)
			}
			if found.Severity != tt.severity || !strings.Contains(found.Fix, tt.fix) || found.Problem == "" {
				t.Errorf("finding %+v: want severity %s and a fix mentioning %q", *found, tt.severity, tt.fix)
			}
			if (tt.severity == doctor.Error) != (code == ExitProblems) {
				t.Errorf("exit code %d for a %s finding", code, tt.severity)
			}
		})
	}
}
