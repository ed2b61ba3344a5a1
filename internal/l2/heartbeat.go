package l2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/heraldlb/herald/internal/election"
)

// HeartbeatConfig tunes the heartbeats between agents.
type HeartbeatConfig struct {
	// Port is the UDP port every agent listens on and sends to.
	Port uint16
	// Interval is the gap between two heartbeats to each peer.
	Interval time.Duration
	// Election tunes how silence becomes a verdict.
	Election election.Config
}

// DefaultHeartbeatPort is Herald's heartbeat port (UDP), next to memberlist's 7946.
const DefaultHeartbeatPort = 7947

// DefaultHeartbeatConfig sends every 100 ms: with DeadAfter 500 ms a peer's death is seen
// within half a second, at ten small datagrams per second per peer.
func DefaultHeartbeatConfig() HeartbeatConfig {
	return HeartbeatConfig{Port: DefaultHeartbeatPort, Interval: 100 * time.Millisecond, Election: election.DefaultConfig()}
}

// wireReport is a heartbeat on the wire.
type wireReport struct {
	Version    int      `json:"v"`
	Node       string   `json:"node"`
	Interfaces []string `json:"ifaces,omitempty"`
	Default    string   `json:"default,omitempty"`
	Ready      bool     `json:"ready"`
	Hears      []string `json:"hears,omitempty"`
}

// Heartbeats sends this node's heartbeats to the other nodes, receives theirs and keeps the
// election tracker. Its goroutines belong to Run.
type Heartbeats struct {
	cfg  HeartbeatConfig
	log  *slog.Logger
	self string
	conn *net.UDPConn

	mu      sync.Mutex
	tracker *election.Tracker
	nodes   map[string][]netip.Addr // every node and its addresses, self included
	me      election.Member
	dropped int
}

// ListenHeartbeats binds the heartbeat port on every address.
func ListenHeartbeats(cfg HeartbeatConfig, self string, log *slog.Logger) (*Heartbeats, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(cfg.Port)})
	if err != nil {
		return nil, fmt.Errorf("L2 heartbeats: UDP port %d: %w", cfg.Port, err)
	}
	return &Heartbeats{cfg: cfg, log: log, self: self, conn: conn,
		tracker: election.NewTracker(self, cfg.Election, time.Now()), nodes: map[string][]netip.Addr{}}, nil
}

// SetNodes sets the cluster's nodes and their addresses (where heartbeats go, and the only
// sources they are accepted from).
func (h *Heartbeats) SetNodes(nodes map[string][]netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nodes = maps.Clone(nodes)
}

// SetLeases sets which nodes' Leases are renewed (cluster mode); nil: no Leases.
func (h *Heartbeats) SetLeases(valid map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tracker.SetLeases(valid)
}

// SetSelf sets what this node reports about itself (Ready is filled in by the tracker).
func (h *Heartbeats) SetSelf(m election.Member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.me = m
}

// Verdict is the tracker's view at one moment.
type Verdict struct {
	View    election.View
	Members map[string]election.Member
	Nodes   []string
	Dropped int
}

// Verdict returns the current view of every node.
func (h *Heartbeats) Verdict(now time.Time) Verdict {
	h.mu.Lock()
	defer h.mu.Unlock()
	nodes := slices.Sorted(maps.Keys(h.nodes))
	return Verdict{View: h.tracker.View(now, nodes), Members: h.tracker.Members(now, nodes, h.me), Nodes: nodes, Dropped: h.dropped}
}

// Run sends and receives until ctx ends, then closes the socket.
func (h *Heartbeats) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.receive()
	}()
	defer wg.Wait()
	defer h.conn.Close() // ends receive
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		h.send()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (h *Heartbeats) send() {
	h.mu.Lock()
	now := time.Now()
	names := slices.Sorted(maps.Keys(h.nodes))
	msg := wireReport{Version: 1, Node: h.self, Interfaces: h.me.Interfaces, Default: h.me.DefaultInterface,
		Ready: h.tracker.Ready(now, names), Hears: h.tracker.Hears(now)}
	var targets []netip.AddrPort
	for _, n := range names {
		if n != h.self && len(h.nodes[n]) > 0 {
			targets = append(targets, netip.AddrPortFrom(h.nodes[n][0], h.cfg.Port))
		}
	}
	h.mu.Unlock()
	b, _ := json.Marshal(msg)
	for _, t := range targets {
		if _, err := h.conn.WriteToUDPAddrPort(b, t); err != nil && !errors.Is(err, net.ErrClosed) {
			h.log.Debug("L2 heartbeat send", "to", t, "err", err) // an unreachable peer is what the tracker is for
		}
	}
}

func (h *Heartbeats) receive() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := h.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var m wireReport
		if json.Unmarshal(buf[:n], &m) != nil || m.Version != 1 {
			h.drop("not a heartbeat", from)
			continue
		}
		h.mu.Lock()
		addrs, known := h.nodes[m.Node]
		if !known || !slices.Contains(addrs, from.Addr().Unmap()) {
			h.mu.Unlock()
			h.drop("heartbeat from an unknown node or address", from)
			continue
		}
		h.tracker.Heard(time.Now(), election.Report{Node: m.Node, Hears: m.Hears,
			Member: election.Member{Interfaces: m.Interfaces, DefaultInterface: m.Default, Ready: m.Ready}})
		h.mu.Unlock()
	}
}

func (h *Heartbeats) drop(why string, from netip.AddrPort) {
	h.mu.Lock()
	h.dropped++
	h.mu.Unlock()
	h.log.Debug("L2 heartbeat dropped", "why", why, "from", from)
}
