package standalone

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/status"
)

var heraldBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-bin")
	if err != nil {
		panic(err)
	}
	heraldBin = filepath.Join(dir, "herald")
	out, err := exec.Command("go", "build", "-o", heraldBin, "../../cmd/herald").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building herald: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type instance struct {
	t     *testing.T
	cmd   *exec.Cmd
	state string
	log   *os.File
}

func start(t *testing.T, manifests, state string) *instance {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), "herald-log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(heraldBin, "run", "-f", manifests, "--state", state, "--poll", "100ms")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, cmd: cmd, state: state, log: log}
	t.Cleanup(func() { in.kill() })
	in.waitFor("the first snapshot", func(s *status.Snapshot) bool { return !s.Generated.IsZero() })
	return in
}

func (in *instance) kill() {
	if in.cmd.ProcessState == nil {
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
		_ = in.cmd.Wait()
	}
}

func (in *instance) snapshot() (*status.Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return status.Fetch(ctx, filepath.Join(in.state, status.SocketName))
}

// waitFor polls the status API until cond holds; the deadline is generous because it bounds
// a failure, not a measurement.
func (in *instance) waitFor(what string, cond func(*status.Snapshot) bool) *status.Snapshot {
	in.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last *status.Snapshot
	for time.Now().Before(deadline) {
		if s, err := in.snapshot(); err == nil {
			last = s
			if cond(s) {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(in.log.Name())
	in.t.Fatalf("timed out waiting for %s; last snapshot %+v\nlog:\n%s", what, last, log)
	return nil
}

func ips(s *status.Snapshot) map[string]string {
	out := map[string]string{}
	for sv := range s.Services.All() {
		if len(sv.IPs) > 0 {
			out[sv.Namespace+"/"+sv.Name] = strings.Join(sv.IPs, ",")
		}
	}
	return out
}

func svc(name, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: demo%s
spec:
  type: LoadBalancer
  ports: [{port: 80}]
`, name, extra)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	// Write then rename, as editors and config management do, so the watcher never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const pool = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: demo}
spec:
  blocks: [{start: 192.0.2.10, stop: 192.0.2.20}]
`

func TestStandaloneSeed000(t *testing.T) {
	in := start(t, "../../examples/standalone", t.TempDir())
	s := in.waitFor("11 Services", func(s *status.Snapshot) bool { return len(ips(s)) == 11 })
	for sv := range s.Services.All() {
		if !sv.Satisfied || !strings.HasPrefix(sv.IPs[0], "10.99.8.2") {
			t.Errorf("%s/%s: %+v", sv.Namespace, sv.Name, sv)
		}
	}
	p := s.Pools[0]
	if p.Total.Int64() != 254 || p.Used != 11 || p.Available.Int64() != 243 {
		t.Fatalf("pool %+v, want 254 total, 11 used, 243 available", p)
	}
	out, err := exec.Command(heraldBin, "ipam", "pools", "--state", in.state).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lb-pool  False     False        254        11    243") {
		t.Fatalf("herald ipam pools: %v\n%s", err, out)
	}
	out, err = exec.Command(heraldBin, "status", "--state", in.state).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lb-pool  [#.........] 11/254 used") || !strings.Contains(string(out), "services: 11, 0 without an address") {
		t.Fatalf("herald status: %v\n%s", err, out)
	}
	if page := in.get("/"); strings.Count(page, `<g class="vip"`) != 11 || !strings.Contains(page, "Every LoadBalancer Service has its address.") {
		t.Errorf("status page: want 11 VIPs and no unsatisfied Service:\n%s", page)
	}
	metrics := in.get("/metrics")
	for _, want := range []string{
		`herald_ipam_pool_addresses_used{pool="lb-pool"} 11`,
		`herald_ipam_pool_addresses_available{pool="lb-pool"} 243`,
		`herald_ipam_services{reason="satisfied"} 11`,
		`herald_config_problems{severity="error"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("GET /metrics lacks %q:\n%s", want, metrics)
		}
	}
}

// get reads path over the status socket, as a browser or Prometheus would over --status-addr.
func (in *instance) get(path string) string {
	in.t.Helper()
	c := status.SocketClient(filepath.Join(in.state, status.SocketName))
	c.Timeout = 5 * time.Second
	resp, err := c.Get("http://herald" + path)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		in.t.Fatalf("GET %s: %v %d\n%s", path, err, resp.StatusCode, body)
	}
	return string(body)
}

func TestStandaloneRestartEditAndBrokenEdit(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	write(t, filepath.Join(dir, "pool.yaml"), pool)
	write(t, filepath.Join(dir, "a.yaml"), svc("a", "")+"---\n"+svc("b", "")+"---\n"+svc("c", ""))
	in := start(t, dir, state)
	before := ips(in.waitFor("3 Services", func(s *status.Snapshot) bool { return len(ips(s)) == 3 }))

	// SIGKILL, delete b, add d (created before c in the file): a and c keep theirs, and d must
	// not get b's old address by accident of ordering... it may, b is gone; what it must not
	// do is take a's or c's.
	for round := range 3 {
		in.kill()
		if round == 1 {
			write(t, filepath.Join(dir, "a.yaml"), svc("d", "")+"---\n"+svc("c", "")+"---\n"+svc("a", ""))
		}
		in = start(t, dir, state)
		got := ips(in.waitFor("Services after restart", func(s *status.Snapshot) bool { return len(ips(s)) == 3 }))
		for _, k := range []string{"demo/a", "demo/c"} {
			if got[k] != before[k] {
				t.Fatalf("round %d: %s moved from %s to %s across SIGKILL+restart", round, k, before[k], got[k])
			}
		}
		if round >= 1 && (got["demo/d"] == before["demo/a"] || got["demo/d"] == before["demo/c"]) {
			t.Fatalf("d took an address held by another Service: %v", got)
		}
	}

	// A live edit applies without a restart.
	write(t, filepath.Join(dir, "e.yaml"), svc("e", ""))
	in.waitFor("e to get an address", func(s *status.Snapshot) bool { return ips(s)["demo/e"] != "" })

	// A broken edit is reported and changes nothing: not the file's own Services, not the pool.
	stable := ips(in.waitFor("4 Services", func(s *status.Snapshot) bool { return len(ips(s)) == 4 }))
	write(t, filepath.Join(dir, "a.yaml"), "apiVersion: v1\nkind: Service\nmetadata:\n  name: d\n   broken: [\n")
	write(t, filepath.Join(dir, "pool.yaml"), strings.Replace(pool, "192.0.2.10", "192.0.2.300", 1))
	s := in.waitFor("the broken edits to be reported", func(s *status.Snapshot) bool { return len(s.Problems) >= 2 })
	if got := ips(s); fmt.Sprint(got) != fmt.Sprint(stable) {
		t.Fatalf("a broken edit changed allocations:\nbefore %v\nafter  %v\nproblems %+v", stable, got, s.Problems)
	}
	joined := fmt.Sprint(s.Problems)
	for _, want := range []string{"a.yaml", "not valid YAML", "pool.yaml", "spec.blocks[0]", "192.0.2.300"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems do not mention %q: %s", want, joined)
		}
	}
	// And a restart in the broken state still changes nothing for Services whose file is fine.
	in.kill()
	in = start(t, dir, state)
	s = in.waitFor("e after restart", func(s *status.Snapshot) bool { return ips(s)["demo/e"] != "" })
	if ips(s)["demo/e"] != stable["demo/e"] {
		t.Fatalf("e moved from %s to %s", stable["demo/e"], ips(s)["demo/e"])
	}
}
