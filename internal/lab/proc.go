package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is one process the lab started, recorded so that a later `herald lab down` — another
// process — can stop it, and only it: a PID is signalled only while /proc says it still runs
// the command the lab started there.
type Proc struct {
	Name    string   `json:"name"` // what it is: "agent stanton-01", "kube-apiserver"
	Host    string   `json:"host"`
	PID     int      `json:"pid"`
	Comm    string   `json:"comm"`              // the command's name as /proc/PID/comm shows it
	PIDFile string   `json:"pidFile,omitempty"` // for daemons that fork (FRR): where they write their PID
	Log     string   `json:"log"`
	Args    []string `json:"args"` // to start it again
	// Stopped is set when the lab stopped it on purpose (a node's agent killed to see the
	// failover): its absence does not make the lab broken, and `up` starts it again.
	Stopped bool `json:"stopped,omitempty"`
}

// comm is what /proc/PID/comm shows for a binary (the kernel keeps 15 bytes).
func comm(bin string) string {
	c := filepath.Base(bin)
	if len(c) > 15 {
		c = c[:15]
	}
	return c
}

// startProc starts a long-running process inside namespace ns, in a session of its own (so
// that it outlives `herald lab up` and the terminal), writing to log. A goroutine reaps it
// when it ends, so a dead process never lingers as a zombie that looks alive.
func startProc(name, host, ns, log string, args ...string) (Proc, error) {
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return Proc{}, fmt.Errorf("starting %s: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Proc{}, fmt.Errorf("starting %s (%s): %w", name, strings.Join(args, " "), err)
	}
	go func() { _ = cmd.Wait() }()
	// `ip netns exec` replaces itself with the command, so the PID is the command's.
	return Proc{Name: name, Host: host, PID: cmd.Process.Pid, Comm: comm(args[0]), Log: log, Args: args}, nil
}

// pid reads the process's PID, from its PID file for daemons that fork.
func (p *Proc) pid() int {
	if p.PIDFile == "" {
		return p.PID
	}
	b, err := os.ReadFile(p.PIDFile)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// Alive reports whether the process still runs what the lab started (not a zombie, and not
// a reused PID).
func (p *Proc) Alive() bool {
	pid := p.pid()
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "PID (comm) S ...".
	if i := strings.LastIndexByte(string(stat), ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	got := strings.TrimSpace(string(c))
	// Right after the start, `ip netns exec` may not have replaced itself yet.
	return got == p.Comm || (got == "ip" && p.PIDFile == "")
}

// ErrStillRunning is returned by Stop when a process outlived SIGKILL's grace.
var ErrStillRunning = errors.New("still running")

// Stop sends sig, waits up to grace for the process to end, then kills it. It never signals
// a process that is not the one the lab started.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	pid := p.pid()
	_ = syscall.Kill(pid, sig)
	for deadline := time.Now().Add(grace); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !p.Alive() {
			return nil
		}
	}
	if p.Alive() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !p.Alive() {
			return nil
		}
	}
	return fmt.Errorf("%s (pid %d): %w", p.Name, pid, ErrStillRunning)
}
