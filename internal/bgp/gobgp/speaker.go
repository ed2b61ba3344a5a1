// Package gobgp implements bgp.Speaker with GoBGP v4 used as a library: one BgpServer per
// instance, every received route rejected, and per-peer advertisement through export policy
// statements over route classes. It is the only package that imports GoBGP.
//
// Lock order: Speaker.mu, then GoBGP's own locks (taken inside its API calls); GoBGP never
// calls back into Herald. Each BgpServer's Serve goroutine is owned by its instance and ends
// in instance.stop.
package gobgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/model"
)

// Config tunes the speaker.
type Config struct {
	// IdleHoldAfterReset is how long GoBGP waits before reconnecting after a hard reset (a
	// BFD down, a NOTIFICATION). GoBGP's default of 30 s turns a one-second blip into a
	// half-minute outage; 1 s still damps a flapping peer.
	IdleHoldAfterReset time.Duration
	// Restarting marks this process as a restart of an earlier one: the sessions of the first
	// Set carry the graceful restart Restart State bit (RFC 4724 §4.1), so routers keep the
	// stale routes until Herald has sent its table and End-of-RIB.
	Restarting bool
}

// DefaultConfig returns the tuned defaults.
func DefaultConfig() Config { return Config{IdleHoldAfterReset: time.Second} }

// Speaker is the GoBGP-backed bgp.Speaker.
type Speaker struct {
	cfg       Config
	log       *slog.Logger
	mu        sync.Mutex
	instances map[string]*instance
	// firstSetDone ends the restart: peers added later are ordinary new peers.
	firstSetDone bool
}

var _ bgp.Speaker = (*Speaker)(nil)

// New returns a speaker with no instances.
func New(cfg Config, log *slog.Logger) *Speaker {
	return &Speaker{cfg: cfg, log: log, instances: map[string]*instance{}}
}

// Set implements bgp.Speaker.
func (s *Speaker) Set(ctx context.Context, desired []bgp.Instance) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.firstSetDone = true }()
	want := map[string]bool{}
	var errs []error
	for i := range desired {
		d := desired[i]
		want[d.Name] = true
		in, ok := s.instances[d.Name]
		if ok && (in.desired.ASN != d.ASN || in.desired.RouterID != d.RouterID || in.desired.ListenPort != d.ListenPort) {
			// The global settings of a BgpServer cannot change in place.
			s.log.Info("bgp instance settings changed, restarting it", "instance", d.Name)
			in.stop(ctx, false)
			delete(s.instances, d.Name)
			ok = false
		}
		if !ok {
			var err error
			if in, err = s.start(ctx, d); err != nil {
				errs = append(errs, fmt.Errorf("instance %s: %w", d.Name, err))
				continue
			}
			s.instances[d.Name] = in
		}
		if err := in.apply(ctx, d); err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", d.Name, err))
		}
	}
	for name, in := range s.instances {
		if !want[name] {
			in.stop(ctx, false)
			delete(s.instances, name)
		}
	}
	return errors.Join(errs...)
}

// Stop implements bgp.Speaker.
func (s *Speaker) Stop(ctx context.Context, graceful bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, in := range s.instances {
		in.stop(ctx, graceful)
		delete(s.instances, name)
	}
	return nil
}

func (s *Speaker) start(ctx context.Context, d bgp.Instance) (*instance, error) {
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelWarn) // GoBGP logs every FSM step at info
	log := s.log.With("instance", d.Name)
	srv := server.NewBgpServer(server.LoggerOption(slog.New(quietStop{log.Handler()}), lvl))
	in := &instance{cfg: s.cfg, log: log, srv: srv, served: make(chan struct{}), restarting: s.cfg.Restarting && !s.firstSetDone}
	go func() {
		defer close(in.served)
		srv.Serve()
	}()
	port := int32(-1) // connect only
	if d.ListenPort != 0 {
		port = int32(d.ListenPort)
	}
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: d.ASN, RouterId: d.RouterID.String(), ListenPort: port}})
	if err != nil {
		srv.Stop()
		<-in.served
		return nil, fmt.Errorf("starting BGP (AS %d, router ID %s, port %d): %w", d.ASN, d.RouterID, port, err)
	}
	in.lastErr = map[netip.Addr]string{}
	wctx, cancel := context.WithCancel(context.Background())
	in.cancelWatch = cancel
	if err := srv.WatchEvent(wctx, server.WatchEventMessageCallbacks{OnPeerUpdate: in.onPeerEvent}, server.WatchPeer()); err != nil {
		log.Warn("cannot watch peer events; doctor will not see disconnect reasons", "err", err)
	}
	in.desired = bgp.Instance{Name: d.Name, ASN: d.ASN, RouterID: d.RouterID, ListenPort: d.ListenPort}
	in.peers = map[string]bgp.Peer{}
	in.rib = map[netip.Prefix]bool{}
	in.classes = map[bgp.ClassKey]*bgp.Class{}
	if err := in.setPolicies(ctx, nil, nil); err == nil {
		err = in.assignPolicies(ctx)
	}
	if err != nil {
		in.stop(ctx, false)
		return nil, err
	}
	log.Info("bgp instance started", "asn", d.ASN, "router_id", d.RouterID, "listen_port", port)
	return in, nil
}

// instance is one BgpServer and what Herald last applied to it.
type instance struct {
	cfg     Config
	log     *slog.Logger
	srv     *server.BgpServer
	served  chan struct{} // closed when srv.Serve returns
	desired bgp.Instance
	peers   map[string]bgp.Peer
	// draining is, per peer, whether its routes carry GRACEFUL_SHUTDOWN.
	draining map[string]bool
	// advertised is, per peer and family, how many prefixes the export policy accepts: what
	// GoBGP has sent, or is sending, once the session is up (see listPeers).
	advertised map[string]map[model.Family]uint64
	rib        map[netip.Prefix]bool
	classes    map[bgp.ClassKey]*bgp.Class
	// restarting: the peers this instance starts with carry the Restart State bit.
	restarting bool

	// lastErr is each peer's last disconnect reason, from GoBGP's peer events. It has its
	// own lock: GoBGP calls the watcher from its goroutines, which must never wait for
	// Speaker.mu (held while Set calls into GoBGP).
	errMu       sync.Mutex
	lastErr     map[netip.Addr]string
	cancelWatch context.CancelFunc

	// peerList is GoBGP's last ListPeer answer, reused while it is fresh (see listPeers).
	peerList     []*api.Peer
	peerListAt   time.Time
	peerListTook time.Duration
	// peersChanged is set by GoBGP's peer events and by apply: the cached list is stale.
	peersChanged atomic.Bool
}

// onPeerEvent records why a session went down, for status and doctor.
func (in *instance) onPeerEvent(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	in.peersChanged.Store(true)
	st := ev.Peer.State
	switch {
	case ev.Type != apiutil.PEER_EVENT_STATE, st.DisconnectReason == api.PeerState_DISCONNECT_REASON_UNSPECIFIED,
		// The idle hold timer only paces reconnects; keep the reason that came before it.
		st.DisconnectReason == api.PeerState_DISCONNECT_REASON_IDLE_TIMER_EXPIRED:
		return
	}
	in.errMu.Lock()
	defer in.errMu.Unlock()
	in.lastErr[st.NeighborAddress] = st.DisconnectMessage
}

func (in *instance) lastError(addr netip.Addr) string {
	in.errMu.Lock()
	defer in.errMu.Unlock()
	return in.lastErr[addr]
}

func (in *instance) stop(ctx context.Context, graceful bool) {
	if in.cancelWatch != nil {
		in.cancelWatch()
	}
	if err := in.srv.StopBgp(ctx, &api.StopBgpRequest{AllowGracefulRestart: graceful}); err != nil {
		in.log.Warn("stopping bgp", "err", err)
	}
	in.srv.Stop()
	<-in.served
	in.log.Info("bgp instance stopped", "graceful", graceful)
}

// apply brings peers, policies and paths to d, in the order that never advertises a prefix
// to a peer that should not get it: peers, then policy (prefix sets), then paths.
func (in *instance) apply(ctx context.Context, d bgp.Instance) error {
	in.peersChanged.Store(true) // counters and peers may change
	structural, err := in.applyPeers(ctx, d)
	if err != nil {
		return err
	}
	classes := bgp.Classes(&d)
	rib := bgp.AllPrefixes(&d)
	if structural || !bgp.SameClassKeys(in.classes, classes) {
		if err := in.setPolicies(ctx, d.Peers, classes); err != nil {
			return err
		}
		in.setClasses(classes)
		// Policies changed shape: re-evaluate what every peer was sent. Before the paths
		// go, so the withdrawals leave in one batch (see batchWithdraw).
		in.softResetOut(ctx)
		return in.syncPaths(ctx, rib, nil)
	}
	changed := map[netip.Prefix]bool{}
	for k, c := range classes {
		add, del := bgp.PrefixDiff(in.classes[k], c)
		if len(add) > 0 {
			if err := in.srv.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: prefixSet(className(k), add)}); err != nil {
				return fmt.Errorf("updating prefix set: %w", err)
			}
		}
		if len(del) > 0 {
			if err := in.srv.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: prefixSet(className(k), del)}); err != nil {
				return fmt.Errorf("updating prefix set: %w", err)
			}
		}
		for _, p := range add {
			changed[p] = true
		}
		for _, p := range del {
			changed[p] = true
		}
	}
	in.setClasses(classes)
	if batchWithdraw(in.rib, rib) {
		in.softResetOut(ctx)
	}
	return in.syncPaths(ctx, rib, changed)
}

// setClasses records the classes the policy now holds, and so what each peer is sent.
func (in *instance) setClasses(classes map[bgp.ClassKey]*bgp.Class) {
	in.classes = classes
	in.advertised = map[string]map[model.Family]uint64{}
	for k, c := range classes {
		if in.advertised[k.Peer] == nil {
			in.advertised[k.Peer] = map[model.Family]uint64{}
		}
		// A prefix is in one class per peer: its attributes towards that peer are one set.
		in.advertised[k.Peer][k.Family] += uint64(len(c.Prefixes))
	}
}

// batchWithdrawMin is the smallest withdrawal worth a soft reset; below it GoBGP's own
// path-by-path withdrawal is as quick.
const batchWithdrawMin = 1024

// batchWithdraw says whether a withdrawal is large enough to send through a soft reset out
// before the paths are deleted. GoBGP v4 propagates a deleted path on its own (~30 µs each
// at 100k, ~110 prefixes per UPDATE, because its send loop packs only what has queued), so
// withdrawing 100k /32s takes it seconds where bgpd needs a fraction of one. The prefix
// sets already exclude the gone prefixes, so a soft reset walks the table once, finds
// them rejected by the export policy, and hands the peer all their withdrawals in one
// batch, which GoBGP packs into full UPDATEs. The cost: the soft reset also re-sends
// every route that stays (so it is used only when at least as many go as stay), and the
// DeletePath after it still sends each withdrawal again, which the router ignores
// (RFC 4271 §9: withdrawing an unknown route is a no-op).
func batchWithdraw(old, now map[netip.Prefix]bool) bool {
	if len(old) < batchWithdrawMin {
		return false
	}
	gone := 0
	for p := range old {
		if !now[p] {
			gone++
		}
	}
	return gone >= batchWithdrawMin && gone >= len(now)
}

// syncPaths adds new prefixes, withdraws gone ones, and re-adds those whose per-peer
// treatment changed so GoBGP re-runs the export policy for them (and sends a withdrawal to
// a peer that no longer gets one).
func (in *instance) syncPaths(ctx context.Context, rib, changed map[netip.Prefix]bool) error {
	var add, del []*apiutil.Path
	for p := range rib {
		if !in.rib[p] || changed[p] {
			add = append(add, path(p, false))
		}
	}
	for p := range in.rib {
		if !rib[p] {
			del = append(del, path(p, true))
		}
	}
	if len(add) > 0 {
		if _, err := in.srv.AddPath(apiutil.AddPathRequest{Paths: add}); err != nil {
			return fmt.Errorf("adding %d paths: %w", len(add), err)
		}
	}
	if len(del) > 0 {
		if err := in.srv.DeletePath(apiutil.DeletePathRequest{Paths: del}); err != nil {
			return fmt.Errorf("withdrawing %d paths: %w", len(del), err)
		}
	}
	in.rib = rib
	return nil
}

// softResetOut re-runs the export policy over the table for every peer: GoBGP sends what
// is now accepted and withdraws what it sent before and now rejects.
func (in *instance) softResetOut(ctx context.Context) {
	for _, p := range in.peers {
		err := in.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: p.Address.String(), Soft: true, Direction: api.ResetPeerRequest_DIRECTION_OUT})
		if err != nil {
			in.log.Debug("soft reset out", "peer", p.Name, "err", err) // not established yet: nothing to re-send
		}
	}
}

// originIGP and nextHopSelf4 are shared by every IPv4 path: GoBGP keeps the attributes it
// is given and never changes one in place (setting a next hop or an attribute replaces it),
// so 100k paths need not hold 200k copies of the same two (7.5 MB).
var (
	originIGP       = gbgp.NewPathAttributeOrigin(gbgp.BGP_ORIGIN_ATTR_TYPE_IGP)
	nextHopSelf4, _ = gbgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
)

// path builds a locally originated path: ORIGIN IGP, next hop "self" (GoBGP fills in the
// session's local address), no other attribute; per-peer attributes come from the policy.
func path(p netip.Prefix, withdraw bool) *apiutil.Path {
	nlri, _ := gbgp.NewIPAddrPrefix(p)
	fam := gbgp.RF_IPv4_UC
	var attrs []gbgp.PathAttributeInterface
	if p.Addr().Is4() {
		attrs = []gbgp.PathAttributeInterface{originIGP, nextHopSelf4}
	} else {
		fam = gbgp.RF_IPv6_UC
		mp, _ := gbgp.NewPathAttributeMpReachNLRI(fam, []gbgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		attrs = []gbgp.PathAttributeInterface{originIGP, mp}
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs, Withdrawal: withdraw}
}

// applyPeers adds, removes and resets peers. It reports whether the set of peers changed
// (which changes neighbor sets, so the policy is rebuilt).
func (in *instance) applyPeers(ctx context.Context, d bgp.Instance) (bool, error) {
	want := map[string]bgp.Peer{}
	for _, p := range d.Peers {
		want[p.Name] = p
	}
	structural := false
	var errs []error
	for name, old := range in.peers {
		if nw, ok := want[name]; ok && nw.Session() == old.Session() {
			continue
		}
		// Gone, or its session settings changed: remove it (the new one is added below).
		// Only this peer's session resets.
		if err := in.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: old.Address.String()}); err != nil {
			errs = append(errs, fmt.Errorf("removing peer %s: %w", name, err))
		}
		delete(in.peers, name)
		structural = true
	}
	in.draining = map[string]bool{}
	for name, p := range want {
		// Once per apply, not per status refresh: it looks at every route of the peer.
		in.draining[name] = bgp.Draining([]bgp.Instance{{Peers: []bgp.Peer{p}}})
		if _, ok := in.peers[name]; ok {
			in.peers[name] = p // routes may differ; the session does not
			continue
		}
		conf := in.peerConf(p)
		if in.restarting && conf.GracefulRestart != nil {
			conf.GracefulRestart.LocalRestarting = true
		}
		if err := in.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: conf}); err != nil {
			errs = append(errs, fmt.Errorf("adding peer %s (%s): %w", name, p.Address, err))
			continue
		}
		in.peers[name] = p
		structural = true
	}
	in.restarting = false
	return structural, errors.Join(errs...)
}

func (in *instance) peerConf(p bgp.Peer) *api.Peer {
	ap := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password, Description: p.Name},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:           uint64(p.Timers.ConnectRetry.Seconds()),
			HoldTime:               uint64(p.Timers.Hold.Seconds()),
			KeepaliveInterval:      uint64(p.Timers.Keepalive.Seconds()),
			IdleHoldTimeAfterReset: uint64(max(1, in.cfg.IdleHoldAfterReset.Seconds())),
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
	}
	if p.LocalAddress.IsValid() {
		ap.Transport.LocalAddress = p.LocalAddress.String()
	}
	if p.MultihopTTL > 1 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.MultihopTTL)}
	}
	if p.GracefulRestart.Enabled {
		ap.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(p.GracefulRestart.RestartTime.Seconds())}
	}
	if p.BFD.Enabled {
		ap.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DetectionMultiplier:      uint32(p.BFD.DetectMultiplier),
			RequiredMinimumReceive:   uint32(p.BFD.MinRx.Microseconds()),
			DesiredMinimumTxInterval: uint32(p.BFD.MinTx.Microseconds()),
		}
	}
	for _, f := range p.Families {
		afi := api.Family_AFI_IP
		if f.AFI == "ipv6" {
			afi = api.Family_AFI_IP6
		}
		as := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}
		if p.GracefulRestart.Enabled {
			as.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		ap.AfiSafis = append(ap.AfiSafis, as)
	}
	return ap
}
