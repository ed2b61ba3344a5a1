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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/lab"
	"github.com/heraldlb/herald/internal/netns"
)

// Lab is one test network.
type Lab struct {
	t      testing.TB
	prefix string
	dir    string
	nss    []string
	procs  []*exec.Cmd
	logs   []string // log names of the started processes, in start order
	// daemons are processes that fork (FRR), stopped through their PID files.
	daemons []lab.Proc
}

// Require fails the test (never skips) when the lab cannot work here: CI runs as root with
// FRR installed by hack/test.sh, and a missing piece must be loud.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("network lab tests need root (network namespaces); run hack/test.sh as root")
	}
	for _, bin := range append([]string{"ip"}, lab.FRRBinaries...) {
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
	out, err := netns.Run(args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// Exec runs a command inside a namespace of the lab.
func (l *Lab) Exec(ns string, args ...string) string {
	l.t.Helper()
	return l.Run(append([]string{"ip", "netns", "exec", l.NS(ns)}, args...)...)
}

// AddNS creates a namespace with loopback up.
func (l *Lab) AddNS(name string) {
	l.t.Helper()
	if err := netns.Add(l.NS(name)); err != nil {
		l.t.Fatal(err)
	}
	l.nss = append(l.nss, l.NS(name))
}

// Bridge creates a bridge in ns with the given addresses (CIDR notation).
func (l *Lab) Bridge(ns, name string, addrs ...string) {
	l.t.Helper()
	if err := netns.Bridge(l.NS(ns), name, addrs...); err != nil {
		l.t.Fatal(err)
	}
}

// Attach connects ns to the bridge in bridgeNS with a veth; the ns side is named ifname and
// gets the addresses.
func (l *Lab) Attach(ns, ifname, bridgeNS, bridge string, addrs ...string) {
	l.t.Helper()
	host := fmt.Sprintf("%s%d", l.prefix, rand.IntN(100000))
	if err := netns.Attach(l.NS(ns), ifname, l.NS(bridgeNS), bridge, host, addrs...); err != nil {
		l.t.Fatal(err)
	}
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
	l.logs = append(l.logs, logName)
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
	if l.t.Failed() {
		// The logs live in the test's temporary directory, which goes with the test: a
		// failure in CI is explained only by what is printed here.
		for _, name := range l.logs {
			l.t.Logf("--- last lines of %s.log:\n%s", name, tail(l.Log(name), logTail))
		}
	}
	for _, p := range l.daemons {
		_ = p.Stop(syscall.SIGKILL, 0) // only ever what we started: Stop checks the command name
	}
	for _, ns := range l.nss {
		_ = netns.Delete(ns)
	}
}

// logTail is how many lines of each process's log a failed test prints.
const logTail = 40

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
