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
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/bgp/gobgp"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/l2"
	"github.com/heraldlb/herald/internal/manifest"
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
	// Plan holds the BGP planner's switches (externalIP allow-list, no-endpoint behaviour).
	Plan plan.Options
	// ShutdownGrace bounds the graceful stop of the BGP sessions.
	ShutdownGrace time.Duration
	// DrainWait is how long routes carry GRACEFUL_SHUTDOWN before the sessions close, so
	// routers move traffic to other nodes first.
	DrainWait time.Duration
	// DrainOnTerm drains every peer on SIGTERM; by default only peers without graceful
	// restart are drained (the others keep the routes until Herald is back).
	DrainOnTerm bool
	// DrainWhenCordoned drains every peer while the node is cordoned (spec.unschedulable).
	DrainWhenCordoned bool
	// L2 configures the heartbeats and the ARP/NDP responder (used once an L2 policy exists).
	L2 l2.AnnouncerConfig
}

// DefaultConfig polls twice a second: edits show up within half a second, and reading a few
// manifests that often costs nothing measurable.
func DefaultConfig() Config {
	// DrainWait of 5 s covers the ~60 ms FRR needs to act on an UPDATE many times over, and a
	// router with a slower control plane; ShutdownGrace then bounds the session close.
	return Config{Poll: 500 * time.Millisecond, IPAM: ipam.DefaultConfig(), ShutdownGrace: 5 * time.Second, DrainWait: 5 * time.Second,
		L2: l2.AnnouncerConfig{Heartbeats: l2.DefaultHeartbeatConfig(), Responder: l2.DefaultConfig()}}
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
	// speaker runs this node's BGP instances; nil without --node.
	speaker bgp.Speaker
	// desired is what the speaker was last given, for the drain on shutdown.
	desired []bgp.Instance
	last    *status.Snapshot
	// l2 runs the L2 announcements; nil until the manifests hold an L2 policy (so a host that
	// does not use L2 binds no heartbeat port). Its goroutine belongs to Run, through l2Stop.
	l2     *l2.Announcer
	l2Err  error
	l2Stop func()
	runCtx context.Context
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
		r.speaker = gobgp.New(sc, r.log.With("component", "bgp"))
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

	if r.speaker != nil {
		// On every way out, end the sessions gracefully: routers that do graceful restart
		// keep the routes while Herald restarts (and, for a crash, for the restart time).
		defer r.shutdownBGP()
	}
	r.runCtx = ctx
	defer func() {
		if r.l2Stop != nil {
			r.l2Stop()
		}
	}()
	// The first reconcile happens before the API answers, so nobody reads an empty state.
	if err := r.reconcile(ctx); err != nil {
		return err
	}
	srv := &status.Server{Holder: r.holder, Log: r.log, Metrics: metrics.Handler(r.holder)}
	if r.speaker != nil {
		srv.Routes = r.routes
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
// would not restore.
func (r *Runner) reconcile(ctx context.Context) error {
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
	snap := r.snapshot(built, results)
	allocs := map[model.ServiceKey][]plan.Allocated{}
	for _, res := range results {
		if !res.Satisfied {
			continue // an unsatisfied Service is not announced, even if it keeps an address
		}
		for i, a := range res.Addrs {
			allocs[res.Service] = append(allocs[res.Service], plan.Allocated{Addr: a, Pool: res.Pools[i]})
		}
	}
	if r.speaker != nil {
		r.applyBGP(ctx, c, allocs, snap)
	}
	r.applyL2(c, allocs, snap)
	r.last = snap
	r.holder.Publish(snap)
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

// applyBGP plans this node and hands the result to the speaker. A failure is logged and
// reported in the snapshot; the allocation side keeps working.
func (r *Runner) applyBGP(ctx context.Context, c *model.Cluster, allocs map[model.ServiceKey][]plan.Allocated, snap *status.Snapshot) {
	p := plan.Compute(plan.Input{Cluster: c, Allocations: allocs, Options: r.cfg.Plan})
	for _, pr := range p.Problems {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "warning", Source: "bgp plan", Object: pr.Kind + " " + pr.Name, Message: pr.Reason + ": " + pr.Message})
	}
	node, ok := p.Nodes[r.cfg.Node]
	if !ok {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "error", Source: "bgp plan", Object: "Node " + r.cfg.Node,
			Message: "--node names a node that is not in the manifests; add a v1 Node object with its labels and address"})
		node = &plan.Node{Name: r.cfg.Node}
	}
	desired, problems := bgp.Desired(node, secretLookup(c.Secrets))
	for _, msg := range problems {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "error", Source: "bgp", Object: "Node " + r.cfg.Node, Message: msg})
	}
	if r.cfg.DrainWhenCordoned && cordoned(c, r.cfg.Node) {
		desired = bgp.Drain(desired, bgp.AllPeers)
		snap.Problems = append(snap.Problems, status.Problem{Severity: "warning", Source: "bgp", Object: "Node " + r.cfg.Node,
			Message: "the node is cordoned: every route carries GRACEFUL_SHUTDOWN (65535:0) so routers send traffic elsewhere"})
	}
	r.desired = desired
	setStart := time.Now()
	prefixes := 0
	for _, in := range desired {
		for _, p := range in.Peers {
			prefixes += len(p.Routes)
		}
	}
	r.log.Info("bgp: applying", "peer_routes", prefixes)
	defer func() { r.log.Info("bgp: applied", "duration", time.Since(setStart).Round(time.Microsecond)) }()
	if err := r.speaker.Set(ctx, desired); err != nil {
		r.log.Error("applying BGP configuration", "err", err)
		snap.Problems = append(snap.Problems, status.Problem{Severity: "error", Source: "bgp", Object: "Node " + r.cfg.Node, Message: err.Error()})
	}
	snap.BGP, _ = r.speaker.Status(ctx)
}

// shutdownBGP ends the sessions on the way out. Peers that would drop the routes at once
// (no graceful restart, or all with DrainOnTerm) first get every route again with
// GRACEFUL_SHUTDOWN, so routers move traffic before the sessions close; peers with graceful
// restart keep the routes, with no Cease, until Herald is back.
func (r *Runner) shutdownBGP() {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DrainWait+r.cfg.ShutdownGrace)
	defer cancel()
	which := bgp.WithoutGracefulRestart
	if r.cfg.DrainOnTerm {
		which = bgp.AllPeers
	}
	if drained := bgp.Drain(r.desired, which); bgp.Draining(drained) && r.cfg.DrainWait > 0 {
		r.log.Info("graceful shutdown: routes re-advertised with GRACEFUL_SHUTDOWN before the sessions close", "wait", r.cfg.DrainWait)
		if err := r.speaker.Set(ctx, drained); err != nil {
			r.log.Error("graceful shutdown", "err", err)
		}
		select {
		case <-time.After(r.cfg.DrainWait):
		case <-ctx.Done():
		}
	}
	_ = r.speaker.Stop(ctx, !r.cfg.DrainOnTerm)
}

func cordoned(c *model.Cluster, node string) bool {
	for _, n := range c.Nodes {
		if n.Name == node {
			return n.Unschedulable
		}
	}
	return false
}

// refresh republishes the snapshot with fresh session and L2 state.
func (r *Runner) refresh(ctx context.Context) {
	if r.last == nil || (r.speaker == nil && r.l2 == nil) {
		return
	}
	next := *r.last
	if r.speaker != nil {
		st, err := r.speaker.Status(ctx)
		if err != nil {
			return
		}
		next.BGP = st
	}
	if r.l2 != nil {
		next.L2 = r.l2.Status()
	}
	next.Generated = time.Now()
	r.last = &next
	r.holder.Publish(&next)
}

// applyL2 plans the L2 announcements and hands them to the announcer, starting it the first
// time an L2 policy shows up.
func (r *Runner) applyL2(c *model.Cluster, allocs map[model.ServiceKey][]plan.Allocated, snap *status.Snapshot) {
	if len(c.L2Policies) == 0 && r.l2 == nil {
		return
	}
	p := plan.ComputeL2(plan.Input{Cluster: c, Allocations: allocs, Options: r.cfg.Plan})
	for _, pr := range p.Problems {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "warning", Source: "l2 plan", Object: pr.Kind + " " + pr.Name, Message: pr.Reason + ": " + pr.Message})
	}
	if r.cfg.Node == "" {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "warning", Source: "l2", Object: "L2AnnouncementPolicy",
			Message: "L2 policies need --node: this host answers ARP/NDP as one of the manifests' nodes"})
		return
	}
	if r.l2 == nil && r.l2Err == nil {
		cfg := r.cfg.L2
		cfg.Node = r.cfg.Node
		a, err := l2.NewAnnouncer(cfg, r.log.With("component", "l2"))
		if err != nil {
			r.l2Err = err // reported below on every reconcile; not retried in a loop
		} else {
			ctx, cancel := context.WithCancel(r.runCtx)
			done := make(chan struct{})
			go func() { defer close(done); _ = a.Run(ctx) }()
			r.l2, r.l2Stop = a, func() { cancel(); <-done }
		}
	}
	if r.l2Err != nil {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "error", Source: "l2", Object: "Node " + r.cfg.Node, Message: r.l2Err.Error()})
		return
	}
	nodes := map[string][]netip.Addr{}
	for _, n := range c.Nodes {
		nodes[n.Name] = n.Addresses
	}
	r.l2.SetPlan(p.Addresses, nodes)
	snap.L2 = r.l2.Status()
}

// l2Changed is signalled when the L2 owners change; nil (never) without L2.
func (r *Runner) l2Changed() <-chan struct{} {
	if r.l2 == nil {
		return nil
	}
	return r.l2.Changed()
}

func (r *Runner) routes(ctx context.Context, instance, peer, afi string) ([]bgp.RouteStatus, error) {
	var addr netip.Addr
	if peer != "" {
		a, err := netip.ParseAddr(peer)
		if err != nil {
			return nil, fmt.Errorf("peer %q is not an address", peer)
		}
		addr = a
	}
	if afi == "" {
		afi = "ipv4"
	}
	return r.speaker.Routes(ctx, instance, addr, model.AFISAFI{AFI: afi, SAFI: "unicast"})
}

// secretLookup finds MD5 passwords by Secret name (standalone manifests: any namespace).
func secretLookup(secrets []model.Secret) bgp.SecretFunc {
	return func(name string) (string, bool) {
		for _, s := range secrets {
			if s.Name == name {
				pw, ok := s.Data["password"]
				return string(pw), ok
			}
		}
		return "", false
	}
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
