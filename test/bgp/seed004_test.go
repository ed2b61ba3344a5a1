package bgp

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/test/netlab"
)

const seed004 = "../fixtures/seeds/004-enterprise"

const spineConf = `frr defaults traditional
log stdout
router bgp 65000
 bgp router-id 10.255.0.1
 no bgp ebgp-requires-policy
 neighbor 10.0.1.31 remote-as 65010
 neighbor 10.0.1.33 remote-as 65010
 address-family ipv4 unicast
  neighbor 10.0.1.31 soft-reconfiguration inbound
  neighbor 10.0.1.33 soft-reconfiguration inbound
 exit-address-family
`

const rrConf = `frr defaults traditional
log stdout
router bgp 65010
 bgp router-id 10.255.1.1
 neighbor 10.0.1.31 remote-as 65010
 neighbor 10.0.1.31 timers 3 9
 address-family ipv4 unicast
  neighbor 10.0.1.31 route-reflector-client
 exit-address-family
`

// TestSeed004CommunitiesLocalPrefOverride: seed 004's leaf-spine fabric. node-worker-01 peers
// with spine-1 (eBGP) and the route reflector (iBGP); node-worker-03 has a node override.
func TestSeed004CommunitiesLocalPrefOverride(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("lan")
	l.Bridge("lan", "br0")
	for ns, addr := range map[string]string{"spine": "10.255.0.1/8", "rr": "10.255.1.1/8", "w1": "10.0.1.31/8", "w3": "10.0.1.33/8"} {
		l.AddNS(ns)
		l.Attach(ns, "eth0", "lan", "br0", addr)
	}
	spine := l.StartFRR("spine", spineConf, "")
	rr := l.StartFRR("rr", rrConf, "")
	manifests := []string{"-f", filepath.Join(seed004, "v2-datacenter.yaml"), "-f", filepath.Join(seed004, "v2-workload.yaml")}
	w1 := l.StartHerald("w1", "w1", append([]string{"--node", "node-worker-01"}, manifests...)...)
	l.StartHerald("w3", "w3", append([]string{"--node", "node-worker-03"}, manifests...)...)

	l.WaitFor("sessions up with routes", 60*time.Second, func() string {
		var bad []string
		for name, f := range map[string]*netlab.FRR{"spine": spine, "rr": rr} {
			s, err := f.Summary()
			if err != nil {
				return err.Error()
			}
			for _, a := range []string{"10.0.1.31", "10.0.1.33"} {
				if name == "rr" && a == "10.0.1.33" {
					continue
				}
				if p := s.Peers[a]; p.State != "Established" || p.PfxRcd < 3 {
					bad = append(bad, fmt.Sprintf("%s sees %s %s/%d", name, a, p.State, p.PfxRcd))
				}
			}
		}
		return strings.Join(bad, "; ")
	})

	// Which address did premium-api get? Ask Herald, as a user would.
	out, err := w1.CLI("ipam", "services", "-o", "json")
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	var svcs []struct {
		Namespace, Name string
		IPs             []string
		Satisfied       bool
		Reason          string
	}
	if err := json.Unmarshal([]byte(out), &svcs); err != nil {
		t.Fatal(err)
	}
	premium := ""
	for _, s := range svcs {
		if s.Name == "premium-api" {
			premium = s.IPs[0] + "/32"
		}
		if s.Name == "web-dns-conflict" && (s.Satisfied || s.Reason != "incompatible_sharing") {
			t.Errorf("web-dns-conflict: %+v", s)
		}
	}

	detail := func(f *netlab.FRR, pfx, from string) (lp *uint32, comm, large string) {
		t.Helper()
		d, err := f.Route(pfx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Paths {
			if p.Peer.PeerID != from {
				continue
			}
			if p.Community != nil {
				comm = p.Community.String
			}
			if p.LargeComm != nil {
				large = p.LargeComm.String
			}
			return p.LocalPref, comm, large
		}
		t.Fatalf("no path for %s from %s: %+v", pfx, from, d)
		return nil, "", ""
	}
	routesOut, _ := w1.CLI("bgp", "routes", "advertised", "ipv4")
	t.Logf("herald bgp routes advertised:\n%s", routesOut)
	// iBGP to the route reflector: communities and LOCAL_PREF.
	lp, comm, large := detail(rr, "10.244.1.0/24", "10.0.1.31")
	if lp == nil || *lp != 150 || comm != "65001:100 no-export" || large != "65001:200:300" {
		t.Errorf("PodCIDR at the route reflector: locPrf %v, community %q, large %q", deref(lp), comm, large)
	}
	lp, comm, _ = detail(rr, premium, "10.0.1.31")
	if lp == nil || *lp != 200 || comm != "65001:200" {
		t.Errorf("premium-api %s at the route reflector: locPrf %v, community %q", premium, deref(lp), comm)
	}
	// eBGP to the spine: the same communities, never LOCAL_PREF 200 or 150.
	lp, comm, _ = detail(spine, premium, "10.0.1.31")
	if comm != "65001:200" || (lp != nil && *lp != 100) {
		t.Errorf("premium-api at the spine: locPrf %v, community %q", deref(lp), comm)
	}
	lp, comm, _ = detail(spine, "10.244.1.0/24", "10.0.1.31")
	if comm != "65001:100 no-export" || (lp != nil && *lp != 100) {
		t.Errorf("PodCIDR at the spine: locPrf %v, community %q", deref(lp), comm)
	}
	// The shared address of web-http and web-https is advertised once, without attributes.
	if _, comm, _ := detail(spine, "10.100.0.50/32", "10.0.1.31"); comm != "" {
		t.Errorf("10.100.0.50 has communities %q", comm)
	}

	// node-worker-03's override: router ID and source address 10.0.1.33 towards spine-1.
	var nb map[string]struct {
		RemoteRouterID string `json:"remoteRouterId"`
		HostForeign    string `json:"hostForeign"`
		BGPState       string `json:"bgpState"`
	}
	if err := spine.ShowJSON("bgpd", "show bgp neighbors 10.0.1.33 json", &nb); err != nil {
		t.Fatal(err)
	}
	if n := nb["10.0.1.33"]; n.RemoteRouterID != "10.0.1.33" || n.HostForeign != "10.0.1.33" || n.BGPState != "Established" {
		t.Errorf("node-worker-03 as the spine sees it: %+v", n)
	}
	// node-worker-03 listens on 1179 (localPort override); nobody else does.
	if out := l.Exec("w3", "ss", "-ltnH", "sport", "= :1179"); !strings.Contains(out, "1179") {
		t.Errorf("node-worker-03 does not listen on 1179: %q", out)
	}
	if out := l.Exec("w1", "ss", "-ltnH"); strings.Contains(out, ":179 ") || strings.Contains(out, ":1179 ") {
		t.Errorf("node-worker-01 listens without localPort: %q", out)
	}
}

func deref(p *uint32) any {
	if p == nil {
		return "none"
	}
	return *p
}
