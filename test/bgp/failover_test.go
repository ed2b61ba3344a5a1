package bgp

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/test/netlab"
)

// failoverManifests: two nodes, one Service, BFD 100 ms x 3 (and graceful restart when gr).
func failoverManifests(gr bool) string {
	extra := []string{"bfd: {receiveInterval: 100, transmitInterval: 100, detectMultiplier: 3}"}
	if gr {
		extra = append(extra, "gracefulRestart: {enabled: true, restartTimeSeconds: 60}")
	}
	return docs(poolYAML("pool", "198.51.100.0/24"), nodeYAML("n1", "192.0.2.11"), nodeYAML("n2", "192.0.2.12"),
		serviceYAML("demo", "web", ""), clusterYAML(peerYAML("router", "192.0.2.1", 65001, "fast")),
		peerConfigYAML("fast", fastTimers, extra), advertiseAll(false))
}

// failoverLab is a router with BFD and the GRACEFUL_SHUTDOWN policy, as `herald router-config`
// prints them for the manifests, and nodes n1..nN.
func failoverLab(t *testing.T, nodes int, manifests string) (*netlab.Lab, *netlab.FRR) {
	l := netlab.New(t)
	l.AddNS("r")
	l.Bridge("r", "br0", "192.0.2.1/24")
	for i := 1; i <= nodes; i++ {
		l.AddNS(fmt.Sprintf("n%d", i))
		l.Attach(fmt.Sprintf("n%d", i), "eth0", "r", "br0", fmt.Sprintf("192.0.2.1%d/24", i))
	}
	path := filepath.Join(t.TempDir(), "m.yaml")
	writeFile(t, path, manifests)
	bgpd, bfdd := routerConfig(t, "-f", path)
	return l, l.StartFRR("r", bgpd, bfdd)
}

func bfdUp(f *netlab.FRR, peer string) string {
	var peers []struct {
		Peer   string `json:"peer"`
		Status string `json:"status"`
	}
	if err := f.ShowJSON("bfdd", "show bfd peers json", &peers); err != nil {
		return err.Error()
	}
	for _, p := range peers {
		if p.Peer == peer && p.Status == "up" {
			return ""
		}
	}
	return fmt.Sprintf("bfd with %s not up: %+v", peer, peers)
}

// TestBFDFailoverAndGracefulShutdown: cutting a node's link removes its next hop through BFD
// long before the 9 s hold time; SIGTERM drains the other node with GRACEFUL_SHUTDOWN, so the
// router stops using it while its session is still up.
func TestBFDFailoverAndGracefulShutdown(t *testing.T) {
	l, router := failoverLab(t, 2, failoverManifests(false))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), failoverManifests(false))
	h1 := l.StartHerald("n1", "n1", "--node", "n1", "-f", dir, "--drain-when-cordoned")
	h2 := l.StartHerald("n2", "n2", "--node", "n2", "-f", dir, "--graceful-shutdown-wait", "3s")
	both := func() string {
		if nh := nextHops(router, "198.51.100.0"); nh != "192.0.2.11,192.0.2.12" {
			return "next hops " + nh
		}
		if err := bfdUp(router, "192.0.2.11"); err != "" {
			return err
		}
		return bfdUp(router, "192.0.2.12")
	}
	l.WaitFor("ECMP over both nodes with BFD up", 60*time.Second, both)
	time.Sleep(2 * time.Second) // past the start-up flap LAB-NOTES.md describes
	l.WaitFor("ECMP and BFD stable", 30*time.Second, both)
	l.WaitFor("BFD up in n1's own status", 10*time.Second, func() string {
		snap, err := h1.Snapshot()
		if err != nil {
			return err.Error()
		}
		if len(snap.BGP) != 1 || len(snap.BGP[0].Peers) != 1 || snap.BGP[0].Peers[0].BFD != "up" {
			return fmt.Sprintf("%+v", snap.BGP)
		}
		return ""
	})

	// Cordon n1 (--drain-when-cordoned): its routes carry GRACEFUL_SHUTDOWN, the router stops
	// using it while the session stays up, and its metrics say so; uncordoned, it is back.
	cordoned := strings.Replace(failoverManifests(false), "metadata: {name: n1}\n", "metadata: {name: n1}\nspec: {unschedulable: true}\n", 1)
	writeFile(t, filepath.Join(dir, "m.yaml"), cordoned)
	l.WaitFor("the router to use only n2 while n1 is cordoned", 20*time.Second, func() string {
		s, err := router.Summary()
		if err != nil {
			return err.Error()
		}
		if nh := nextHops(router, "198.51.100.0"); nh != "192.0.2.12" || s.Peers["192.0.2.11"].State != "Established" {
			return "next hops " + nh + ", n1 " + s.Peers["192.0.2.11"].State
		}
		return ""
	})
	if m, err := h1.CLI("status", "-o", "json"); err != nil || !strings.Contains(m, `"draining": true`) {
		t.Errorf("n1's status does not show the drain: %v\n%s", err, m)
	}
	writeFile(t, filepath.Join(dir, "m.yaml"), failoverManifests(false))
	l.WaitFor("n1 uncordoned", 30*time.Second, both)

	// Cut n1's link. Without BFD the router would wait for the 9 s hold time.
	start := time.Now()
	l.Exec("n1", "ip", "link", "set", "eth0", "down")
	l.WaitFor("BFD to remove n1's next hop", 5*time.Second, func() string {
		if nh := nextHops(router, "198.51.100.0"); nh != "192.0.2.12" {
			return "next hops " + nh
		}
		return ""
	})
	t.Logf("link cut -> next hop gone from the router's kernel table in %s (hold time 9 s)", time.Since(start).Round(time.Millisecond))
	l.Exec("n1", "ip", "link", "set", "eth0", "up")
	l.WaitFor("n1 back", 60*time.Second, both)

	// SIGTERM n2 (no graceful restart configured): it re-advertises with GRACEFUL_SHUTDOWN,
	// the router moves the route to n1 while n2's session is still established, and only
	// then does the session close.
	l.Signal(h2.Cmd, syscall.SIGTERM)
	sawDrainedWhileUp := false
	l.WaitFor("n2's session to close", 20*time.Second, func() string {
		s, err := router.Summary()
		if err != nil {
			return err.Error()
		}
		up := s.Peers["192.0.2.12"].State == "Established"
		if up && nextHops(router, "198.51.100.0") == "192.0.2.11" {
			sawDrainedWhileUp = true
		}
		if up {
			return "still established"
		}
		return ""
	})
	if !sawDrainedWhileUp {
		t.Error("the router never stopped using n2 while its session was up: traffic moved only when the session dropped")
	}
	if nh := nextHops(router, "198.51.100.0"); nh != "192.0.2.11" {
		t.Errorf("after n2 left: next hops %s", nh)
	}
}

// TestGracefulRestartWithBFD: graceful restart alone keeps a failed node's routes for the
// whole restart time. With BFD on as well (RFC 5882), a planned restart (SIGTERM) still keeps
// the route, while a node that dies or loses its link (no TCP close reaches the router; BFD
// notices first) is removed within a BFD detection time, not after the restart time.
func TestGracefulRestartWithBFD(t *testing.T) {
	l, router := failoverLab(t, 1, failoverManifests(true))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), failoverManifests(true))
	h := l.StartHerald("n1", "n1", "--node", "n1", "-f", dir)
	ready := func() string {
		d, err := router.Route("198.51.100.0/32")
		if err != nil || len(d.Paths) == 0 || d.Paths[0].Stale {
			return fmt.Sprintf("%+v %v", d, err)
		}
		return bfdUp(router, "192.0.2.11")
	}
	l.WaitFor("the route with BFD up", 60*time.Second, ready)
	time.Sleep(2 * time.Second) // past the start-up flap LAB-NOTES.md describes
	l.WaitFor("stable", 30*time.Second, ready)

	// Planned restart: the route survives the whole time Herald is down.
	l.Kill(h.Cmd, syscall.SIGTERM)
	time.Sleep(3 * time.Second) // many BFD detection times
	if nh := nextHops(router, "198.51.100.0"); nh != "192.0.2.11" {
		t.Fatalf("a planned restart lost the route (next hops %q): graceful restart did not hold with BFD on", nh)
	}
	h.Restart()
	l.WaitFor("the route refreshed and BFD up again", 60*time.Second, ready)
	time.Sleep(2 * time.Second)
	l.WaitFor("stable", 30*time.Second, ready)

	// The node fails (its link goes): BFD ends graceful restart; the route goes in about a
	// detection time, not the 60 s restart time.
	start := time.Now()
	l.Exec("n1", "ip", "link", "set", "eth0", "down")
	l.WaitFor("the failed node's route to be removed", 5*time.Second, func() string {
		if nh := nextHops(router, "198.51.100.0"); nh != "" {
			return "next hops " + nh
		}
		return ""
	})
	t.Logf("node link lost -> route removed in %s with graceful restart (60 s) and BFD (100 ms x 3)", time.Since(start).Round(time.Millisecond))
}
