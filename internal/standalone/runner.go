// Package standalone runs Herald on one host without Kubernetes: manifests on disk are the
// source of objects, a bbolt database keeps allocations across restarts, and a local status
// API serves the snapshot. It is `herald run`.
package standalone

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/source/file"
	"github.com/heraldlb/herald/internal/status"
	"github.com/heraldlb/herald/internal/store"
)

// Config is what `herald run` is told.
type Config struct {
	// Paths are manifest files and directories.
	Paths []string
	// StateDir holds the database and the status socket.
	StateDir string
	// Node is the name of the node this host plays (used by BGP and L2).
	Node string
	// StatusAddr optionally serves the status API on TCP too (loopback by default).
	StatusAddr string
	// Poll is how often the manifests are checked for changes.
	Poll time.Duration
	// IPAM decides which Services are Herald's.
	IPAM ipam.Config
}

// DefaultConfig polls twice a second: edits show up within half a second, and reading a few
// manifests that often costs nothing measurable.
func DefaultConfig() Config {
	return Config{Poll: 500 * time.Millisecond, IPAM: ipam.DefaultConfig()}
}

// blobLastGood names the stored last good manifests.
const blobLastGood = "last-good-manifests"

// Runner is a running standalone Herald.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	holder *status.Holder
	loader *file.Loader
	alloc  *ipam.Allocator
	store  *store.Store
	// stored mirrors the database, so that only changes are written.
	stored store.Allocations
}

// New prepares a runner; Run starts it.
func New(cfg Config, log *slog.Logger) *Runner {
	return &Runner{cfg: cfg, log: log, holder: status.NewHolder(), loader: file.NewLoader(cfg.Paths...), alloc: ipam.New(cfg.IPAM)}
}

// Holder exposes the snapshot (for the status page and metrics).
func (r *Runner) Holder() *status.Holder { return r.holder }

// Run loads, allocates and serves until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	if err := os.MkdirAll(r.cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	st, err := store.Open(filepath.Join(r.cfg.StateDir, store.FileName))
	if err != nil {
		return err
	}
	defer st.Close()
	r.store = st
	if r.stored, err = st.Load(); err != nil {
		return err
	}
	lastGood, err := st.Blob(blobLastGood)
	if err != nil {
		return err
	}
	if err := r.loader.Restore(lastGood); err != nil {
		// Not fatal: the manifests on disk are the truth; only the fallback is lost.
		r.log.Warn("cannot restore the last good manifests", "err", err)
	}
	r.log.Info("state opened", "dir", r.cfg.StateDir, "allocations", len(r.stored))

	// The first reconcile happens before the API answers, so nobody reads an empty state.
	if err := r.reconcile(); err != nil {
		return err
	}
	srv := &status.Server{Holder: r.holder, Log: r.log}
	errc := make(chan error, 2)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- srv.ServeUnix(sctx, filepath.Join(r.cfg.StateDir, status.SocketName)) }()
	servers := 1
	if r.cfg.StatusAddr != "" {
		servers++
		go func() { errc <- srv.ServeTCP(sctx, r.cfg.StatusAddr) }()
	}
	err = r.watch(sctx, errc)
	cancel()
	for range servers {
		if e := <-errc; e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (r *Runner) watch(ctx context.Context, errc <-chan error) error {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return err
			}
		case <-t.C:
			if !r.loader.Changed() {
				continue
			}
			r.log.Info("manifests changed, reloading")
			if err := r.reconcile(); err != nil {
				return err
			}
		}
	}
}

// reconcile loads the manifests, allocates, persists and only then publishes: an address is
// on disk before anybody can see it, so a crash never hands out an address that a restart
// would not restore.
func (r *Runner) reconcile() error {
	start := time.Now()
	built := r.loader.Load()
	c := &built.Cluster
	for i := range c.Services {
		s := &c.Services[i]
		if held, ok := r.stored[s.Key]; ok {
			s.Ingress = held // what this host handed out wins over a status copied into a manifest
		}
	}
	results := r.alloc.Reconcile(c.Pools, c.Services)
	want := store.Allocations{}
	for _, res := range results {
		if len(res.Addrs) > 0 {
			want[res.Service] = res.Addrs
		}
	}
	n, err := r.store.Set(want)
	if err != nil {
		return err
	}
	saved, err := r.loader.Save()
	if err == nil {
		err = r.store.SetBlob(blobLastGood, saved)
	}
	if err != nil {
		return fmt.Errorf("saving the last good manifests: %w", err)
	}
	r.stored = want
	r.holder.Publish(r.snapshot(built, results))
	unsatisfied := 0
	for _, res := range results {
		if !res.Satisfied {
			unsatisfied++
		}
	}
	r.log.Info("reconciled", "services", len(results), "unsatisfied", unsatisfied, "pools", len(c.Pools),
		"problems", len(built.Problems), "records_written", n, "duration", time.Since(start).Round(time.Microsecond))
	return nil
}

func (r *Runner) snapshot(b *manifest.Built, results []ipam.Result) *status.Snapshot {
	s := &status.Snapshot{Generated: time.Now(), Mode: "standalone", Node: r.cfg.Node, Sources: r.cfg.Paths}
	s.Pools = PoolStatus(r.alloc.Pools())
	s.Services = ServiceStatus(results)
	s.Problems = Problems(b.Problems)
	return s
}

// PoolStatus renders allocator pool states for the snapshot.
func PoolStatus(ps []ipam.PoolStatus) []status.Pool {
	out := make([]status.Pool, 0, len(ps))
	for _, p := range ps {
		sp := status.Pool{Name: p.Name, Disabled: p.Disabled, Conflicting: p.Conflicting(), ConflictsWith: p.ConflictsWith,
			Total: p.Total, Used: p.Used, Available: p.Available}
		for _, f := range p.Families {
			sp.Families = append(sp.Families, f.String())
		}
		out = append(out, sp)
	}
	return out
}

// ServiceStatus renders allocation results for the snapshot.
func ServiceStatus(rs []ipam.Result) []status.Service {
	out := make([]status.Service, 0, len(rs))
	for _, res := range rs {
		ss := status.Service{Namespace: res.Service.Namespace, Name: res.Service.Name, Pools: res.Pools,
			Satisfied: res.Satisfied, Reason: string(res.Reason), Message: res.Message, IPs: []string{}}
		for _, a := range res.Addrs {
			ss.IPs = append(ss.IPs, a.String())
		}
		out = append(out, ss)
	}
	return out
}

// Problems renders manifest problems for the snapshot.
func Problems(ps []manifest.Problem) []status.Problem {
	out := make([]status.Problem, 0, len(ps))
	for _, p := range ps {
		out = append(out, status.Problem{Severity: string(p.Severity), Source: p.Source.String(), Object: p.Object(), Field: p.Field, Message: p.Message})
	}
	return out
}

// DefaultStateDir is /var/lib/herald for root, else the user's state directory; HERALD_STATE
// overrides both, so the CLI and `herald run` agree without flags.
func DefaultStateDir() string {
	if d := os.Getenv("HERALD_STATE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/herald"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "herald")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "herald")
	}
	return filepath.Join(os.TempDir(), "herald")
}
