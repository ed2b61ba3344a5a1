package bgp

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/test/netlab"
)

var dualStackManifests = docs(poolYAML("v4", "198.51.100.0/24"), poolYAML("v6", "2001:db8:100::/64"),
	`apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDRs: [10.244.1.0/24, "fd00:244:1::/64"]}
status: {addresses: [{type: InternalIP, address: 192.0.2.11}, {type: InternalIP, address: "2001:db8:ffff::11"}]}
`, serviceYAML("demo", "web", ", ipFamilyPolicy: PreferDualStack, ipFamilies: [IPv4, IPv6]"),
	clusterYAML(peerYAML("r-v4", "192.0.2.1", 65001, "v4"), peerYAML("r-v6", "2001:db8:ffff::1", 65001, "v6")),
	peerConfigYAML("v4", fastTimers, nil, "ipv4"), peerConfigYAML("v6", fastTimers, nil, "ipv6"), advertiseAll(true))

const dualStackRouter = `frr defaults traditional
log stdout
router bgp 65001
 no bgp ebgp-requires-policy
 neighbor 192.0.2.11 remote-as 65010
 neighbor 192.0.2.11 timers 3 9
 neighbor 2001:db8:ffff::11 remote-as 65010
 neighbor 2001:db8:ffff::11 timers 3 9
 address-family ipv4 unicast
  no neighbor 2001:db8:ffff::11 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:ffff::11 activate
 exit-address-family
`

// TestDualStack: a PreferDualStack Service and a dual-stack pod CIDR, each family over its own
// session, installed in the router's kernel with the node's address of that family.
func TestDualStack(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("r")
	l.Bridge("r", "br0", "192.0.2.1/24", "2001:db8:ffff::1/64")
	l.AddNS("n1")
	l.Attach("n1", "eth0", "r", "br0", "192.0.2.11/24", "2001:db8:ffff::11/64")
	l.StartFRR("r", dualStackRouter, "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), dualStackManifests)
	h := l.StartHerald("n1", "n1", "--node", "n1", "-f", dir)
	l.WaitFor("both families in the router's kernel", 60*time.Second, func() string {
		v4, v6 := bgpRoutes(l, "r")
		for _, want := range []string{"198.51.100.0 via 192.0.2.11", "10.244.1.0/24 via 192.0.2.11"} {
			if !strings.Contains(v4, want) {
				return "v4: " + v4
			}
		}
		for _, want := range []string{"2001:db8:100:: via 2001:db8:ffff::11", "fd00:244:1::/64 via 2001:db8:ffff::11"} {
			if !strings.Contains(v6, want) {
				return "v6: " + v6
			}
		}
		return ""
	})
	out, _ := h.CLI("bgp", "routes", "available", "ipv6")
	if !strings.Contains(out, "2001:db8:100::/128") {
		t.Errorf("herald bgp routes available ipv6:\n%s", out)
	}
}

// TestIPv4OverIPv6Session: one IPv6 session carries both families; IPv4 routes get the node's
// IPv6 address as next hop (RFC 8950 extended next hop), which the router installs as an IPv4
// route via an IPv6 gateway.
func TestIPv4OverIPv6Session(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("r")
	l.Bridge("r", "br0", "2001:db8:ffff::1/64")
	l.AddNS("n1")
	l.Attach("n1", "eth0", "r", "br0", "2001:db8:ffff::11/64")
	l.StartFRR("r", `frr defaults traditional
log stdout
router bgp 65001
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 neighbor 2001:db8:ffff::11 remote-as 65010
 neighbor 2001:db8:ffff::11 timers 3 9
 neighbor 2001:db8:ffff::11 capability extended-nexthop
 address-family ipv4 unicast
  neighbor 2001:db8:ffff::11 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:ffff::11 activate
 exit-address-family
`, "")
	dir := t.TempDir()
	m := docs(poolYAML("v4", "198.51.100.0/24"), poolYAML("v6", "2001:db8:100::/64"), nodeYAML("n1", "2001:db8:ffff::11"),
		serviceYAML("demo", "web", ", ipFamilyPolicy: PreferDualStack, ipFamilies: [IPv4, IPv6]"),
		clusterYAML(peerYAML("r", "2001:db8:ffff::1", 65001, "both")),
		peerConfigYAML("both", fastTimers, nil, "ipv4", "ipv6"), advertiseAll(false))
	// The node has no IPv4 address, so its router ID is derived from its name (reported).
	writeFile(t, filepath.Join(dir, "m.yaml"), m)
	h := l.StartHerald("n1", "n1", "--node", "n1", "-f", dir)
	defer func() {
		if t.Failed() {
			out, _ := h.CLI("bgp", "peers")
			t.Logf("herald bgp peers:\n%s\nproblems:\n%s", out, h.Problems())
		}
	}()
	l.WaitFor("both families over the IPv6 session", 60*time.Second, func() string {
		v4, v6 := bgpRoutes(l, "r")
		if !strings.Contains(v4, "198.51.100.0 via inet6 2001:db8:ffff::11") || !strings.Contains(v6, "2001:db8:100:: via 2001:db8:ffff::11") {
			return "v4: " + v4 + " v6: " + v6
		}
		return ""
	})
}

// TestIPv6OverIPv4Session: one IPv4 session carries both families; IPv6 routes get the node's
// IPv6 address as next hop.
func TestIPv6OverIPv4Session(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("r")
	l.Bridge("r", "br0", "192.0.2.1/24", "2001:db8:ffff::1/64")
	l.AddNS("n1")
	l.Attach("n1", "eth0", "r", "br0", "192.0.2.11/24", "2001:db8:ffff::11/64")
	l.StartFRR("r", `frr defaults traditional
log stdout
router bgp 65001
 no bgp ebgp-requires-policy
 neighbor 192.0.2.11 remote-as 65010
 neighbor 192.0.2.11 timers 3 9
 address-family ipv6 unicast
  neighbor 192.0.2.11 activate
 exit-address-family
`, "")
	dir := t.TempDir()
	m := docs(poolYAML("v4", "198.51.100.0/24"), poolYAML("v6", "2001:db8:100::/64"), nodeYAML("n1", "192.0.2.11", "2001:db8:ffff::11"),
		serviceYAML("demo", "web", ", ipFamilyPolicy: PreferDualStack, ipFamilies: [IPv4, IPv6]"),
		clusterYAML(peerYAML("r", "192.0.2.1", 65001, "both")),
		peerConfigYAML("both", fastTimers, nil, "ipv4", "ipv6"), advertiseAll(false))
	writeFile(t, filepath.Join(dir, "m.yaml"), m)
	l.StartHerald("n1", "n1", "--node", "n1", "-f", dir)
	l.WaitFor("both families over the IPv4 session", 60*time.Second, func() string {
		v4, v6 := bgpRoutes(l, "r")
		if !strings.Contains(v4, "198.51.100.0 via 192.0.2.11") || !strings.Contains(v6, "2001:db8:100:: via 2001:db8:ffff::11") {
			return "v4: " + v4 + " v6: " + v6
		}
		return ""
	})
}

var nhid = regexp.MustCompile(` nhid \d+`)

// bgpRoutes lists a namespace's BGP routes of both families as `ip route` prints them, without
// the nexthop object ids newer iproute2 adds.
func bgpRoutes(l *netlab.Lab, ns string) (v4, v6 string) {
	return nhid.ReplaceAllString(l.Exec(ns, "ip", "route", "show", "proto", "bgp"), ""),
		nhid.ReplaceAllString(l.Exec(ns, "ip", "-6", "route", "show", "proto", "bgp"), "")
}
