// Package standalone runs Herald on one host without Kubernetes: manifests on disk are the
// source of objects, a bbolt database keeps allocations across restarts, and a local status
// API serves the snapshot. It is `herald run`.
package standalone

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldlb/herald/internal/announce"
	"github.com/heraldlb/herald/internal/bgp/gobgp"
	"github.com/heraldlb/herald/internal/doctor"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/memory"
	"github.com/heraldlb/herald/internal/metrics"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
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
	// Announce configures this node's BGP speakers and L2 responder (Node is set from Node).
	Announce announce.Config
}

// DefaultConfig polls twice a second: edits show up within half a second, and reading a few
// manifests that often costs nothing measurable.
func DefaultConfig() Config {
	// DrainWait of 5 s covers the ~60 ms FRR needs to act on an UPDATE many times over, and a
	// router with a slower control plane; ShutdownGrace then bounds the session close.
	return Config{Poll: 500 * time.Millisecond, IPAM: ipam.DefaultConfig(), Announce: announce.DefaultConfig()}
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
	// stored is what the database held at start, for the first reconcile; later ones take
	// the same from the last results, so 100k Services' addresses are not kept twice.
	stored store.Allocations
	// node runs this node's BGP speakers and L2 responder (the L2 part only once an L2 policy
	// exists, so a host that does not use L2 binds no heartbeat port); nil without --node.
	node       *announce.Node
	last       *status.Snapshot
	runCtx     context.Context
	reconciles uint64
	// built and results are the last reconcile's, for the findings when sessions change.
	built   *manifest.Built
	results []ipam.Result
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
	dbPath := filepath.Join(r.cfg.StateDir, store.FileName)
	_, statErr := os.Stat(dbPath)
	restarting := statErr == nil // an earlier herald ran with this state: this is a restart
	st, err := store.Open(dbPath)
	if err != nil {
		return err
	}
	if r.cfg.Node != "" {
		sc := gobgp.DefaultConfig()
		sc.Restarting = restarting
		ac := r.cfg.Announce
		ac.Node = r.cfg.Node
		r.node = announce.New(ac, gobgp.New(sc, r.log.With("component", "bgp")), r.log)
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

	if r.node != nil {
		// On every way out, stop answering ARP/NDP and end the sessions gracefully: routers
		// that do graceful restart keep the routes while Herald restarts (and, for a crash,
		// for the restart time).
		defer r.node.Close()
	}
	r.runCtx = ctx
	// The first reconcile happens before the API answers, so nobody reads an empty state.
	if err := r.reconcile(ctx); err != nil {
		return err
	}
	srv := &status.Server{Holder: r.holder, Log: r.log, Metrics: metrics.Handler(r.holder)}
	if r.node != nil {
		srv.Routes = r.node.Routes
	}
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
		case <-r.l2Changed():
			r.refresh(ctx)
		case <-t.C:
			if !r.loader.Changed() {
				r.refresh(ctx) // sessions and L2 owners change on their own
				continue
			}
			r.log.Info("manifests changed, reloading")
			if err := r.reconcile(ctx); err != nil {
				return err
			}
		}
	}
}

// reconcile loads the manifests, allocates, persists and only then publishes: an address is
// on disk before anybody can see it, so a crash never hands out an address that a restart
// would not restore. Released addresses leave the disk last, once their routes and ARP/NDP
// answers are gone: a crash in between keeps a stale record (pruned on the next reconcile),
// never an announced address without one, and a large withdrawal does not wait for the
// database.
func (r *Runner) reconcile(ctx context.Context) error {
	start := time.Now()
	built := r.loader.Load()
	c := &built.Cluster
	held := r.stored
	if held == nil {
		held = allocationsOf(r.results)
	}
	for i := range c.Services {
		s := &c.Services[i]
		if as, ok := held[s.Key]; ok {
			s.Ingress = as // what this host handed out wins over a status copied into a manifest
		}
	}
	r.withdrawGone(ctx, c, held)
	results := r.alloc.Reconcile(c.Pools, c.Services)
	want := allocationsOf(results)
	n, err := r.store.Put(want)
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
	r.stored = nil
	snap := r.snapshot(built, results)
	allocs := announce.Allocations(results)
	var planned announce.Plans
	if r.node != nil {
		planned = r.node.Apply(ctx, r.runCtx, c, allocs, snap)
	} else if len(c.L2Policies) > 0 {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "warning", Source: "l2", Object: "L2AnnouncementPolicy",
			Message: "L2 policies need --node: this host answers ARP/NDP as one of the manifests' nodes"})
	}
	pruned, err := r.store.Prune(want)
	if err != nil {
		return err
	}
	n += pruned
	snap.Findings = r.findings(built, results, allocs, planned, snap)
	r.built, r.results = built, results
	r.reconciles++
	snap.Reconciles, snap.ReconcileDuration = r.reconciles, time.Since(start)
	if r.node != nil {
		snap.ReconcileErrors = r.node.Failed()
	}
	r.last = snap
	r.holder.Publish(snap)
	unsatisfied := 0
	for _, res := range results {
		if !res.Satisfied {
			unsatisfied++
		}
	}
	memory.AfterWork()
	r.log.Info("reconciled", "services", len(results), "unsatisfied", unsatisfied, "pools", len(c.Pools),
		"problems", len(built.Problems), "records_written", n, "duration", time.Since(start).Round(time.Microsecond))
	return nil
}

// earlyWithdrawMin is how many addresses must be going before withdrawGone acts: below it
// the allocator releases them in a few milliseconds and the normal apply is as quick.
const earlyWithdrawMin = 1024

// withdrawGone withdraws the routes of addresses whose Services are no longer in the
// manifests, before the allocator runs: releasing 100k addresses and planning again takes
// 0.1-0.3 s, and the routers need not wait for it (the withdrawal starts ~50 ms after the
// change instead of ~250 ms). An address that any present Service holds, asks for, names
// in its status or lists as an external IP stays (shared IPs, and an address moving to
// another Service): the full apply that follows decides those. So does everything when a
// present Service of Herald's has no address yet and asks for none: the allocator may hand
// it one of the released addresses, whose route would then go and come back (a namespace
// renamed, its Services deleted and created again in one edit).
func (r *Runner) withdrawGone(ctx context.Context, c *model.Cluster, held store.Allocations) {
	if r.node == nil {
		return
	}
	if gone := goneAddrs(held, c.Services, r.alloc.Ours); gone != nil {
		r.node.Withdraw(ctx, gone)
	}
}

// allocationsOf is what each Service holds, as the database records it.
func allocationsOf(results []ipam.Result) store.Allocations {
	out := make(store.Allocations, len(results))
	for _, res := range results {
		if len(res.Addrs) > 0 {
			out[res.Service] = res.Addrs
		}
	}
	return out
}

// goneAddrs is the addresses held in stored by Services no longer among services, and by
// none of those (see withdrawGone); nil when fewer than earlyWithdrawMin, or when one of
// services that ours says Herald allocates for could take any address.
func goneAddrs(stored store.Allocations, services []model.Service, ours func(*model.Service) bool) map[netip.Addr]bool {
	if len(stored) < len(services)+earlyWithdrawMin {
		return nil // cheap test first: this runs on every reconcile
	}
	present := make(map[model.ServiceKey]bool, len(services))
	keep := map[netip.Addr]bool{}
	for i := range services {
		s := &services[i]
		present[s.Key] = true
		if len(stored[s.Key]) == 0 && len(s.Request.IPs) == 0 && len(s.Ingress) == 0 && ours(s) {
			return nil
		}
		for _, as := range [][]netip.Addr{stored[s.Key], s.Request.IPs, s.Ingress, s.ExternalIPs, s.ClusterIPs} {
			for _, a := range as {
				keep[a] = true
			}
		}
	}
	gone := make(map[netip.Addr]bool, len(stored)-len(services))
	for k, as := range stored {
		if present[k] {
			continue
		}
		for _, a := range as {
			if !keep[a] {
				gone[a] = true
			}
		}
	}
	if len(gone) < earlyWithdrawMin {
		return nil
	}
	return gone
}

func (r *Runner) snapshot(b *manifest.Built, results []ipam.Result) *status.Snapshot {
	s := &status.Snapshot{Generated: time.Now(), Mode: "standalone", Node: r.cfg.Node, Sources: r.cfg.Paths}
	s.Pools = status.PoolsFrom(r.alloc.Pools())
	s.Services = status.ServicesOf(results)
	s.Problems = Problems(b.Problems)
	return s
}

// refresh republishes the snapshot with fresh session and L2 state.
func (r *Runner) refresh(ctx context.Context) {
	if r.last == nil || r.node == nil {
		return
	}
	next := *r.last
	if !r.node.Refresh(ctx, &next) {
		return
	}
	if liveState(&next) != liveState(r.last) {
		// A session or an L2 owner changed: the plans did not, but they are not kept (at
		// 100k Services they would hold tens of MB for this rare case), so plan again.
		next.Findings = r.findings(r.built, r.results, announce.Allocations(r.results), announce.Plans{}, &next)
	}
	next.Generated = time.Now()
	r.last = &next
	r.holder.Publish(&next)
}

// liveState summarises what the findings read of the live state: session states and L2 owners.
func liveState(s *status.Snapshot) string {
	var b strings.Builder
	for _, in := range s.BGP {
		for _, p := range in.Peers {
			fmt.Fprintf(&b, "%s/%s=%s;", in.Name, p.Address, p.State)
		}
	}
	if s.L2 != nil {
		fmt.Fprintf(&b, "fenced=%t;", s.L2.Fenced)
		for _, n := range s.L2.Nodes {
			fmt.Fprintf(&b, "%s=%s;", n.Name, n.State)
		}
		for _, a := range s.L2.Announcements {
			fmt.Fprintf(&b, "%s@%s;", a.IP, a.Owner)
		}
	}
	return b.String()
}

// l2Changed is signalled when the L2 owners change; nil (never) without L2.
func (r *Runner) l2Changed() <-chan struct{} {
	if r.node == nil {
		return nil
	}
	return r.node.Changed()
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

// DoctorProblems turns loader problems into doctor's input.
func DoctorProblems(ps []manifest.Problem) []doctor.ManifestProblem {
	out := make([]doctor.ManifestProblem, 0, len(ps))
	for _, p := range ps {
		out = append(out, doctor.ManifestProblem{Severity: string(p.Severity), Source: p.Source.String(), Object: p.Object(), Field: p.Field, Message: p.Message})
	}
	return out
}

// DoctorL2 turns a snapshot's L2 view into doctor's input.
func DoctorL2(l *status.L2) *doctor.L2Live {
	out := &doctor.L2Live{Node: l.Node, Fenced: l.Fenced, Why: l.Why, States: map[string]string{}, Interfaces: map[string][]string{}}
	for _, n := range l.Nodes {
		out.States[n.Name] = n.State
		if len(n.Interfaces) > 0 {
			out.Interfaces[n.Name] = n.Interfaces
		}
	}
	for _, a := range l.Announcements {
		out.Announcements = append(out.Announcements, doctor.L2Announcement{IP: a.IP, Service: a.Service, Owner: a.Owner, Interfaces: a.Interfaces, Candidates: a.Candidates})
	}
	return out
}

// findings runs doctor's checks (without probes) on what this reconcile built, for the page.
// planned holds the plans the node's Apply made of the same input; a side it lacks is planned
// here.
func (r *Runner) findings(b *manifest.Built, results []ipam.Result, allocs map[model.ServiceKey][]plan.Allocated, planned announce.Plans, snap *status.Snapshot) []status.Finding {
	c := &b.Cluster
	opts := r.cfg.Announce.Plan
	if planned.BGP == nil {
		planned.BGP = plan.Compute(plan.Input{Cluster: c, Allocations: allocs, Options: opts})
	}
	if planned.L2 == nil && len(c.L2Policies) > 0 {
		planned.L2 = plan.ComputeL2(plan.Input{Cluster: c, Allocations: allocs, Options: opts})
	}
	in := &doctor.Input{Cluster: c, ManifestProblems: DoctorProblems(b.Problems), Results: results, Pools: r.alloc.Pools(),
		Plan: planned.BGP, PlanOptions: opts, Node: r.cfg.Node, BGP: snap.BGP}
	if len(c.L2Policies) > 0 {
		in.L2Plan = planned.L2
	}
	if snap.L2 != nil {
		in.L2 = DoctorL2(snap.L2)
	}
	var out []status.Finding
	for _, f := range doctor.Run(in) {
		out = append(out, status.Finding{Check: f.Check, Severity: string(f.Severity), Object: f.Object, Field: f.Field, Problem: f.Problem, Fix: f.Fix, Evidence: f.Evidence})
	}
	return out
}
