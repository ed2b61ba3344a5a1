// Package status holds the status snapshot, the one structure that the CLI, the status page,
// the metrics and the CRD status all read, and the small local HTTP API that serves it.
package status

import (
	"encoding/json"
	"iter"
	"math/big"
	"sync"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/ipam"
)

// Snapshot is Herald's state at one moment. It is immutable once published.
type Snapshot struct {
	Generated time.Time `json:"generated"`
	Mode      string    `json:"mode"`
	Node      string    `json:"node,omitempty"`
	// Sources are the manifest paths (standalone) the state was built from.
	Sources  []string  `json:"sources,omitempty"`
	Pools    []Pool    `json:"pools"`
	Services Services  `json:"services"`
	Problems []Problem `json:"problems"`
	// BGP is this node's speakers (empty when the node runs none).
	BGP []bgp.InstanceStatus `json:"bgp"`
	// L2 is this node's L2 announcements (nil when it runs none).
	L2 *L2 `json:"l2,omitempty"`
	// Topology is every node the BGP plan knows (this one and the others), whom each peers
	// with and what it advertises: the page draws the whole picture from it. Session state is
	// only known for this node.
	Topology []TopoNode `json:"topology,omitempty"`
	// Findings are herald doctor's checks run on this state (without probes): what is wrong,
	// why, and how to fix it. Manifest problems are among them.
	Findings []Finding `json:"findings,omitempty"`
	// Reconciles counts full reconciles since start; ReconcileDuration is the last one's.
	Reconciles        uint64        `json:"reconciles"`
	ReconcileDuration time.Duration `json:"reconcileDuration"`
	// ReconcileErrors counts reconciles whose apply failed (the speaker or the L2 announcer
	// refused it); each failure is also among that snapshot's problems.
	ReconcileErrors uint64 `json:"reconcileErrors"`
}

// Pool is a pool's counts and state.
type Pool struct {
	Name          string   `json:"name"`
	Disabled      bool     `json:"disabled"`
	Conflicting   bool     `json:"conflicting"`
	ConflictsWith string   `json:"conflictsWith,omitempty"`
	Families      []string `json:"families"`
	Total         *big.Int `json:"total"`
	Used          int      `json:"used"`
	Available     *big.Int `json:"available"`
}

// Service is a LoadBalancer Service's allocation.
type Service struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	IPs       []string `json:"ips"`
	Pools     []string `json:"pools"`
	Satisfied bool     `json:"satisfied"`
	Reason    string   `json:"reason"`
	Message   string   `json:"message,omitempty"`
}

// Finding is one of herald doctor's findings, as the page and herald status show them.
type Finding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Object   string `json:"object"`
	Field    string `json:"field,omitempty"`
	Problem  string `json:"problem"`
	Fix      string `json:"fix"`
	Evidence string `json:"evidence,omitempty"`
}

// Problem is something wrong with the configuration, as validate reports it.
type Problem struct {
	Severity string `json:"severity"`
	Source   string `json:"source"`
	Object   string `json:"object,omitempty"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
}

// Holder publishes snapshots to readers. Readers never block the writer.
type Holder struct {
	mu      sync.Mutex
	cur     *Snapshot
	changed chan struct{}
}

// NewHolder returns a holder with an empty snapshot.
func NewHolder() *Holder {
	return &Holder{cur: &Snapshot{}, changed: make(chan struct{})}
}

// Publish replaces the snapshot and wakes every waiter.
func (h *Holder) Publish(s *Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cur = s
	close(h.changed)
	h.changed = make(chan struct{})
}

// Get returns the current snapshot and a channel closed when it is replaced.
func (h *Holder) Get() (*Snapshot, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur, h.changed
}

// TopoNode is one node of the planned topology.
type TopoNode struct {
	Name string `json:"name"`
	// Peers are the addresses of the routers it peers with.
	Peers []string `json:"peers,omitempty"`
	// Advertises are the addresses (or aggregates) it advertises.
	Advertises []string `json:"advertises,omitempty"`
}

// L2 is this node's view of the L2 announcements.
type L2 struct {
	Node string `json:"node"`
	// Fenced is true when this node stopped answering because its heartbeat path is cut.
	Fenced bool   `json:"fenced,omitempty"`
	Why    string `json:"why,omitempty"`
	// Nodes is every node's health in this node's view.
	Nodes         []L2Node         `json:"nodes"`
	Announcements []L2Announcement `json:"announcements"`
	Counters      L2Counters       `json:"counters"`
}

// L2Node is one node's health as this node sees it.
type L2Node struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Interfaces are the interfaces the node reported.
	Interfaces []string `json:"interfaces,omitempty"`
}

// L2Announcement is one address and who answers for it.
type L2Announcement struct {
	IP      string `json:"ip"`
	Service string `json:"service"`
	// Owner is "" when no eligible node is healthy.
	Owner      string   `json:"owner"`
	Interfaces []string `json:"interfaces,omitempty"`
	// Since is when this node saw the owner take the address.
	Since      time.Time `json:"since"`
	Candidates []string  `json:"candidates"`
}

// L2Counters are the responder's and the election's counters since start.
type L2Counters struct {
	ARPAnswered       uint64 `json:"arpAnswered"`
	NSAnswered        uint64 `json:"nsAnswered"`
	GratuitousARPs    uint64 `json:"gratuitousArps"`
	UnsolicitedNAs    uint64 `json:"unsolicitedNas"`
	OwnershipChanges  uint64 `json:"ownershipChanges"`
	HeartbeatsDropped uint64 `json:"heartbeatsDropped"`
}

// PoolsFrom renders allocator pool states for the snapshot.
func PoolsFrom(ps []ipam.PoolStatus) []Pool {
	out := make([]Pool, 0, len(ps))
	for _, p := range ps {
		sp := Pool{Name: p.Name, Disabled: p.Disabled, Conflicting: p.Conflicting(), ConflictsWith: p.ConflictsWith,
			Total: p.Total, Used: p.Used, Available: p.Available}
		for _, f := range p.Families {
			sp.Families = append(sp.Families, f.String())
		}
		out = append(out, sp)
	}
	return out
}

// ServicesFrom renders allocation results as rows.
func ServicesFrom(rs []ipam.Result) []Service {
	out := make([]Service, 0, len(rs))
	for i := range rs {
		out = append(out, serviceRow(&rs[i]))
	}
	return out
}

func serviceRow(res *ipam.Result) Service {
	ss := Service{Namespace: res.Service.Namespace, Name: res.Service.Name, Pools: res.Pools,
		Satisfied: res.Satisfied, Reason: string(res.Reason), Message: res.Message, IPs: make([]string, 0, len(res.Addrs))}
	for _, a := range res.Addrs {
		ss.IPs = append(ss.IPs, a.String())
	}
	return ss
}

// Services are a snapshot's Service rows. An agent publishes the allocator's results, which it
// keeps anyway and never changes once returned, and the rows are rendered as they are read:
// holding them rendered cost 19 MB at 100k Services, for the odd request. A snapshot decoded
// from JSON (the CLI) or built by hand holds rows.
type Services struct {
	rows    []Service
	results []ipam.Result
}

// ServicesOf returns the rows of rs, rendered when read; rs must not change afterwards.
func ServicesOf(rs []ipam.Result) Services { return Services{results: rs} }

// ServiceRows returns the given rows.
func ServiceRows(rows ...Service) Services { return Services{rows: rows} }

// Len is the number of rows.
func (s Services) Len() int { return len(s.rows) + len(s.results) }

// All yields every row in order, rendering one at a time.
func (s Services) All() iter.Seq[Service] {
	return func(yield func(Service) bool) {
		for _, r := range s.rows {
			if !yield(r) {
				return
			}
		}
		for i := range s.results {
			if !yield(serviceRow(&s.results[i])) {
				return
			}
		}
	}
}

// ByReason counts the rows by reason, without rendering them: a scrape needs only this, and
// rendering 10k rows cost it 20k allocations.
func (s Services) ByReason() map[string]int {
	out := map[string]int{}
	for _, r := range s.rows {
		out[r.Reason]++
	}
	for i := range s.results {
		out[string(s.results[i].Reason)]++
	}
	return out
}

// Rows returns every row as a slice.
func (s Services) Rows() []Service {
	if s.results == nil {
		return s.rows
	}
	return ServicesFrom(s.results)
}

// MarshalJSON writes the rows as a JSON array ([] when there are none).
func (s Services) MarshalJSON() ([]byte, error) {
	rows := s.Rows()
	if rows == nil {
		rows = []Service{}
	}
	return json.Marshal(rows)
}

// UnmarshalJSON reads a JSON array of rows.
func (s *Services) UnmarshalJSON(data []byte) error {
	*s = Services{}
	return json.Unmarshal(data, &s.rows)
}
