package bgp

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/test/netlab"
)

const seed000 = "../fixtures/seeds/000-home-ops"

// homeLab is seed 000's network: the UDM at 10.90.254.1 and three nodes on one bridge.
func homeLab(t *testing.T) (*netlab.Lab, *netlab.FRR) {
	l := netlab.New(t)
	l.AddNS("udm")
	l.Bridge("udm", "br0", "10.90.254.1/16")
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("node%d", i)
		l.AddNS(n)
		l.Attach(n, "eth0", "udm", "br0", fmt.Sprintf("10.90.3.%d/16", 100+i))
	}
	// The router runs what `herald router-config --for frr` prints for seed 000: the answer
	// to the seed's hand-written k8s-bgp.conf, with ECMP and the pool filter.
	bgpd, _ := routerConfig(t, seed000Manifests()...)
	return l, l.StartFRR("udm", bgpd, "")
}

func seed000Manifests() []string {
	return []string{"-f", filepath.Join(seed000, "networking.yaml"), "-f", filepath.Join(seed000, "nodes.yaml"), "-f", filepath.Join(seed000, "services.yaml")}
}

func TestSeed000ThreeNodesECMP(t *testing.T) {
	l, udm := homeLab(t)
	var heralds []*netlab.Herald
	for i := 1; i <= 3; i++ {
		args := append([]string{"--node", fmt.Sprintf("stanton-%02d", i)}, seed000Manifests()...)
		heralds = append(heralds, l.StartHerald(fmt.Sprintf("node%d", i), fmt.Sprint(i), args...))
	}
	l.WaitFor("three established sessions with 11 prefixes each", 60*time.Second, func() string {
		s, err := udm.Summary()
		if err != nil {
			return err.Error()
		}
		var bad []string
		for _, a := range []string{"10.90.3.101", "10.90.3.102", "10.90.3.103"} {
			if p := s.Peers[a]; p.State != "Established" || p.PfxRcd != 11 {
				bad = append(bad, fmt.Sprintf("%s %s/%d", a, p.State, p.PfxRcd))
			}
		}
		return strings.Join(bad, ", ")
	})
	l.WaitFor("11 ECMP routes in the router's kernel table", 20*time.Second, func() string {
		rs, err := udm.KernelRoutes()
		if err != nil {
			return err.Error()
		}
		for i := 201; i <= 211; i++ {
			r, ok := rs[fmt.Sprintf("10.99.8.%d", i)]
			nh := r.NextHops()
			slices.Sort(nh)
			if !ok || strings.Join(nh, ",") != "10.90.3.101,10.90.3.102,10.90.3.103" {
				return fmt.Sprintf("10.99.8.%d has next hops %v", i, nh)
			}
		}
		if len(rs) != 11 {
			return fmt.Sprintf("%d bgp routes, want 11", len(rs))
		}
		return ""
	})
	// The attributes FRR sees: ORIGIN IGP, no communities, no LOCAL_PREF over eBGP.
	d, err := udm.Route("10.99.8.201/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Paths {
		if p.Origin != "IGP" || p.Community != nil {
			t.Errorf("path from %s: origin %s community %v", p.Peer.PeerID, p.Origin, p.Community)
		}
	}

	// What the user checks on the node: herald bgp peers and routes.
	waitEstablished(l, heralds[0])
	out, err := heralds[0].CLI("bgp", "peers")
	t.Logf("herald bgp peers:\n%s", out)
	if rs, err := udm.KernelRoutes(); err == nil {
		t.Logf("router kernel: 10.99.8.201 via %v", rs["10.99.8.201"].NextHops())
	}
	if err != nil || !strings.Contains(out, "65010     65001    10.90.254.1:179  established") || !strings.Contains(out, "ipv4/unicast  0         11") {
		t.Errorf("herald bgp peers: %v\n%s", err, out)
	}
	out, err = heralds[0].CLI("status")
	t.Logf("herald status:\n%s", out)
	if err != nil || !strings.Contains(out, "peer 10.90.254.1 AS 65001  ESTABLISHED") || !strings.Contains(out, "ipv4 adv 11 rcv 0") ||
		!strings.Contains(out, "services: 11, 0 without an address") {
		t.Errorf("herald status: %v\n%s", err, out)
	}
	out, err = heralds[0].CLI("bgp", "routes", "advertised", "ipv4", "unicast", "peer", "10.90.254.1")
	if err != nil || strings.Count(out, "10.99.8.") != 11 || !strings.Contains(out, "10.90.3.101") {
		t.Errorf("herald bgp routes advertised: %v\n%s", err, out)
	}

	// doctor on the node: nothing wrong, and the note says what to run on the router.
	doc, err := exec.Command("ip", "netns", "exec", l.NS("node1"), netlab.HeraldBinary(t), "doctor", "--state", heralds[0].State).CombinedOutput()
	if err != nil || !strings.Contains(string(doc), "0 errors") ||
		!strings.Contains(string(doc), "vtysh -c 'show bgp ipv4 unicast neighbors 10.90.3.101 received-routes'") {
		t.Errorf("herald doctor on a healthy node: %v\n%s", err, doc)
	}

	// A node goes away without graceful restart configured at the router... the seed enables
	// graceful restart (120 s), so a SIGKILLed speaker's routes stay as stale paths: exactly
	// the trade-off the docs describe. SIGTERM also keeps them (the sessions end without a
	// Cease). Here: SIGKILL node 3 and check FRR keeps its next hop as stale.
	l.Kill(heralds[2].Cmd, syscall.SIGKILL)
	l.WaitFor("node 3's paths marked stale", 20*time.Second, func() string {
		d, err := udm.Route("10.99.8.205/32")
		if err != nil {
			return err.Error()
		}
		for _, p := range d.Paths {
			if p.Peer.PeerID == "10.90.3.103" && p.Stale {
				return ""
			}
		}
		return fmt.Sprintf("no stale path from 10.90.3.103: %+v", d.Paths)
	})
}
