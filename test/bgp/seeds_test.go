package bgp

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/test/netlab"
)

const seed001 = "../fixtures/seeds/001-opnsense-v1"

func nextHops(f *netlab.FRR, dst string) string { return f.NextHopsOf(dst) }

// TestSeed001LocalThenClusterDynamicNeighbours: only the node with the pod announces a Local
// Service; switching the Service to Cluster (a live edit) brings in all three workers; the
// control-plane node never peers; the unlabelled Service is never advertised.
func TestSeed001LocalThenClusterDynamicNeighbours(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("opnsense")
	l.Bridge("opnsense", "br0", "10.86.5.254/24")
	nodes := map[string]string{"w1": "10.86.5.1", "w2": "10.86.5.2", "w3": "10.86.5.3", "cp": "10.86.5.10"}
	for ns, a := range nodes {
		l.AddNS(ns)
		l.Attach(ns, "eth0", "opnsense", "br0", a+"/24")
	}
	// The router takes any node of the LAN as a dynamic neighbour (bgp listen range), as
	// `herald router-config --listen-range` prints it: the answer to the seed's "isn't there
	// a better way than adding every node?".
	bgpd, _ := routerConfig(t, "-f", seed001, "--listen-range", "10.86.5.0/24")
	router := l.StartFRR("opnsense", bgpd, "")
	dir := t.TempDir()
	for _, f := range []string{"cilium.yaml", "workload.yaml"} {
		b, err := os.ReadFile(filepath.Join(seed001, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), string(b))
	}
	names := map[string]string{"w1": "worker-1", "w2": "worker-2", "w3": "worker-3", "cp": "cp-1"}
	heralds := map[string]*netlab.Herald{}
	for ns, name := range names {
		heralds[ns] = l.StartHerald(ns, ns, "--node", name, "-f", dir)
	}
	l.WaitFor("three dynamic neighbours established", 60*time.Second, func() string {
		s, err := router.Summary()
		if err != nil {
			return err.Error()
		}
		var up []string
		for a, p := range s.Peers {
			if p.State == "Established" {
				up = append(up, a)
			}
		}
		slices.Sort(up)
		if strings.Join(up, ",") != "10.86.5.1,10.86.5.2,10.86.5.3" {
			return fmt.Sprintf("established: %v", up)
		}
		return ""
	})
	l.WaitFor("the Local Service via worker-2 only", 20*time.Second, func() string {
		if nh := nextHops(router, "10.86.55.0"); nh != "10.86.5.2" {
			return "next hops " + nh
		}
		return ""
	})
	if out, _ := heralds["cp"].CLI("bgp", "peers"); strings.Contains(out, "10.86.5.254") {
		t.Errorf("the control-plane node peers:\n%s", out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "workload.yaml"))
	writeFile(t, filepath.Join(dir, "workload.yaml"), strings.Replace(string(b), "\n  externalTrafficPolicy: Local", "\n  externalTrafficPolicy: Cluster", 1))
	l.WaitFor("the Cluster Service via all three workers", 20*time.Second, func() string {
		if nh := nextHops(router, "10.86.55.0"); nh != "10.86.5.1,10.86.5.2,10.86.5.3" {
			return "next hops " + nh
		}
		return ""
	})
	rs, _ := router.KernelRoutes()
	if len(rs) != 1 {
		t.Errorf("the router has %d routes, want only the labelled Service's: %v", len(rs), rs)
	}
}

const seed003 = "../fixtures/seeds/003-hybrid-bgp-l2"

const seed003Extra = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {public: "true", private: ""}}
status: {addresses: [{type: InternalIP, address: 10.121.0.11}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: pub, namespace: ingress-nginx-public, labels: {kubernetes.io/service-name: ingress-nginx-public-controller}}
addressType: IPv4
endpoints: [{addresses: [10.0.1.1], nodeName: n1}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dummy, namespace: dummy, labels: {kubernetes.io/service-name: dummy-service}}
addressType: IPv4
endpoints: [{addresses: [10.0.2.1], nodeName: n1}]
`

// TestSeed003TwoInstancesTwoPeers: the UDM's own FRR configuration from the seed; one node
// with two BGP instances (AS 65001 and 65002) towards two router addresses; each Service goes
// only to its instance's peer; the private pools are never advertised; every route the UDM
// sends (default-originate, redistributed connected) is rejected by Herald.
func TestSeed003TwoInstancesTwoPeers(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("udm")
	l.Bridge("udm", "v121", "10.121.0.1/24")
	l.Bridge("udm", "v122", "10.122.0.1/24")
	l.AddNS("n1")
	l.Attach("n1", "eth121", "udm", "v121", "10.121.0.11/24")
	l.Attach("n1", "eth122", "udm", "v122", "10.122.0.11/24")
	conf, err := os.ReadFile(filepath.Join(seed003, "udm-frr.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// As the seed has it, minus logging to a file named "stdout".
	router := l.StartFRR("udm", strings.Replace(string(conf), "log file stdout\n", "log stdout\n", 1), "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "extra.yaml"), seed003Extra)
	h := l.StartHerald("n1", "n1", "--node", "n1", "-f", seed003, "-f", dir)
	l.WaitFor("each instance's Service at its peer group", 60*time.Second, func() string {
		s, err := router.ReceivedFrom("10.121.0.11", "10.122.0.11")
		if err != nil {
			return err.Error()
		}
		if s != "10.121.0.11=203.0.113.93/32 10.122.0.11=203.0.113.94/32" {
			sum, _ := router.Vtysh("show bgp summary")
			peers, _ := h.CLI("bgp", "peers")
			return s + "\n" + sum + "\n" + peers + "\n" + h.Problems()
		}
		return ""
	})
	waitEstablished(l, h)
	// Nothing the UDM sent was installed on the node.
	if out := l.Exec("n1", "ip", "route", "show", "proto", "bgp"); strings.TrimSpace(out) != "" {
		t.Errorf("routes installed on the node: %s", out)
	}
}

// waitEstablished waits until Herald's own status shows every session established: it
// refreshes session state every poll, so it may trail what the router already sees.
func waitEstablished(l *netlab.Lab, h *netlab.Herald) {
	l.WaitFor("every session established in Herald's status", 10*time.Second, func() string {
		snap, err := h.Snapshot()
		if err != nil {
			return err.Error()
		}
		bad := []string{}
		n := 0
		for _, in := range snap.BGP {
			for _, p := range in.Peers {
				n++
				if p.State != "established" {
					bad = append(bad, fmt.Sprintf("%s %s: %s", in.Name, p.Address, p.State))
				}
			}
		}
		if n == 0 {
			return "no sessions"
		}
		return strings.Join(bad, ", ")
	})
}
