package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/lab"
	"github.com/heraldlb/herald/internal/status"
	"github.com/heraldlb/herald/internal/testutil"
)

var (
	heraldBin  string
	kubeAssets string
	repo       string
)

// TestMain builds herald once and finds kube-apiserver and etcd (KUBEBUILDER_ASSETS, as
// hack/test.sh exports it, or hack/kube-testenv.sh). A missing piece fails the run: these
// tests never skip.
func TestMain(m *testing.M) {
	_, here, _, _ := runtime.Caller(0)
	repo = filepath.Join(filepath.Dir(here), "..", "..")
	if err := lab.Prerequisites(); err != nil {
		fmt.Fprintln(os.Stderr, "lab tests:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "herald-lab-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", heraldBin, "./cmd/herald")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building herald: %v\n%s", err, out)
		os.Exit(1)
	}
	kubeAssets = os.Getenv("KUBEBUILDER_ASSETS")
	if kubeAssets == "" {
		out, err := exec.Command(filepath.Join(repo, "hack", "kube-testenv.sh")).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "lab tests need kube-apiserver and etcd: hack/kube-testenv.sh failed: %v\n", err)
			os.Exit(1)
		}
		kubeAssets = strings.TrimSpace(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logWriter sends the lab's progress lines to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newSpec fills in what every test lab needs: a unique name (namespaces of concurrent runs
// never collide), a private directory, and the binaries.
func newSpec(t testing.TB, hosts []lab.Host, manifests ...string) lab.Spec {
	return lab.Spec{
		Name:       fmt.Sprintf("t%04x", rand.IntN(0xffff)),
		Dir:        filepath.Join(t.TempDir(), "lab"),
		Hosts:      hosts,
		Manifests:  manifests,
		Herald:     heraldBin,
		KubeAssets: kubeAssets,
		CRDs:       filepath.Join(repo, "deploy", "helm", "herald", "crds"),
	}
}

// up builds the lab and takes it down when the test ends. When the test fails, the log gets
// what a user would have checked and what it showed (the lab's report), and the tail of
// every process's log.
func up(t testing.TB, spec lab.Spec) *lab.Lab {
	t.Helper()
	l, err := lab.New(spec, logWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			report(t, l)
		}
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := l.Up(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// report logs the lab's checks and the end of each process's log.
func report(t testing.TB, l *lab.Lab) {
	var b strings.Builder
	l.Status(context.Background()).Print(&b, true)
	t.Logf("what the user would have checked, and what it showed:\n%s", b.String())
	for _, p := range l.Procs() {
		t.Logf("--- %s (%s) log, last lines:\n%s", p.Name, p.Log, tail(l.Log(p.Name), 25))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// healthy waits until every check of the lab passes, failing with the report otherwise.
func healthy(t *testing.T, l *lab.Lab, timeout time.Duration) lab.Report {
	t.Helper()
	r := l.WaitHealthy(context.Background(), timeout)
	if f := r.Failed(); len(f) > 0 {
		var b strings.Builder
		for _, c := range f {
			fmt.Fprintf(&b, "\n  %s: %s", c.Title, c.Detail)
		}
		t.Fatalf("lab not healthy after %s:%s", timeout, b.String())
	}
	return r
}

// eventually is testutil.Eventually, named for these tests.
var eventually = testutil.Eventually

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// snapshot reads a node agent's status snapshot.
func snapshot(l *lab.Lab, node string) (*status.Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return status.Fetch(ctx, filepath.Join(l.NodeState(node), status.SocketName))
}

// sessionUp says why a node's sessions are not all established ("" when they are).
func sessionUp(l *lab.Lab, node string) string {
	s, err := snapshot(l, node)
	if err != nil {
		return err.Error()
	}
	n := 0
	for _, in := range s.BGP {
		for _, p := range in.Peers {
			if p.State != bgp.StateEstablished {
				return fmt.Sprintf("%s: %s", p.Address, p.State)
			}
			n++
		}
	}
	if n == 0 {
		return "no sessions"
	}
	return ""
}

// l2Owner is the node every agent names as the owner of ip.
func l2Owner(t *testing.T, l *lab.Lab, ip string) string {
	t.Helper()
	var owner string
	eventually(t, "one owner of "+ip+" in every agent's view", 20*time.Second, func() string {
		owners := map[string]bool{}
		for _, h := range l.Spec().Hosts {
			if h.Kind != lab.Node {
				continue
			}
			s, err := snapshot(l, h.Name)
			if err != nil {
				return err.Error()
			}
			if s.L2 == nil {
				return h.Name + ": no L2 view"
			}
			for _, a := range s.L2.Announcements {
				if a.IP == ip {
					owners[a.Owner] = true
					owner = a.Owner
				}
			}
		}
		if len(owners) != 1 || owner == "" {
			return fmt.Sprintf("owners %v", owners)
		}
		return ""
	})
	return owner
}

// runHerald runs the herald binary.
func runHerald(args ...string) (string, error) {
	out, err := exec.Command(heraldBin, args...).CombinedOutput()
	return string(out), err
}
