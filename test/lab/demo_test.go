package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/lab"
	"github.com/heraldlb/herald/internal/netns"
)

// TestLabDemo is `make lab` as a newcomer runs it: `herald lab up` on examples/lab through
// the binary, what `herald lab status` shows, and `herald lab down` leaving nothing behind.
// In between, the lab's resilience (issue 6, point 5), with a client connecting throughout:
// an agent restart keeps every route (graceful restart), a dead node's next hop is gone within
// a second (BFD) while clients keep connecting through the others, a drained node stops
// getting traffic before its session drops (graceful shutdown), and the L2 address moves to
// another node when its owner dies.
func TestLabDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	name := fmt.Sprintf("d%04x", rand.IntN(0xffff))
	herald := func(args ...string) (string, error) {
		cmd := exec.Command(heraldBin, append(args, "--dir", dir)...)
		cmd.Dir = repo // examples/lab and the CRDs, as `make lab` runs it
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			if l, err := lab.Open(dir, nil); err == nil {
				report(t, l)
			}
		}
		out, err := herald("lab", "down")
		if err != nil {
			t.Errorf("herald lab down: %v\n%s", err, out)
		}
		if left := netns.List(name + "-"); len(left) > 0 {
			t.Errorf("herald lab down left namespaces %v", left)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("herald lab down left %s", dir)
		}
	})
	out, err := herald("lab", "up", "--name", name, "--kube-assets", kubeAssets)
	t.Logf("herald lab up:\n%s", out)
	if err != nil {
		t.Fatalf("herald lab up: %v", err)
	}
	// What the seed's author checked, as the lab reports it: three sessions, 11 /32s with three
	// ECMP next hops each ("the smoking gun"), every address answered from the client, and the
	// L2 address answered by one node.
	for _, want := range []string{
		"ok: 3 of 3 neighbours established",
		"ok: 11 routes, each through every node that advertises it: 11 with 3 next hop(s)",
		"ok: 12 of 12 announced addresses answered by a node that announces them",
		"lab: 7 checks, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("herald lab up does not say %q", want)
		}
	}
	if !regexpMatch(`ok: answered by stanton-0[123] only \(\S+ on eth0\)`, out) {
		t.Errorf("herald lab up does not show one node answering ARP for 10.90.10.10")
	}
	if again, err := herald("lab", "up", "--name", name, "--kube-assets", kubeAssets); err != nil || !strings.Contains(again, "is already up") {
		t.Errorf("a second herald lab up: %v\n%s", err, again)
	}

	l, err := lab.Open(dir, logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	router := l.Router("router")
	t.Run("agent restart keeps the routes", func(t *testing.T) {
		p := startProbe(t, l, "10.99.8.201:443")
		routes := sampleNextHops(router, "10.99.8.201")
		if err := l.RestartAgent("stanton-01"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "stanton-01 established again", 60*time.Second, func() string { return sessionUp(l, "stanton-01") })
		time.Sleep(time.Second) // the refreshed routes replace the stale ones
		if bad := routes.stop(3); bad != "" {
			t.Errorf("the router lost next hops while the agent restarted: %s", bad)
		}
		if f := p.stop(); f.failed > 0 {
			t.Errorf("%d of %d client requests failed during the restart: %v", f.failed, f.total, f.errs)
		}
		healthy(t, l, time.Minute)
	})
	t.Run("a dead node leaves within a second", func(t *testing.T) {
		p := startProbe(t, l, "10.99.8.201:443")
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		if err := l.KillNode("stanton-02"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "BFD to take stanton-02's next hop away", 5*time.Second, func() string {
			if nh := router.NextHopsOf("10.99.8.201"); nh != "10.90.3.101,10.90.3.103" {
				return "next hops " + nh
			}
			return ""
		})
		gone := time.Since(start)
		t.Logf("node killed -> its next hop gone from the router's kernel in %s (hold time 90 s)", gone.Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		f := p.stop()
		t.Logf("client: %d requests, %d failed, all before %s", f.total, f.failed, f.lastFail.Sub(start).Round(time.Millisecond))
		if late := f.failedAfter(start.Add(gone + 200*time.Millisecond)); late > 0 {
			t.Errorf("%d client requests failed after the next hop was gone: %v", late, f.errs)
		}
		if slices.Contains(f.nodesAfter(start.Add(gone)), "stanton-02") {
			t.Errorf("the dead node answered after its next hop was gone")
		}
		if err := l.ReviveNode("stanton-02"); err != nil {
			t.Fatal(err)
		}
		healthy(t, l, time.Minute)
		time.Sleep(2 * time.Second) // past BFD's start-up flap with FRR (LAB-NOTES.md)
	})
	t.Run("a drained node's traffic leaves before its session", func(t *testing.T) {
		p := startProbe(t, l, "10.99.8.201:443")
		ctx := context.Background()
		if err := l.Cordon(ctx, "stanton-03", true); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the router to stop using stanton-03 while its session is up", 20*time.Second, func() string {
			s, err := router.Summary()
			if err != nil {
				return err.Error()
			}
			if nh := router.NextHopsOf("10.99.8.201"); nh != "10.90.3.101,10.90.3.102" || s.Peers["10.90.3.103"].State != "Established" {
				return "next hops " + nh + ", stanton-03 " + s.Peers["10.90.3.103"].State
			}
			return ""
		})
		if err := l.StopAgent("stanton-03", syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if f := p.stop(); f.failed > 0 {
			t.Errorf("%d of %d client requests failed during the drain: %v", f.failed, f.total, f.errs)
		}
		if err := l.StartAgent("stanton-03"); err != nil {
			t.Fatal(err)
		}
		if err := l.Cordon(ctx, "stanton-03", false); err != nil {
			t.Fatal(err)
		}
		healthy(t, l, time.Minute)
	})
	t.Run("the L2 address moves when its owner dies", func(t *testing.T) {
		owner := l2Owner(t, l, "10.90.10.10")
		p := startProbe(t, l, "10.90.10.10:8123")
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		if err := l.KillNode(owner); err != nil {
			t.Fatal(err)
		}
		var moved time.Duration
		eventually(t, "another node to answer 10.90.10.10", 10*time.Second, func() string {
			if at, ok := p.firstAnswerBy(func(n string) bool { return n != owner && n != "" }, start); ok {
				moved = at.Sub(start)
				return ""
			}
			return "still no answer from another node"
		})
		time.Sleep(time.Second)
		f := p.stop()
		t.Logf("L2 owner %s killed -> the client's first answer from another node after %s", owner, moved.Round(time.Millisecond))
		if late := f.failedAfter(start.Add(moved + 100*time.Millisecond)); late > 0 {
			t.Errorf("%d requests failed after the new owner answered: %v", late, f.errs)
		}
		if err := l.ReviveNode(owner); err != nil {
			t.Fatal(err)
		}
		healthy(t, l, time.Minute)
		time.Sleep(2 * time.Second) // past BFD's start-up flap with FRR
	})

	// The lab's own commands, as the hints after `up` suggest them.
	if out, err := herald("lab", "status"); err != nil || !strings.Contains(out, "0 failed") {
		t.Errorf("herald lab status: %v\n%s", err, out)
	}
	if out, err := herald("lab", "kill", "stanton-01"); err != nil {
		t.Errorf("herald lab kill: %v\n%s", err, out)
	}
	if out, err := herald("lab", "status"); err == nil || !strings.Contains(out, "stanton-01 was stopped on purpose") {
		t.Errorf("herald lab status with a killed node should say so and exit 1: %v\n%s", err, out)
	}
	if out, err := herald("lab", "kill", "nosuchnode"); err == nil || !strings.Contains(out, `no node "nosuchnode"`) {
		t.Errorf("herald lab kill nosuchnode: %v\n%s", err, out)
	}
	// Up again means the whole lab: the killed node comes back.
	if out, err := herald("lab", "up", "--name", name, "--kube-assets", kubeAssets); err != nil || !strings.Contains(out, "reviving stanton-01") || !strings.Contains(out, "7 checks, 0 failed") {
		t.Errorf("herald lab up after a kill: %v\n%s", err, out)
	}
}

// probe is a client connecting to a Service address every 20 ms throughout a subtest.
type probe struct {
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	attempts []lab.Attempt
}

func startProbe(t *testing.T, l *lab.Lab, target string) *probe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &probe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		l.Probe(ctx, "client", target, 20*time.Millisecond, 500*time.Millisecond, func(a lab.Attempt) {
			p.mu.Lock()
			p.attempts = append(p.attempts, a)
			p.mu.Unlock()
		})
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

type probeResult struct {
	total, failed int
	lastFail      time.Time
	errs          []string
	attempts      []lab.Attempt
}

func (p *probe) stop() probeResult {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	r := probeResult{total: len(p.attempts), attempts: p.attempts}
	for _, a := range p.attempts {
		if a.Err != nil {
			r.failed++
			r.lastFail = a.At
			if len(r.errs) < 5 {
				r.errs = append(r.errs, a.Err.Error())
			}
		}
	}
	return r
}

func (p *probe) firstAnswerBy(match func(string) bool, after time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.attempts {
		if a.At.After(after) && a.Err == nil && match(a.Node) {
			return a.At, true
		}
	}
	return time.Time{}, false
}

func (r probeResult) failedAfter(t time.Time) int {
	n := 0
	for _, a := range r.attempts {
		if a.Err != nil && a.At.After(t) {
			n++
		}
	}
	return n
}

func (r probeResult) nodesAfter(t time.Time) []string {
	var out []string
	for _, a := range r.attempts {
		if a.Err == nil && a.At.After(t) && !slices.Contains(out, a.Node) {
			out = append(out, a.Node)
		}
	}
	return out
}

// nextHopSampler reads a route's next hops in the router's kernel every 20 ms.
type nextHopSampler struct {
	stopc chan struct{}
	done  chan struct{}
	seen  []int
}

func sampleNextHops(f *lab.FRR, dst string) *nextHopSampler {
	s := &nextHopSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stopc:
				return
			case <-time.After(20 * time.Millisecond):
			}
			rs, err := f.KernelRoutes()
			if err == nil {
				s.seen = append(s.seen, len(rs[dst].NextHops()))
			}
		}
	}()
	return s
}

// stop ends sampling and says what was wrong if any sample had other than want next hops.
func (s *nextHopSampler) stop(want int) string {
	close(s.stopc)
	<-s.done
	bad := 0
	for _, n := range s.seen {
		if n != want {
			bad++
		}
	}
	if bad > 0 || len(s.seen) == 0 {
		return fmt.Sprintf("%d of %d samples without %d next hops", bad, len(s.seen), want)
	}
	return ""
}
