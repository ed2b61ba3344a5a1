// Package netlab builds test networks out of real parts: Linux network namespaces joined by
// veth pairs on a bridge, FRR (zebra, bgpd, bfdd) as the router, and herald processes inside
// node namespaces. Every name it creates carries a unique prefix, every process it starts is
// recorded and only those are stopped, and t.Cleanup removes all of it. Traffic stays inside
// the namespaces it creates.
package netlab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Lab is one test network.
type Lab struct {
	t      testing.TB
	prefix string
	dir    string
	nss    []string
	procs  []*exec.Cmd
	pids   []pidFile
}

type pidFile struct{ path, comm string }

// Require fails the test (never skips) when the lab cannot work here: CI runs as root with
// FRR installed by hack/test.sh, and a missing piece must be loud.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("network lab tests need root (network namespaces); run hack/test.sh as root")
	}
	for _, bin := range []string{"ip", "/usr/lib/frr/bgpd", "/usr/lib/frr/zebra", "vtysh"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: install frr and iproute2 (hack/test.sh does it)", bin)
		}
	}
}

// New creates an empty lab.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t)
	l := &Lab{t: t, prefix: fmt.Sprintf("hl%04x", rand.IntN(0xffff)), dir: t.TempDir()}
	t.Cleanup(l.cleanup)
	return l
}

// NS returns the full name of a namespace of this lab.
func (l *Lab) NS(name string) string { return l.prefix + "-" + name }

// Run runs a command, failing the test on error, and returns its output.
func (l *Lab) Run(args ...string) string {
	l.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec runs a command inside a namespace of the lab.
func (l *Lab) Exec(ns string, args ...string) string {
	l.t.Helper()
	return l.Run(append([]string{"ip", "netns", "exec", l.NS(ns)}, args...)...)
}

// AddNS creates a namespace with loopback up.
func (l *Lab) AddNS(name string) {
	l.t.Helper()
	l.Run("ip", "netns", "add", l.NS(name))
	l.nss = append(l.nss, l.NS(name))
	l.Exec(name, "ip", "link", "set", "lo", "up")
}

// Bridge creates a bridge in ns with the given addresses (CIDR notation).
func (l *Lab) Bridge(ns, name string, addrs ...string) {
	l.t.Helper()
	l.Exec(ns, "ip", "link", "add", name, "type", "bridge")
	for _, a := range addrs {
		l.Exec(ns, "ip", "addr", "add", a, "dev", name)
	}
	l.Exec(ns, "ip", "link", "set", name, "up")
}

// Attach connects ns to the bridge in bridgeNS with a veth; the ns side is named ifname and
// gets the addresses.
func (l *Lab) Attach(ns, ifname, bridgeNS, bridge string, addrs ...string) {
	l.t.Helper()
	host := fmt.Sprintf("%s%d", l.prefix, rand.IntN(100000))
	peer := host + "p"
	l.Run("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	l.Run("ip", "link", "set", host, "netns", l.NS(bridgeNS))
	l.Run("ip", "link", "set", peer, "netns", l.NS(ns))
	l.Exec(bridgeNS, "ip", "link", "set", host, "master", bridge)
	l.Exec(bridgeNS, "ip", "link", "set", host, "up")
	l.Exec(ns, "ip", "link", "set", peer, "name", ifname)
	// Test hosts keep exactly the addresses the test gives them: a router's RAs (FRR's zebra
	// sends them for extended-next-hop neighbours) would add a SLAAC address that the kernel
	// may then pick as a session's source.
	l.Exec(ns, "sysctl", "-qw", "net/ipv6/conf/"+ifname+"/accept_ra=0") // slashes: names may hold dots
	for _, a := range addrs {
		l.Exec(ns, "ip", "addr", "add", a, "dev", ifname)
	}
	l.Exec(ns, "ip", "link", "set", ifname, "up")
}

// Start starts a long-running process in ns; its output goes to a log file named after it.
func (l *Lab) Start(ns, logName string, args ...string) *exec.Cmd {
	l.t.Helper()
	logf, err := os.Create(filepath.Join(l.dir, logName+".log"))
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.NS(ns)}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("starting %v: %v", args, err)
	}
	l.procs = append(l.procs, cmd)
	return cmd
}

// Log returns what a started process wrote.
func (l *Lab) Log(logName string) string {
	b, _ := os.ReadFile(filepath.Join(l.dir, logName+".log"))
	return string(b)
}

// Signal sends sig to a started process without waiting for it (Kill waits).
func (l *Lab) Signal(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.ProcessState == nil {
		_ = cmd.Process.Signal(sig)
	}
}

// Kill sends sig to a started process and waits until it has exited.
func (l *Lab) Kill(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Dir is the lab's scratch directory.
func (l *Lab) Dir() string { return l.dir }

func (l *Lab) cleanup() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.Kill(l.procs[i], syscall.SIGKILL)
	}
	for _, p := range l.pids {
		b, err := os.ReadFile(p.path)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		// Only ever kill what we started: check the command name first.
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == p.comm {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, ns := range l.nss {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// WaitFor polls cond until it returns "" or the timeout passes (a bound on failure, not a
// measurement), then fails with cond's last explanation.
func (l *Lab) WaitFor(what string, timeout time.Duration, cond func() string) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	l.t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
}

// JSON runs a command in ns and decodes its JSON output.
func (l *Lab) JSON(ns string, into any, args ...string) error {
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.NS(ns)}, args...)...).Output()
	if err != nil {
		return fmt.Errorf("%v: %w", args, err)
	}
	return json.NewDecoder(bytes.NewReader(out)).Decode(into)
}
