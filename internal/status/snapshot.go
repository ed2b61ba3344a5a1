// Package status holds the status snapshot, the one structure that the CLI, the status page,
// the metrics and the CRD status all read, and the small local HTTP API that serves it.
package status

import (
	"math/big"
	"sync"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
)

// Snapshot is Herald's state at one moment. It is immutable once published.
type Snapshot struct {
	Generated time.Time `json:"generated"`
	Mode      string    `json:"mode"`
	Node      string    `json:"node,omitempty"`
	// Sources are the manifest paths (standalone) the state was built from.
	Sources  []string  `json:"sources,omitempty"`
	Pools    []Pool    `json:"pools"`
	Services []Service `json:"services"`
	Problems []Problem `json:"problems"`
	// BGP is this node's speakers (empty when the node runs none).
	BGP []bgp.InstanceStatus `json:"bgp"`
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
