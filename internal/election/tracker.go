package election

import (
	"fmt"
	"slices"
	"time"
)

// Config tunes failure detection.
type Config struct {
	// DeadAfter is how long a peer may stay silent before this node stops hearing it.
	DeadAfter time.Duration
	// FenceAfter is how long this node may hear nobody before it fences itself (when the
	// evidence says the others still talk). It must be well under DeadAfter: the cut node has
	// to fall silent before the others take its addresses, whatever the phases of the
	// heartbeats. Fencing on a short loss burst costs little: neighbour caches keep pointing
	// at the node, and nobody else takes its addresses before DeadAfter.
	FenceAfter time.Duration
	// Warmup is how long after start a peer not heard yet counts as up: a starting agent must
	// not answer for every address before its first heartbeats arrive.
	Warmup time.Duration
	// EvidenceFor is how long an isolated node trusts its peers' last reports when there are
	// no Leases (standalone); in cluster mode a report counts while its sender's Lease does.
	EvidenceFor time.Duration
}

// DefaultConfig detects a dead peer in half a second: with heartbeats every 100 ms that is
// five lost in a row, which a healthy LAN does not do, and it leaves room for the gratuitous
// ARP within the one-second failover goal.
func DefaultConfig() Config {
	return Config{DeadAfter: 500 * time.Millisecond, FenceAfter: 200 * time.Millisecond, Warmup: time.Second, EvidenceFor: 10 * time.Second}
}

// Report is one heartbeat: who sent it, what it has, and whom it hears.
type Report struct {
	Node   string
	Member Member
	// Hears are the nodes the sender heard directly and recently when it sent this.
	Hears []string
}

// State is a node's health in one agent's view.
type State string

// States. Up, Vouched, Assumed and Lease are healthy.
const (
	StateSelf    State = "self"    // this node, answering
	StateFenced  State = "fenced"  // this node, silent: its heartbeat path is cut
	StateUp      State = "up"      // heard directly
	StateVouched State = "vouched" // not heard, but a peer this node hears hears it
	StateAssumed State = "assumed" // not heard yet; still warming up
	StateLease   State = "lease"   // not heard, this node hears nobody, and its Lease is renewed
	StateDown    State = "down"
)

// Healthy reports whether a node in this state may own addresses.
func (s State) Healthy() bool {
	switch s {
	case StateSelf, StateUp, StateVouched, StateAssumed, StateLease:
		return true
	}
	return false
}

type peer struct {
	heard  time.Time
	report Report
}

// Tracker turns heartbeats (and Leases) into node health. It is not safe for concurrent use;
// its owner serialises calls.
type Tracker struct {
	self   string
	cfg    Config
	start  time.Time
	peers  map[string]*peer
	leases map[string]bool // nil: no Leases (standalone)
}

// NewTracker starts tracking for node self at time start.
func NewTracker(self string, cfg Config, start time.Time) *Tracker {
	return &Tracker{self: self, cfg: cfg, start: start, peers: map[string]*peer{}}
}

// Heard records a heartbeat received at now.
func (t *Tracker) Heard(now time.Time, r Report) {
	if r.Node == t.self || r.Node == "" {
		return
	}
	t.peers[r.Node] = &peer{heard: now, report: r}
}

// SetLeases sets which nodes' Leases are being renewed (cluster mode). Nil means no Lease
// information, as in standalone mode.
func (t *Tracker) SetLeases(valid map[string]bool) { t.leases = valid }

func (t *Tracker) fresh(now time.Time, p *peer) bool {
	return p != nil && !p.heard.IsZero() && now.Sub(p.heard) <= t.cfg.DeadAfter
}

// Hears returns the nodes heard directly within DeadAfter, sorted: what this node's own
// heartbeats report.
func (t *Tracker) Hears(now time.Time) []string {
	var out []string
	for name, p := range t.peers {
		if t.fresh(now, p) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Ready reports whether this node has warmed up: it heard every other node at least once, or
// Warmup has passed (some of them are down).
func (t *Tracker) Ready(now time.Time, nodes []string) bool {
	if now.Sub(t.start) >= t.cfg.Warmup {
		return true
	}
	for _, n := range nodes {
		if n != t.self && t.peers[n] == nil {
			return false
		}
	}
	return true
}

// Members returns what each node last reported about itself, plus self (with Ready set).
func (t *Tracker) Members(now time.Time, nodes []string, self Member) map[string]Member {
	out := make(map[string]Member, len(t.peers)+1)
	for name, p := range t.peers {
		out[name] = p.report.Member
	}
	self.Ready = t.Ready(now, nodes)
	out[t.self] = self
	return out
}

// View is one agent's verdict on every node.
type View struct {
	States map[string]State
	// Why explains the self state when it is fenced.
	Why string
}

// Healthy reports whether node may own addresses in this view.
func (v View) Healthy(node string) bool { return v.States[node].Healthy() }

// View computes the health of nodes (the cluster's nodes, self included) at now. The rules,
// in order, for a peer P:
//
//  1. heard directly within DeadAfter: up;
//  2. a peer this node hears reported hearing P: vouched (only the path between the two is cut);
//  3. never heard and still within Warmup: assumed;
//  4. this node hears some peer, and none of them hears P: down (a witness agrees);
//  5. this node hears nobody: P is up while its Lease is renewed (lease), else down.
//
// And for itself: a node that has heard nobody for FenceAfter while a peer's last report (still trusted: its Lease
// is renewed, or within EvidenceFor without Leases) says that peer hears a third node knows the
// others can talk without it: its own heartbeat path is cut, they will take its addresses, so it
// fences itself and answers for nothing. Without that, cutting only the heartbeat path of one
// node would make two nodes answer for its addresses.
func (t *Tracker) View(now time.Time, nodes []string) View {
	v := View{States: make(map[string]State, len(nodes))}
	var heard []string
	for _, n := range nodes {
		if n != t.self && t.fresh(now, t.peers[n]) {
			heard = append(heard, n)
		}
	}
	isolated := len(heard) == 0
	for _, n := range nodes {
		if n == t.self {
			continue
		}
		p := t.peers[n]
		switch {
		case t.fresh(now, p):
			v.States[n] = StateUp
		case t.vouched(now, heard, n):
			v.States[n] = StateVouched
		case p == nil && now.Sub(t.start) < t.cfg.Warmup:
			v.States[n] = StateAssumed
		case !isolated:
			v.States[n] = StateDown
		case t.leases != nil && t.leases[n]:
			v.States[n] = StateLease
		default:
			v.States[n] = StateDown
		}
	}
	v.States[t.self] = StateSelf
	quiet := true
	for _, n := range heard {
		quiet = quiet && now.Sub(t.peers[n].heard) > t.cfg.FenceAfter
	}
	if quiet {
		if p, third, ok := t.othersTalk(now, nodes); ok {
			v.States[t.self] = StateFenced
			v.Why = fmt.Sprintf("this node hears no peer, while %s still hears %s: its heartbeat path is cut, so it answers for nothing until it hears a peer again", p, third)
		}
	}
	return v
}

func (t *Tracker) vouched(now time.Time, heard []string, n string) bool {
	for _, q := range heard {
		if slices.Contains(t.peers[q].report.Hears, n) {
			return true
		}
	}
	return false
}

// othersTalk finds a trusted peer report that hears a node other than this one and the sender.
func (t *Tracker) othersTalk(now time.Time, nodes []string) (sender, third string, ok bool) {
	for _, n := range nodes {
		p := t.peers[n]
		if n == t.self || p == nil {
			continue
		}
		trusted := now.Sub(p.heard) <= t.cfg.EvidenceFor
		if t.leases != nil {
			trusted = t.leases[n]
		}
		if !trusted {
			continue
		}
		for _, h := range p.report.Hears {
			if h != t.self && h != n && slices.Contains(nodes, h) {
				return n, h, true
			}
		}
	}
	return "", "", false
}
