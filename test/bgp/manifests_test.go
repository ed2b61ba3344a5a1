package bgp

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/heraldlb/herald/internal/lab"
	"github.com/heraldlb/herald/test/netlab"
)

// Manifest pieces the BGP tests assemble their scenarios from.

// fastTimers are the session timers of every test peer: failures show in seconds, not minutes.
const fastTimers = "timers: {holdTimeSeconds: 9, keepAliveTimeSeconds: 3, connectRetryTimeSeconds: 1}"

func poolYAML(name, cidr string) string {
	return fmt.Sprintf("apiVersion: herald.io/v1alpha1\nkind: LoadBalancerIPPool\nmetadata: {name: %s}\nspec: {blocks: [{cidr: %q}]}\n", name, cidr)
}

func nodeYAML(name string, addrs ...string) string {
	var as []string
	for _, a := range addrs {
		as = append(as, fmt.Sprintf("{type: InternalIP, address: %q}", a))
	}
	return fmt.Sprintf("apiVersion: v1\nkind: Node\nmetadata: {name: %s}\nstatus: {addresses: [%s]}\n", name, strings.Join(as, ", "))
}

// peerYAML is one peers[] entry of a cluster config.
func peerYAML(name, addr string, asn int, peerConfig string) string {
	return fmt.Sprintf("{name: %s, peerAddress: %q, peerASN: %d, peerConfigRef: {name: %s}}", name, addr, asn, peerConfig)
}

// clusterYAML is a cluster config with one instance (AS 65010) and the given peers.
func clusterYAML(peers ...string) string {
	return "apiVersion: herald.io/v1alpha1\nkind: BGPClusterConfig\nmetadata: {name: c}\nspec:\n  bgpInstances: [{name: main, localASN: 65010, peers: [" +
		strings.Join(peers, ", ") + "]}]\n"
}

// peerConfigYAML is a peer config whose families select the "all" advertisement; extra lines
// (indented two spaces) go into its spec.
func peerConfigYAML(name, timers string, extra []string, afis ...string) string {
	if len(afis) == 0 {
		afis = []string{"ipv4"}
	}
	var fams []string
	for _, a := range afis {
		fams = append(fams, fmt.Sprintf("{afi: %s, safi: unicast, advertisements: {matchLabels: {adv: all}}}", a))
	}
	s := fmt.Sprintf("apiVersion: herald.io/v1alpha1\nkind: BGPPeerConfig\nmetadata: {name: %s}\nspec:\n  %s\n", name, timers)
	for _, e := range extra {
		s += "  " + e + "\n"
	}
	return s + "  families: [" + strings.Join(fams, ", ") + "]\n"
}

// advertiseAll advertises every LoadBalancer address (and, with podCIDR, pod CIDRs).
func advertiseAll(podCIDR bool) string {
	s := "apiVersion: herald.io/v1alpha1\nkind: BGPAdvertisement\nmetadata: {name: all, labels: {adv: all}}\nspec:\n  advertisements:\n" +
		"    - {advertisementType: Service, service: {addresses: [LoadBalancerIP]}, selector: {}}\n"
	if podCIDR {
		s += "    - {advertisementType: PodCIDR}\n"
	}
	return s
}

func serviceYAML(namespace, name, extraSpec string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec: {type: LoadBalancer, ports: [{port: 443}]%s}\n", name, namespace, extraSpec)
}

func docs(parts ...string) string { return strings.Join(parts, "---\n") }

// routerConfig runs `herald router-config --for frr` on the manifests and splits the result
// into bgpd's part and bfdd's (the lab runs the daemons from separate files; an integrated
// frr.conf takes the whole text).
func routerConfig(t testing.TB, args ...string) (bgpd, bfdd string) {
	t.Helper()
	out, err := exec.Command(netlab.HeraldBinary(t), append([]string{"router-config", "--for", "frr"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("herald router-config: %v\n%s", err, out)
	}
	return lab.SplitFRRConfig(string(out))
}
