package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/heraldlb/herald/internal/netns"
)

// stateFile is where a lab records what it created, in its directory.
const stateFile = "lab.json"

// State is what a lab created: enough for any later process to show it or take it down.
type State struct {
	Spec       Spec      `json:"spec"`
	Namespaces []string  `json:"namespaces"`
	Procs      []Proc    `json:"procs"`
	Started    time.Time `json:"started"`
	Ready      bool      `json:"ready"` // every step of Up finished
}

// Lab is one lab: its spec and what of it exists.
type Lab struct {
	mu    sync.Mutex
	state State
	out   io.Writer
}

// ErrNotUp is returned by Open when no lab has its state in the directory.
var ErrNotUp = errors.New("no lab is up")

// New returns a lab for spec that reports progress to out (nil: silent). Nothing is created
// until Up.
func New(spec Spec, out io.Writer) (*Lab, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	return &Lab{state: State{Spec: spec}, out: out}, nil
}

// Open reads the lab whose state is in dir.
func Open(dir string, out io.Writer) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNotUp, dir)
	}
	if err != nil {
		return nil, err
	}
	l := &Lab{out: out}
	if out == nil {
		l.out = io.Discard
	}
	if err := json.Unmarshal(b, &l.state); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, stateFile), err)
	}
	return l, nil
}

// Spec is the lab's spec.
func (l *Lab) Spec() Spec { return l.state.Spec }

// Dir is the lab's state directory.
func (l *Lab) Dir() string { return l.state.Spec.Dir }

// NS is the namespace of one of the lab's hosts.
func (l *Lab) NS(host string) string { return l.state.Spec.NS(host) }

func (l *Lab) path(parts ...string) string {
	return filepath.Join(append([]string{l.state.Spec.Dir}, parts...)...)
}

func (l *Lab) sayf(format string, a ...any) {
	fmt.Fprintf(l.out, "lab: "+format+"\n", a...)
}

// save writes the state file; called after every step that creates something, so a failed
// or interrupted Up can still be taken down.
func (l *Lab) save() error {
	l.mu.Lock()
	b, err := json.MarshalIndent(l.state, "", "  ")
	l.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := l.path(stateFile + ".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path(stateFile))
}

// addNS creates a namespace and records it.
func (l *Lab) addNS(host string) error {
	ns := l.NS(host)
	if err := netns.Add(ns); err != nil {
		return err
	}
	l.mu.Lock()
	l.state.Namespaces = append(l.state.Namespaces, ns)
	l.mu.Unlock()
	return l.save()
}

// start starts a process in a host and records it.
func (l *Lab) start(name, host string, args ...string) (Proc, error) {
	log := l.path("logs", sanitize(name)+".log")
	p, err := startProc(name, host, l.NS(host), log, args...)
	if err != nil {
		return Proc{}, err
	}
	return p, l.record(p)
}

// record adds a started process to the state, replacing an earlier one of the same name.
func (l *Lab) record(p Proc) error {
	l.mu.Lock()
	if i := slices.IndexFunc(l.state.Procs, func(q Proc) bool { return q.Name == p.Name }); i >= 0 {
		l.state.Procs[i] = p
	} else {
		l.state.Procs = append(l.state.Procs, p)
	}
	l.mu.Unlock()
	return l.save()
}

// Proc returns the recorded process with that name.
func (l *Lab) Proc(name string) (Proc, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.state.Procs {
		if p.Name == name {
			return p, true
		}
	}
	return Proc{}, false
}

// Procs returns every process the lab started.
func (l *Lab) Procs() []Proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.state.Procs)
}

// Log returns what a process of the lab has written so far.
func (l *Lab) Log(name string) string {
	b, _ := os.ReadFile(l.path("logs", sanitize(name)+".log"))
	return string(b)
}

func sanitize(name string) string {
	out := []byte(name)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			out[i] = '-'
		}
	}
	return string(out)
}

// Down stops every process the lab started (the newest first), removes its namespaces and
// its directory. It also removes namespaces carrying the lab's prefix that a crashed Up did
// not get to record. It is safe to run twice.
func (l *Lab) Down() error {
	var errs []error
	procs := slices.Clone(l.state.Procs)
	slices.Reverse(procs)
	for _, p := range procs {
		if p.Alive() {
			l.sayf("stopping %s (pid %d)", p.Name, p.pid())
		}
		if err := p.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	nss := slices.Clone(l.state.Namespaces)
	for _, ns := range netns.List(l.state.Spec.Name + "-") {
		if !slices.Contains(nss, ns) && l.owns(ns) {
			nss = append(nss, ns)
		}
	}
	for _, ns := range nss {
		if !netns.Exists(ns) {
			continue
		}
		l.sayf("removing namespace %s", ns)
		if err := netns.Delete(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(l.state.Spec.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	l.state.Procs, l.state.Namespaces, l.state.Ready = nil, nil, false
	return errors.Join(errs...)
}

// owns reports whether a namespace with the lab's prefix is one of its hosts' (so that a
// lab named "hlab" does not remove "hlab-other-thing" made by something else).
func (l *Lab) owns(ns string) bool {
	for _, h := range append(l.state.Spec.Hosts, Host{Name: cpHost}, Host{Name: switchHost}) {
		if ns == l.NS(h.Name) {
			return true
		}
	}
	return false
}
