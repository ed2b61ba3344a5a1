package bgp

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/lab"
	"github.com/heraldlb/herald/test/netlab"
)

// TestMassRemovalKeepsWhatStays removes 1,500 Services in one edit, enough for Herald to
// withdraw their routes ahead of the allocator. Two addresses that a gone Service held stay
// in use by Services that remain: one shared through a sharing key, one asked for by a
// Service that waited for it. The router must end with exactly those two routes, never lose
// them on the way (no kernel route deletion at the router), and Herald's early withdrawal
// must have taken every other route and neither of those.
func TestMassRemovalKeepsWhatStays(t *testing.T) {
	const gone, wanted, shared = 1500, "100.64.200.1", "keep/shared"
	l := netlab.New(t)
	l.AddNS("r")
	l.Bridge("r", "br0", "192.0.2.1/24")
	l.AddNS("n1")
	l.Attach("n1", "eth0", "r", "br0", "192.0.2.11/24")
	router := l.StartFRR("r", routerWith(65001, ""), "")

	svc := func(ns, name, annotations string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s, annotations: {%s}}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n", name, ns, annotations)
	}
	var removed []string
	for i := range gone {
		ann := ""
		if i == 5 {
			ann = `herald.io/ips: "` + wanted + `"`
		}
		removed = append(removed, svc("bench", fmt.Sprint("s", i), ann))
	}
	// shared-a goes, shared-b stays on the same address; mover waits for s5's address.
	removed = append(removed, svc("keep", "shared-a", "herald.io/sharing-key: k"))
	// (on another port: sharing needs distinct ports)
	kept := docs(strings.Replace(svc("keep", "shared-b", "herald.io/sharing-key: k"), "port: 80", "port: 443", 1), svc("keep", "mover", `herald.io/ips: "`+wanted+`"`))

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bgp.yaml"), docs(poolYAML("big", "100.64.0.0/16"), nodeYAML("n1", "192.0.2.11"),
		clusterYAML(peerYAML("r", "192.0.2.1", 65001, "pc")), peerConfigYAML("pc", fastTimers, nil), advertiseAll(false)))
	writeFile(t, filepath.Join(dir, "gone.yaml"), strings.Join(removed, "---\n"))
	writeFile(t, filepath.Join(dir, "kept.yaml"), kept)
	h := l.StartHerald("n1", "n1", "--node", "n1", "-f", dir)
	// The router is read over kept vty connections, as the benchmarks read it; they must
	// agree with vtysh, which plain (the same router without them) runs.
	plain := &lab.FRR{NS: router.NS, Dir: router.Dir}
	prefixes := func() (string, int) {
		s, err := router.Summary()
		if err != nil {
			return err.Error(), 0
		}
		p := s.Peers["192.0.2.11"]
		return p.State, p.PfxRcd
	}

	// Every Service but mover holds an address (shared-a and shared-b one between them).
	l.WaitFor("the routes of every Service", 60*time.Second, func() string {
		if st, n := prefixes(); st != "Established" || n != gone+1 {
			return fmt.Sprintf("%s with %d prefixes", st, n)
		}
		return ""
	})
	if s, err := plain.Summary(); err != nil || s.Peers["192.0.2.11"].State != "Established" || s.Peers["192.0.2.11"].PfxRcd != gone+1 {
		t.Fatalf("vtysh reads %+v (%v) where the kept connection read %d prefixes", s.Peers, err, gone+1)
	}
	l.WaitFor("the routes in the router's kernel", 30*time.Second, func() string {
		if fib, err := router.FIBRoutes(); err != nil || fib != gone+1 {
			return fmt.Sprintf("%d (%v)", fib, err)
		}
		return ""
	})
	if fib, err := plain.FIBRoutes(); err != nil || fib != gone+1 {
		t.Errorf("vtysh reads %d BGP routes in the router's FIB (%v) where the kept connection read %d", fib, err, gone+1)
	}
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sharedAddr := ""
	for s := range snap.Services.All() {
		if s.Namespace+"/"+s.Name == shared+"-b" && len(s.IPs) == 1 {
			sharedAddr = s.IPs[0]
		}
	}
	if sharedAddr == "" {
		t.Fatalf("keep/shared-b has no address:\n%s", h.Problems())
	}

	mon := l.Start("r", "ip-monitor", "ip", "-4", "monitor", "route")
	time.Sleep(200 * time.Millisecond) // the monitor is listening before the edit
	if err := os.Remove(filepath.Join(dir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	l.WaitFor("only the two kept routes", 60*time.Second, func() string {
		if st, n := prefixes(); st != "Established" || n != 2 {
			return fmt.Sprintf("%s with %d prefixes", st, n)
		}
		return ""
	})
	// zebra deletes the kernel's routes after bgpd's table has changed: the monitor must see
	// all of that before it stops.
	l.WaitFor("the router's kernel to hold only the two kept routes", 30*time.Second, func() string {
		if fib, err := router.FIBRoutes(); err != nil || fib != 2 {
			return fmt.Sprintf("%d (%v)", fib, err)
		}
		return ""
	})
	for _, p := range []string{sharedAddr + "/32", wanted + "/32"} {
		if d, err := router.Route(p); err != nil || len(d.Paths) != 1 {
			t.Errorf("router's route to %s: %+v, %v", p, d, err)
		}
	}
	l.WaitFor("mover to hold "+wanted, 10*time.Second, func() string {
		s, err := h.Snapshot()
		if err != nil {
			return err.Error()
		}
		for sv := range s.Services.All() {
			if sv.Namespace == "keep" && sv.Name == "mover" && len(sv.IPs) == 1 && sv.IPs[0] == wanted {
				return ""
			}
		}
		return "not yet"
	})
	_ = mon.Process.Kill()
	_ = mon.Wait()
	monitor := l.Log("ip-monitor")
	for _, a := range []string{sharedAddr, wanted} {
		if regexp.MustCompile(`(?m)^Deleted ` + regexp.QuoteMeta(a) + ` `).MatchString(monitor) {
			t.Errorf("the router's kernel lost the route to %s, which a present Service kept:\n%s", a, grepLines(monitor, a))
		}
	}
	if !strings.Contains(monitor, "Deleted 100.64.") {
		t.Fatalf("the monitor saw no route deleted at all: it watched nothing\n%s", monitor)
	}
	early := regexp.MustCompile(`msg="bgp: withdrawing ahead of the plan" peer_routes=(\d+)`).FindAllStringSubmatch(l.Log(h.Log), -1)
	if len(early) != 1 || early[0][1] != fmt.Sprint(gone-1) {
		t.Errorf("early withdrawals %v, want one of %d routes (every gone Service's but s5's and shared-a's)", early, gone-1)
	}
}

func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
