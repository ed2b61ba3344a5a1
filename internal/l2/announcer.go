package l2

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldlb/herald/internal/election"
	"github.com/heraldlb/herald/internal/plan"
	"github.com/heraldlb/herald/internal/status"
)

// AnnouncerConfig is everything the announcer is told.
type AnnouncerConfig struct {
	Node       string
	Heartbeats HeartbeatConfig
	Responder  Config
	// Local reports this host's interfaces; LocalMember by default (tests of the pure parts
	// pass their own).
	Local func() (election.Member, error)
}

// Announcer is one node's L2 announcements: heartbeats with the other agents, the election,
// and the responder, evaluated every heartbeat interval. Run owns every goroutine.
type Announcer struct {
	cfg  AnnouncerConfig
	log  *slog.Logger
	hb   *Heartbeats
	resp *Responder
	// changed is told (without blocking) when the status changed.
	changed chan struct{}
	// onOwned, when set, is told this node's share each time it changes.
	onOwned func([]Owned)

	mu      sync.Mutex
	addrs   []plan.L2Address
	planGen uint64
	// memo is the last assignment and what it was computed from: the owners only change
	// when the plan or some node's health or interfaces do, so most ticks reuse it.
	memoKey  string
	memoGen  uint64
	assigned []election.Assignment
	owners   map[netip.Addr]string
	since    map[netip.Addr]time.Time
	moves    uint64
	status   *status.L2
	lastSet  time.Time
	owned    []Owned
}

// NewAnnouncer binds the heartbeat port; Run starts it.
func NewAnnouncer(cfg AnnouncerConfig, log *slog.Logger) (*Announcer, error) {
	if cfg.Local == nil {
		cfg.Local = LocalMember
	}
	hb, err := ListenHeartbeats(cfg.Heartbeats, cfg.Node, log)
	if err != nil {
		return nil, err
	}
	return &Announcer{cfg: cfg, log: log, hb: hb, resp: New(cfg.Responder, log), changed: make(chan struct{}, 1),
		owners: map[netip.Addr]string{}, since: map[netip.Addr]time.Time{}}, nil
}

// OnOwned registers a function told this node's share of the addresses whenever it changes
// (cluster mode publishes it in the node's Lease). Call before Run.
func (a *Announcer) OnOwned(f func([]Owned)) { a.onOwned = f }

// Changed is signalled when Status changes.
func (a *Announcer) Changed() <-chan struct{} { return a.changed }

// SetPlan sets the addresses to announce and the cluster's nodes with their addresses.
func (a *Announcer) SetPlan(addrs []plan.L2Address, nodes map[string][]netip.Addr) {
	a.hb.SetNodes(nodes)
	a.mu.Lock()
	a.addrs = addrs
	a.planGen++
	a.mu.Unlock()
}

// SetLeases passes on which nodes' Leases are renewed (cluster mode: NodeLeases' verdict).
func (a *Announcer) SetLeases(valid map[string]bool) { a.hb.SetLeases(valid) }

// Status returns the last evaluation.
func (a *Announcer) Status() *status.L2 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// Run heartbeats, elects and answers until ctx ends; then it stops answering everywhere.
func (a *Announcer) Run(ctx context.Context) error {
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.hb.Run(hctx) }()
	defer func() {
		cancel()
		<-done
		a.resp.Close()
	}()
	t := time.NewTicker(a.cfg.Heartbeats.Interval)
	defer t.Stop()
	var lastLocal time.Time
	for {
		now := time.Now()
		if now.Sub(lastLocal) >= time.Second {
			// Interfaces come and go rarely; once a second is soon enough and cheap.
			if m, err := a.cfg.Local(); err != nil {
				a.log.Warn("L2: listing interfaces", "err", err)
			} else {
				a.hb.SetSelf(m)
			}
			lastLocal = now
		}
		a.evaluate(now)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// evaluate decides the owners and hands this node's share to the responder.
func (a *Announcer) evaluate(now time.Time) {
	v := a.hb.Verdict(now)
	key := verdictKey(v)
	a.mu.Lock()
	addrs, gen := a.addrs, a.planGen
	assigned := a.assigned
	fresh := key == a.memoKey && gen == a.memoGen && assigned != nil
	a.mu.Unlock()
	if !fresh {
		assigned = election.Assign(addrs, v.Members, v.View.Healthy)
		a.mu.Lock()
		a.memoKey, a.memoGen, a.assigned = key, gen, assigned
		a.mu.Unlock()
	}

	st := &status.L2{Node: a.cfg.Node, Fenced: v.View.States[a.cfg.Node] == election.StateFenced, Why: v.View.Why}
	for _, n := range v.Nodes {
		st.Nodes = append(st.Nodes, status.L2Node{Name: n, State: string(v.View.States[n]), Interfaces: v.Members[n].Interfaces})
	}
	var owned []Owned
	a.mu.Lock()
	seen := map[netip.Addr]bool{}
	for _, as := range assigned {
		seen[as.Addr] = true
		if prev, ok := a.owners[as.Addr]; !ok || prev != as.Owner {
			if ok && prev != "" {
				a.moves++ // a move, not the first owner an address ever had
			}
			if ok {
				a.log.Info("L2: owner changed", "address", as.Addr, "service", as.Service, "from", prev, "to", as.Owner)
			}
			a.owners[as.Addr] = as.Owner
			a.since[as.Addr] = now
		}
		if as.Owner == a.cfg.Node {
			owned = append(owned, Owned{Addr: as.Addr, Interfaces: as.Interfaces})
		}
		st.Announcements = append(st.Announcements, status.L2Announcement{IP: as.Addr.String(), Service: as.Service, Owner: as.Owner,
			Interfaces: as.Interfaces, Since: a.since[as.Addr], Candidates: as.Candidates})
	}
	for addr := range a.owners {
		if !seen[addr] {
			delete(a.owners, addr)
			delete(a.since, addr)
		}
	}
	// Set when the share changed, and once in a while anyway so that a re-created interface
	// is reopened.
	shareChanged := !slices.EqualFunc(owned, a.owned, func(x, y Owned) bool { return x.Addr == y.Addr && slices.Equal(x.Interfaces, y.Interfaces) })
	setNow := shareChanged || now.Sub(a.lastSet) > 2*time.Second
	if setNow {
		a.owned, a.lastSet = owned, now
	}
	moves := a.moves
	a.mu.Unlock()
	if setNow {
		if err := a.resp.Set(owned); err != nil {
			a.log.Error("L2: answering", "err", err)
		}
	}
	if shareChanged && a.onOwned != nil {
		a.onOwned(owned)
	}
	rs := a.resp.Stats()
	st.Counters = status.L2Counters{ARPAnswered: rs.ARPAnswered, NSAnswered: rs.NSAnswered, GratuitousARPs: rs.GratuitousARPs,
		UnsolicitedNAs: rs.UnsolicitedNA, OwnershipChanges: moves, HeartbeatsDropped: uint64(v.Dropped)}

	a.mu.Lock()
	prev := a.status
	a.status = st
	a.mu.Unlock()
	if prev == nil || !sameL2(prev, st) {
		select {
		case a.changed <- struct{}{}:
		default:
		}
	}
}

// verdictKey captures everything of a verdict that Assign reads: each node's health, readiness
// and interfaces.
func verdictKey(v Verdict) string {
	var b strings.Builder
	for _, n := range v.Nodes {
		m := v.Members[n]
		fmt.Fprintf(&b, "%s|%s|%t|%s|%s;", n, v.View.States[n], m.Ready, m.DefaultInterface, strings.Join(m.Interfaces, ","))
	}
	return b.String()
}

// sameL2 compares what a reader would notice: owners, states and fencing (counters move on
// their own and are read with the next snapshot).
func sameL2(a, b *status.L2) bool {
	if a.Fenced != b.Fenced || len(a.Nodes) != len(b.Nodes) || len(a.Announcements) != len(b.Announcements) {
		return false
	}
	for i := range a.Nodes {
		if a.Nodes[i].Name != b.Nodes[i].Name || a.Nodes[i].State != b.Nodes[i].State {
			return false
		}
	}
	for i := range a.Announcements {
		x, y := a.Announcements[i], b.Announcements[i]
		if x.IP != y.IP || x.Owner != y.Owner || !slices.Equal(x.Interfaces, y.Interfaces) {
			return false
		}
	}
	return true
}
