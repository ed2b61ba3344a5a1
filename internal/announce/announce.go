// Package announce runs one node's announcements: its BGP speakers and its L2 responder. It
// takes the cluster as model types and the allocation results, plans the node, and hands the
// result to the declarative sinks (bgp.Speaker.Set, l2.Announcer.SetPlan). Standalone mode
// (`herald run --node`) and the cluster agent (`herald agent`) both drive it, so a node
// announces the same things whichever mode feeds it.
package announce

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/l2"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/plan"
	"github.com/heraldlb/herald/internal/status"
)

// Config is what a node announcer is told.
type Config struct {
	// Node is the node this process plays.
	Node string
	// Plan holds the planner's switches (externalIP allow-list, no-endpoint behaviour).
	Plan plan.Options
	// ShutdownGrace bounds the graceful stop of the BGP sessions.
	ShutdownGrace time.Duration
	// DrainWait is how long routes carry GRACEFUL_SHUTDOWN before the sessions close.
	DrainWait time.Duration
	// DrainOnTerm drains every peer on the way out; by default only peers without graceful
	// restart are drained (the others keep the routes until Herald is back).
	DrainOnTerm bool
	// DrainWhenCordoned drains every peer while the node is cordoned.
	DrainWhenCordoned bool
	// L2 configures the heartbeats and the ARP/NDP responder (started once an L2 policy exists).
	L2 l2.AnnouncerConfig
}

// DefaultConfig: a 5 s drain covers the ~60 ms FRR needs to act on an UPDATE many times over,
// and a router with a slower control plane.
func DefaultConfig() Config {
	return Config{ShutdownGrace: 5 * time.Second, DrainWait: 5 * time.Second,
		L2: l2.AnnouncerConfig{Heartbeats: l2.DefaultHeartbeatConfig(), Responder: l2.DefaultConfig()}}
}

// Node is one node's announcements. Apply, Refresh, Changed and Close are called from the
// owner's loop; the L2 announcer's goroutine belongs to Node and ends with Close.
type Node struct {
	cfg     Config
	log     *slog.Logger
	speaker bgp.Speaker
	// desired is what the speaker was last given, for the drain on the way out.
	desired []bgp.Instance
	l2      *l2.Announcer
	l2Err   error
	l2Stop  func()
	// leases, when set, is told the L2 announcer once it exists (cluster mode's node Leases).
	onL2 func(*l2.Announcer)
	// failed counts applies the speaker or the L2 announcer refused (herald_reconcile_errors_total).
	failed uint64
}

// Failed is how many applies failed since start: the speaker refused the configuration, or
// the L2 announcer could not start. Each failure is also a problem in that apply's snapshot.
func (n *Node) Failed() uint64 { return n.failed }

// New returns a node announcer driving speaker (nil: no BGP).
func New(cfg Config, speaker bgp.Speaker, log *slog.Logger) *Node {
	return &Node{cfg: cfg, speaker: speaker, log: log}
}

// OnL2Start registers a function called with the L2 announcer when it starts (cluster mode
// feeds it the node Leases).
func (n *Node) OnL2Start(f func(*l2.Announcer)) { n.onL2 = f }

// Allocations turns allocation results into the planner's input: only satisfied Services are
// announced, even if an unsatisfied one keeps an address.
func Allocations(results []ipam.Result) map[model.ServiceKey][]plan.Allocated {
	out := map[model.ServiceKey][]plan.Allocated{}
	for _, res := range results {
		if !res.Satisfied {
			continue
		}
		for i, a := range res.Addrs {
			out[res.Service] = append(out[res.Service], plan.Allocated{Addr: a, Pool: res.Pools[i]})
		}
	}
	return out
}

// Plans are the cluster's plans an Apply computed (nil for a side it did not plan), for a
// caller that needs them too (standalone's doctor findings) instead of planning again: at
// 100k Services a plan takes a quarter of a second.
type Plans struct {
	BGP *plan.Plan
	L2  *plan.L2Plan
}

// Apply plans this node from c and the allocations and hands the result to the speaker and
// the L2 announcer, recording what it finds in snap (problems, session and L2 state). A
// failure is reported in snap; the rest keeps working. ctx bounds the BGP calls; runCtx owns
// the L2 announcer's goroutine if this call starts it.
func (n *Node) Apply(ctx, runCtx context.Context, c *model.Cluster, allocs map[model.ServiceKey][]plan.Allocated, snap *status.Snapshot) Plans {
	var ps Plans
	if n.speaker != nil {
		ps.BGP = n.applyBGP(ctx, c, allocs, snap)
	}
	ps.L2 = n.applyL2(runCtx, c, allocs, snap)
	return ps
}

func (n *Node) problem(snap *status.Snapshot, severity, source, msg string) {
	snap.Problems = append(snap.Problems, status.Problem{Severity: severity, Source: source, Object: "Node " + n.cfg.Node, Message: msg})
}

func (n *Node) applyBGP(ctx context.Context, c *model.Cluster, allocs map[model.ServiceKey][]plan.Allocated, snap *status.Snapshot) *plan.Plan {
	p := plan.Compute(plan.Input{Cluster: c, Allocations: allocs, Options: n.cfg.Plan})
	for _, pr := range p.Problems {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "warning", Source: "bgp plan", Object: pr.Kind + " " + pr.Name, Message: pr.Reason + ": " + pr.Message})
	}
	snap.Topology = topology(p)
	node, ok := p.Nodes[n.cfg.Node]
	if !ok {
		n.problem(snap, "error", "bgp plan", "this node is not among the cluster's nodes; in standalone mode add a v1 Node object with its labels and address")
		node = &plan.Node{Name: n.cfg.Node}
	}
	desired, problems := bgp.Desired(node, secretLookup(c.Secrets))
	for _, msg := range problems {
		n.problem(snap, "error", "bgp", msg)
	}
	if n.cfg.DrainWhenCordoned && cordoned(c, n.cfg.Node) {
		desired = bgp.Drain(desired, bgp.AllPeers)
		n.problem(snap, "warning", "bgp", "the node is cordoned: every route carries GRACEFUL_SHUTDOWN (65535:0) so routers send traffic elsewhere")
	}
	n.desired = desired
	start := time.Now()
	prefixes := 0
	for _, in := range desired {
		for _, p := range in.Peers {
			prefixes += len(p.Routes)
		}
	}
	n.log.Info("bgp: applying", "peer_routes", prefixes) // the BGP benchmarks time from this line
	if err := n.speaker.Set(ctx, desired); err != nil {
		n.log.Error("applying BGP configuration", "err", err)
		n.problem(snap, "error", "bgp", err.Error())
		n.failed++
	}
	n.log.Info("bgp: applied", "duration", time.Since(start).Round(time.Microsecond))
	snap.BGP, _ = n.speaker.Status(ctx)
	return p
}

// Withdraw takes the host routes of the gone addresses out of what the speaker advertises,
// before the next Apply has planned anything: the owner calls it when it already knows that
// many addresses are going (their Services are gone), so their withdrawal leaves while the
// allocator is still releasing them. It reports how many peer routes it withdrew; a failure
// is logged and left to the next Apply, which sets the whole state again.
func (n *Node) Withdraw(ctx context.Context, gone map[netip.Addr]bool) int {
	if n.speaker == nil || len(gone) == 0 {
		return 0
	}
	desired, taken := bgp.Without(n.desired, gone)
	if taken == 0 {
		return 0
	}
	start := time.Now()
	n.log.Info("bgp: withdrawing ahead of the plan", "peer_routes", taken)
	if err := n.speaker.Set(ctx, desired); err != nil {
		n.log.Error("withdrawing the routes of gone Services", "err", err)
		return 0
	}
	n.log.Info("bgp: withdrawn ahead of the plan", "duration", time.Since(start).Round(time.Microsecond))
	n.desired = desired
	return taken
}

func (n *Node) applyL2(runCtx context.Context, c *model.Cluster, allocs map[model.ServiceKey][]plan.Allocated, snap *status.Snapshot) *plan.L2Plan {
	if len(c.L2Policies) == 0 && n.l2 == nil {
		return nil
	}
	p := plan.ComputeL2(plan.Input{Cluster: c, Allocations: allocs, Options: n.cfg.Plan})
	for _, pr := range p.Problems {
		snap.Problems = append(snap.Problems, status.Problem{Severity: "warning", Source: "l2 plan", Object: pr.Kind + " " + pr.Name, Message: pr.Reason + ": " + pr.Message})
	}
	if n.l2 == nil && n.l2Err == nil {
		cfg := n.cfg.L2
		cfg.Node = n.cfg.Node
		a, err := l2.NewAnnouncer(cfg, n.log.With("component", "l2"))
		if err != nil {
			n.l2Err = err // reported on every apply; not retried in a loop
		} else {
			if n.onL2 != nil {
				n.onL2(a) // before Run: hooks are set while nothing reads them
			}
			ctx, cancel := context.WithCancel(runCtx)
			done := make(chan struct{})
			go func() { defer close(done); _ = a.Run(ctx) }()
			n.l2, n.l2Stop = a, func() { cancel(); <-done }
		}
	}
	if n.l2Err != nil {
		n.problem(snap, "error", "l2", n.l2Err.Error())
		n.failed++
		return p
	}
	nodes := map[string][]netip.Addr{}
	for _, nd := range c.Nodes {
		nodes[nd.Name] = nd.Addresses
	}
	n.l2.SetPlan(p.Addresses, nodes)
	snap.L2 = n.l2.Status()
	return p
}

// Refresh fills snap with the current session and L2 state; false when there is none.
func (n *Node) Refresh(ctx context.Context, snap *status.Snapshot) bool {
	if n.speaker == nil && n.l2 == nil {
		return false
	}
	if n.speaker != nil {
		st, err := n.speaker.Status(ctx)
		if err != nil {
			return false
		}
		snap.BGP = st
	}
	if n.l2 != nil {
		snap.L2 = n.l2.Status()
	}
	return true
}

// Changed is signalled when the L2 owners change; nil (never) without L2.
func (n *Node) Changed() <-chan struct{} {
	if n.l2 == nil {
		return nil
	}
	return n.l2.Changed()
}

// Routes lists one instance's routes (for `herald bgp routes`).
func (n *Node) Routes(ctx context.Context, instance, peer, afi string) ([]bgp.RouteStatus, error) {
	if n.speaker == nil {
		return nil, fmt.Errorf("this herald runs no BGP speaker")
	}
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
	return n.speaker.Routes(ctx, instance, addr, model.AFISAFI{AFI: afi, SAFI: "unicast"})
}

// Close stops answering ARP/NDP and ends the BGP sessions: peers that would drop the routes at
// once (no graceful restart, or all with DrainOnTerm) first get every route again with
// GRACEFUL_SHUTDOWN, so routers move traffic before the sessions close; peers with graceful
// restart keep the routes, with no Cease, until Herald is back.
func (n *Node) Close() {
	if n.l2Stop != nil {
		n.l2Stop()
	}
	if n.speaker == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.DrainWait+n.cfg.ShutdownGrace)
	defer cancel()
	which := bgp.WithoutGracefulRestart
	if n.cfg.DrainOnTerm {
		which = bgp.AllPeers
	}
	if drained := bgp.Drain(n.desired, which); bgp.Draining(drained) && n.cfg.DrainWait > 0 {
		n.log.Info("graceful shutdown: routes re-advertised with GRACEFUL_SHUTDOWN before the sessions close", "wait", n.cfg.DrainWait)
		if err := n.speaker.Set(ctx, drained); err != nil {
			n.log.Error("graceful shutdown", "err", err)
		}
		select {
		case <-time.After(n.cfg.DrainWait):
		case <-ctx.Done():
		}
	}
	_ = n.speaker.Stop(ctx, !n.cfg.DrainOnTerm)
}

// topology lists every planned node with its peers and what it advertises, for the page.
func topology(p *plan.Plan) []status.TopoNode {
	var out []status.TopoNode
	for _, name := range slices.Sorted(maps.Keys(p.Nodes)) {
		pn := p.Nodes[name]
		tn := status.TopoNode{Name: name}
		for _, in := range pn.Instances {
			for _, pe := range in.Peers {
				tn.Peers = append(tn.Peers, pe.Address.String())
				for _, f := range pe.Families {
					for _, r := range f.Routes {
						if r.Prefix.IsSingleIP() {
							tn.Advertises = append(tn.Advertises, r.Prefix.Addr().String())
						} else {
							tn.Advertises = append(tn.Advertises, r.Prefix.String())
						}
					}
				}
			}
		}
		slices.Sort(tn.Peers)
		tn.Peers = slices.Compact(tn.Peers)
		slices.Sort(tn.Advertises)
		tn.Advertises = slices.Compact(tn.Advertises)
		out = append(out, tn)
	}
	return out
}

func cordoned(c *model.Cluster, node string) bool {
	for _, n := range c.Nodes {
		if n.Name == node {
			return n.Unschedulable
		}
	}
	return false
}

// secretLookup finds MD5 passwords by Secret name.
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
