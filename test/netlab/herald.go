package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/status"
)

// built caches Binary's builds by package, for the test process.
var built sync.Map // package -> func() (string, error)

// Binary builds a main package of this module (./cmd/herald) once per test process and
// returns the binary's path.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	once, _ := built.LoadOrStore(pkg, sync.OnceValues(func() (string, error) {
		_, here, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(here), "..", "..")
		dir, err := os.MkdirTemp("", "herald-bin")
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
		return bin, nil
	}))
	bin, err := once.(func() (string, error))()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// HeraldBinary builds cmd/herald once per test process and returns its path.
func HeraldBinary(t testing.TB) string {
	t.Helper()
	return Binary(t, "./cmd/herald")
}

// Herald is a herald process running in a namespace of the lab.
type Herald struct {
	Cmd   *exec.Cmd
	State string
	Log   string
	bin   string
	lab   *Lab
	ns    string
	args  []string
	runs  int
}

// StartHerald runs `herald run` in ns with the given arguments after run.
func (l *Lab) StartHerald(ns, name string, args ...string) *Herald {
	l.t.Helper()
	bin := HeraldBinary(l.t)
	state := filepath.Join(l.dir, "state-"+name)
	full := append([]string{bin, "run", "--state", state, "--poll", "200ms"}, args...)
	cmd := l.Start(ns, "herald-"+name, full...)
	return &Herald{Cmd: cmd, State: state, Log: "herald-" + name, bin: bin, lab: l, ns: ns, args: full}
}

// Restart starts the same herald again (same namespace, state and arguments) after it ended.
func (h *Herald) Restart() {
	h.runs++
	h.Log = fmt.Sprintf("%s-%d", h.Log, h.runs)
	h.Cmd = h.lab.Start(h.ns, h.Log, h.args...)
}

// Snapshot reads the running herald's status snapshot.
func (h *Herald) Snapshot() (*status.Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return status.Fetch(ctx, filepath.Join(h.State, status.SocketName))
}

// Problems returns the running herald's reported problems as lines.
func (h *Herald) Problems() string {
	s, err := h.Snapshot()
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range s.Problems {
		fmt.Fprintf(&b, "%s: %s: %s: %s: %s\n", p.Severity, p.Source, p.Object, p.Field, p.Message)
	}
	return b.String()
}

// CLI runs a herald subcommand against this instance's state (from the host namespace: the
// status socket is a file).
func (h *Herald) CLI(args ...string) (string, error) {
	out, err := exec.Command(h.bin, append(args, "--state", h.State)...).CombinedOutput()
	return string(out), err
}
