// Package l2 answers ARP requests and IPv6 Neighbor Solicitations for the addresses this node
// owns, on the interfaces the election chose, from raw packet sockets: the addresses need not
// be configured on the interface, and the kernel stays out of it. On taking an address it
// announces it at once (gratuitous ARP, unsolicited Neighbor Advertisement) and repeats a few
// times; on losing one it stops answering at once.
//
// Which addresses it owns is decided elsewhere (package election); Set takes the result.
package l2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
)

// Config tunes the announcements.
type Config struct {
	// Announcements is how many gratuitous ARPs / unsolicited NAs a new owner sends.
	Announcements int
	// AnnounceInterval is the gap between them.
	AnnounceInterval time.Duration
}

// DefaultConfig announces three times, 500 ms apart: the first updates every neighbour cache
// on the segment in microseconds, the others cover a lost frame or a switch that was still
// learning.
func DefaultConfig() Config {
	return Config{Announcements: 3, AnnounceInterval: 500 * time.Millisecond}
}

// Owned is one address this node answers for and the interfaces it answers on.
type Owned struct {
	Addr       netip.Addr
	Interfaces []string
}

// Stats are the responder's counters since start.
type Stats struct {
	ARPAnswered, NSAnswered       uint64
	GratuitousARPs, UnsolicitedNA uint64
}

// Responder is the set of per-interface responders. Set and Close are safe for concurrent
// use; the goroutines it starts end with Close.
type Responder struct {
	cfg   Config
	log   *slog.Logger
	mu    sync.Mutex
	links map[string]*link
	wg    sync.WaitGroup

	arpAnswered, nsAnswered, garps, unsolicited atomic.Uint64
}

// New returns a responder that answers for nothing yet.
func New(cfg Config, log *slog.Logger) *Responder {
	return &Responder{cfg: cfg, log: log, links: map[string]*link{}}
}

// Stats returns the counters.
func (r *Responder) Stats() Stats {
	return Stats{ARPAnswered: r.arpAnswered.Load(), NSAnswered: r.nsAnswered.Load(), GratuitousARPs: r.garps.Load(), UnsolicitedNA: r.unsolicited.Load()}
}

// Set makes the responder answer for exactly owned. Interfaces that cannot be opened are
// reported in the error; the others are served anyway.
func (r *Responder) Set(owned []Owned) error {
	want := map[string]map[netip.Addr]bool{}
	for _, o := range owned {
		for _, ifname := range o.Interfaces {
			if want[ifname] == nil {
				want[ifname] = map[netip.Addr]bool{}
			}
			want[ifname][o.Addr] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for name, l := range r.links {
		if want[name] == nil || l.stale() {
			l.close()
			delete(r.links, name)
		}
	}
	for name, addrs := range want {
		l, ok := r.links[name]
		if !ok {
			var err error
			if l, err = r.open(name); err != nil {
				errs = append(errs, err)
				continue
			}
			r.links[name] = l
		}
		l.set(addrs)
	}
	return errors.Join(errs...)
}

// Close stops answering everywhere and waits for every goroutine.
func (r *Responder) Close() {
	r.mu.Lock()
	for name, l := range r.links {
		l.close()
		delete(r.links, name)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// link answers on one interface.
type link struct {
	r     *Responder
	ifi   *net.Interface
	arp   *packet.Conn
	nd    *packet.Conn
	owned atomic.Pointer[map[netip.Addr]bool]
	// groups are the solicited-node multicast groups joined on nd, by MAC.
	groups map[string]int
	ctx    context.Context
	cancel context.CancelFunc
}

// ndFilter passes only ICMPv6 Neighbor Solicitations without extension headers (which NDP
// never uses) up to the socket, so the IPv6 traffic of the node costs it nothing.
var ndFilter = func() []bpf.RawInstruction {
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeIPv6, SkipTrue: 5},
		bpf.LoadAbsolute{Off: ethHeaderLen + 6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 3},
		bpf.LoadAbsolute{Off: ethHeaderLen + ipv6HeaderLen, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpv6NeighborSolicitation, SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic(err)
	}
	return prog
}()

func (r *Responder) open(name string) (*link, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("L2 interface %s: %w", name, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("L2 interface %s has no Ethernet address (ARP and NDP need one)", name)
	}
	arp, err := packet.Listen(ifi, packet.Raw, etherTypeARP, nil)
	if err != nil {
		return nil, fmt.Errorf("L2 interface %s: ARP socket (needs CAP_NET_RAW): %w", name, err)
	}
	nd, err := packet.Listen(ifi, packet.Raw, etherTypeIPv6, nil)
	if err == nil {
		err = nd.SetBPF(ndFilter)
	}
	if err != nil {
		arp.Close()
		if nd != nil {
			nd.Close()
		}
		return nil, fmt.Errorf("L2 interface %s: NDP socket: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &link{r: r, ifi: ifi, arp: arp, nd: nd, groups: map[string]int{}, ctx: ctx, cancel: cancel}
	empty := map[netip.Addr]bool{}
	l.owned.Store(&empty)
	r.wg.Add(2)
	go func() { defer r.wg.Done(); l.serve(l.arp, l.handleARP) }()
	go func() { defer r.wg.Done(); l.serve(l.nd, l.handleNS) }()
	r.log.Info("L2: answering on interface", "interface", name, "mac", ifi.HardwareAddr.String())
	return l, nil
}

// stale reports whether the interface was replaced (new index or MAC) or removed.
func (l *link) stale() bool {
	ifi, err := net.InterfaceByName(l.ifi.Name)
	return err != nil || ifi.Index != l.ifi.Index || ifi.HardwareAddr.String() != l.ifi.HardwareAddr.String()
}

func (l *link) close() {
	empty := map[netip.Addr]bool{}
	l.owned.Store(&empty) // stop answering before anything else
	l.cancel()
	l.arp.Close()
	l.nd.Close()
}

// set swaps the owned set and announces the new addresses.
func (l *link) set(addrs map[netip.Addr]bool) {
	old := *l.owned.Load()
	if maps.Equal(old, addrs) {
		return
	}
	next := maps.Clone(addrs)
	for a := range next {
		if a.Is6() {
			l.join(a)
		}
	}
	l.owned.Store(&next)
	for a := range old {
		if !next[a] && a.Is6() {
			l.leave(a)
		}
	}
	var fresh []netip.Addr
	for a := range next {
		if !old[a] {
			fresh = append(fresh, a)
		}
	}
	slices.SortFunc(fresh, netip.Addr.Compare)
	if len(fresh) > 0 {
		l.r.log.Info("L2: taking addresses", "interface", l.ifi.Name, "addresses", fresh)
		l.r.wg.Add(1)
		go func() { defer l.r.wg.Done(); l.announce(fresh) }()
	}
}

// join subscribes to a's solicited-node group, so that a NIC that filters multicast passes
// the NSs for it up (several addresses can share a group).
func (l *link) join(a netip.Addr) {
	mac := solicitedNodeMAC(a)
	if l.groups[mac.String()] == 0 {
		if err := l.nd.JoinGroup(mac); err != nil {
			l.r.log.Warn("L2: joining solicited-node group", "interface", l.ifi.Name, "group", mac, "err", err)
		}
	}
	l.groups[mac.String()]++
}

func (l *link) leave(a netip.Addr) {
	mac := solicitedNodeMAC(a)
	if l.groups[mac.String()]--; l.groups[mac.String()] <= 0 {
		delete(l.groups, mac.String())
		_ = l.nd.LeaveGroup(mac)
	}
}

// announce sends the gratuitous ARPs / unsolicited NAs for addresses this link just took, as
// long as it still owns them.
func (l *link) announce(addrs []netip.Addr) {
	for i := range l.r.cfg.Announcements {
		if i > 0 {
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(l.r.cfg.AnnounceInterval):
			}
		}
		owned := *l.owned.Load()
		for _, a := range addrs {
			if !owned[a] {
				continue
			}
			if a.Is4() {
				l.send(l.arp, gratuitousARP(l.ifi.HardwareAddr, a), broadcastMAC, &l.r.garps)
			} else {
				l.send(l.nd, unsolicitedNA(l.ifi.HardwareAddr, a), allNodesMAC, &l.r.unsolicited)
			}
		}
	}
}

func (l *link) send(c *packet.Conn, frame []byte, to net.HardwareAddr, counter *atomic.Uint64) {
	if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: to}); err != nil {
		if l.ctx.Err() == nil {
			l.r.log.Warn("L2: send", "interface", l.ifi.Name, "err", err)
		}
		return
	}
	counter.Add(1)
}

func (l *link) serve(c *packet.Conn, handle func([]byte)) {
	buf := make([]byte, 1600)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			l.r.log.Warn("L2: read", "interface", l.ifi.Name, "err", err)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		handle(buf[:n])
	}
}

func (l *link) mine(mac net.HardwareAddr) bool { return string(mac) == string(l.ifi.HardwareAddr) }

func (l *link) handleARP(b []byte) {
	p, ok := parseARP(b)
	if !ok || p.op != arpRequest || l.mine(p.senderMAC) || !(*l.owned.Load())[p.targetIP] {
		return
	}
	if p.senderIP == p.targetIP {
		return // somebody else's gratuitous ARP for the address: nothing to answer
	}
	dst := p.senderMAC
	l.send(l.arp, arpFrame(dst, arpReply, l.ifi.HardwareAddr, p.targetIP, p.senderMAC, p.senderIP), dst, &l.r.arpAnswered)
}

func (l *link) handleNS(b []byte) {
	ns, ok := parseNS(b)
	if !ok || l.mine(ns.sourceMAC) || !(*l.owned.Load())[ns.target] {
		return
	}
	if ns.src.IsUnspecified() {
		// Duplicate address detection by another host: defend the address to all nodes.
		l.send(l.nd, neighborAdvertisement(allNodesMAC, l.ifi.HardwareAddr, ns.target, allNodes, naFlagOverride), allNodesMAC, &l.r.nsAnswered)
		return
	}
	l.send(l.nd, neighborAdvertisement(ns.sourceMAC, l.ifi.HardwareAddr, ns.target, ns.src, naFlagSolicited|naFlagOverride), ns.sourceMAC, &l.r.nsAnswered)
}
