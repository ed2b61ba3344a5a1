package l2

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOneNodeAnswersEachVIP: every node computes the same owner for each VIP; only that node
// answers ARP (one MAC) and NDP; the client's neighbour entry points at it and TCP reaches it.
func TestOneNodeAnswersEachVIP(t *testing.T) {
	l := newLAN(t)
	owners := map[string]bool{}
	for _, vip := range l.vips {
		owner := l.agreedOwner(vip)
		owners[owner] = true
		mac := l.MAC(owner, "eth0")
		if !strings.Contains(vip, ":") {
			if got := l.Arping("client", "eth0", vip, 4); !slices.Equal(got, []string{mac}) {
				t.Fatalf("arping %s: MACs %v, want only %s's %s\n%s", vip, got, owner, mac, l.Log("herald-"+owner))
			}
		}
		l.WaitFor("TCP to "+vip+" reaching "+owner, 10*time.Second, func() string {
			got, err := l.dial(vip, time.Second)
			if err != nil || got != owner {
				return "answered by " + got + " " + errString(err)
			}
			return ""
		})
		if got := l.Neighbour("client", vip); got != mac {
			t.Fatalf("client's neighbour entry for %s is %q, want %s (%s)", vip, got, mac, owner)
		}
		// Asked directly (unicast ARP, or the unicast NS of a reachability probe), the owner
		// answers and the other nodes stay silent.
		for _, n := range l.nodes {
			got := l.AskHost("client", "eth0", vip, l.MAC(n, "eth0"), 200*time.Millisecond)
			if want := []string{l.MAC(n, "eth0")}; n == owner && !slices.Equal(got, want) || n != owner && len(got) != 0 {
				t.Fatalf("%s asked %s directly for %s: answers %v (owner %s)", "client", n, vip, got, owner)
			}
		}
	}
	t.Logf("owners: %v", owners)
	out, err := l.herald["node1"].CLI("l2", "announcements")
	if err != nil || !strings.Contains(out, "10.99.0.200") || !strings.Contains(out, "default/web") {
		t.Fatalf("herald l2 announcements: %v\n%s", err, out)
	}
	t.Logf("herald l2 announcements:\n%s", out)
	out, err = l.herald["node1"].CLI("l2", "nodes")
	if err != nil || strings.Count(out, " up ") != 2 || !strings.Contains(out, "node1  self") {
		t.Fatalf("herald l2 nodes: %v\n%s", err, out)
	}
	// The responder counted what it did.
	for _, n := range l.nodes {
		s, err := l.herald[n].Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		c := s.L2.Counters
		owns := false
		for _, a := range s.L2.Announcements {
			owns = owns || a.Owner == n
		}
		if owns && c.GratuitousARPs+c.UnsolicitedNAs == 0 {
			t.Errorf("%s owns addresses but sent no gratuitous ARP / unsolicited NA: %+v", n, c)
		}
	}
}

// TestAgentKilled: SIGKILL the owner's agent; the client reaches every VIP through the new
// owner, and only it answers ARP. When the agent is back, still one node answers.
func TestAgentKilled(t *testing.T) {
	l := newLAN(t)
	vip := "10.99.0.200"
	owner := l.agreedOwner(vip)
	for _, v := range l.vips {
		o := l.agreedOwner(v)
		l.WaitFor("TCP to "+v+" through "+o, 10*time.Second, func() string {
			if got, err := l.dial(v, time.Second); err != nil || got != o {
				return "answered by " + got + " " + errString(err)
			}
			return ""
		})
	}
	l.Kill(l.herald[owner].Cmd, syscall.SIGKILL)
	killed := time.Now()
	var took time.Duration
	l.WaitFor("TCP to "+vip+" reaching another node", 10*time.Second, func() string {
		got, err := l.dial(vip, 200*time.Millisecond)
		if err != nil || got == owner || got == "" {
			return "answered by " + got + " " + errString(err)
		}
		took = time.Since(killed)
		return ""
	})
	t.Logf("failover of %s from %s: first TCP connect through the new owner %s after the kill", vip, owner, took.Round(time.Millisecond))
	next := l.agreedOwner(vip, owner)
	if got := l.Arping("client", "eth0", vip, 4); !slices.Equal(got, []string{l.MAC(next, "eth0")}) {
		t.Fatalf("after failover arping %s: %v, want only %s's", vip, got, next)
	}
	for _, v := range l.vips {
		n := l.agreedOwner(v, owner)
		l.WaitFor("TCP to "+v, 10*time.Second, func() string {
			got, err := l.dial(v, time.Second)
			if err != nil || got != n {
				return "answered by " + got + " " + errString(err)
			}
			return ""
		})
	}

	l.herald[owner].Restart()
	back := l.agreedOwner(vip)
	if back != owner {
		t.Fatalf("the restarted %s does not win back %s (owner %s): rendezvous ranking is not stable", owner, vip, back)
	}
	l.WaitFor("one MAC for "+vip+" after the restart", 10*time.Second, func() string {
		if got := l.Arping("client", "eth0", vip, 3); !slices.Equal(got, []string{l.MAC(owner, "eth0")}) {
			return strings.Join(got, ",")
		}
		return ""
	})
}

// TestLinkCut: take the owner's link down; the others see its heartbeats stop and take over.
func TestLinkCut(t *testing.T) {
	l := newLAN(t)
	vip := "fd99::200"
	owner := l.agreedOwner(vip)
	l.WaitFor("TCP to "+vip+" through "+owner, 10*time.Second, func() string {
		if got, err := l.dial(vip, time.Second); err != nil || got != owner {
			return "answered by " + got + " " + errString(err)
		}
		return ""
	})
	l.Exec(owner, "ip", "link", "set", "eth0", "down")
	next := l.agreedOwner(vip, owner)
	l.WaitFor("TCP to "+vip+" through "+next, 10*time.Second, func() string {
		got, err := l.dial(vip, 300*time.Millisecond)
		if err != nil || got != next {
			return "answered by " + got + " " + errString(err)
		}
		return ""
	})
	if got := l.Neighbour("client", vip); got != l.MAC(next, "eth0") {
		t.Fatalf("client neighbour entry for %s: %s, want %s's", vip, got, next)
	}
	l.Exec(owner, "ip", "link", "set", "eth0", "up")
	l.WaitFor(owner+" to win "+vip+" back once its link is up", 10*time.Second, func() string {
		if back := l.agreedOwner(vip); back != owner {
			return "owner " + back
		}
		return ""
	})
	l.WaitFor("TCP to "+vip+" through "+owner+" again", 10*time.Second, func() string {
		if got, err := l.dial(vip, 300*time.Millisecond); err != nil || got != owner {
			return "answered by " + got + " " + errString(err)
		}
		return ""
	})
}

// TestHeartbeatPathCut: cut only the heartbeats between the owner and the other nodes (the
// client still reaches everyone). The owner must fence itself, the others take its VIPs,
// and at no moment do two nodes answer ARP for one VIP.
func TestHeartbeatPathCut(t *testing.T) {
	l := newLAN(t)
	vip := "10.99.0.200"
	owner := l.agreedOwner(vip)
	addr := map[string]string{"node1": "10.99.0.11", "node2": "10.99.0.12", "node3": "10.99.0.13"}
	for _, n := range l.nodes {
		if n == owner {
			continue
		}
		l.Exec(owner, "ip", "route", "add", "blackhole", addr[n]+"/32")
		l.Exec(n, "ip", "route", "add", "blackhole", addr[owner]+"/32")
	}
	// One request at a time, every reply to it collected: two MACs answering one request is
	// split brain (arping's replies to successive requests would also show a clean handover).
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		for _, v := range l.vips {
			if got := l.WhoHas("client", "eth0", v, 100*time.Millisecond); len(got) > 1 {
				var views []string
				for _, n := range l.nodes {
					out, _ := l.herald[n].CLI("l2", "nodes")
					ann, _ := l.herald[n].CLI("l2", "announcements")
					views = append(views, n+" ("+l.MAC(n, "eth0")+"):\n"+out+ann)
				}
				t.Fatalf("split brain: %s answered by %v after the heartbeat path of %s was cut\n%s\n%s", v, got, owner, strings.Join(views, "\n"), l.Log("herald-node1"))
			}
		}
	}
	s, err := l.herald[owner].Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !s.L2.Fenced || s.L2.Why == "" {
		t.Fatalf("%s should be fenced: %+v", owner, s.L2)
	}
	next := l.agreedOwner(vip, owner)
	if got := l.Arping("client", "eth0", vip, 3); !slices.Equal(got, []string{l.MAC(next, "eth0")}) {
		t.Fatalf("arping %s: %v, want only %s", vip, got, next)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
