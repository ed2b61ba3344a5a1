package gobgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/model"
)

var sessionStates = map[api.PeerState_SessionState]bgp.SessionState{
	api.PeerState_SESSION_STATE_IDLE:        bgp.StateIdle,
	api.PeerState_SESSION_STATE_CONNECT:     bgp.StateConnect,
	api.PeerState_SESSION_STATE_ACTIVE:      bgp.StateActive,
	api.PeerState_SESSION_STATE_OPENSENT:    bgp.StateOpenSent,
	api.PeerState_SESSION_STATE_OPENCONFIRM: bgp.StateOpenConfirm,
	api.PeerState_SESSION_STATE_ESTABLISHED: bgp.StateEstablished,
}

var bfdStates = map[api.BfdSessionState]string{
	api.BfdSessionState_BFD_SESSION_STATE_UNSPECIFIED: "down",
	api.BfdSessionState_BFD_SESSION_STATE_UP:          "up",
	api.BfdSessionState_BFD_SESSION_STATE_DOWN:        "down",
	api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:  "admin_down",
	api.BfdSessionState_BFD_SESSION_STATE_INIT:        "init",
}

// Status implements bgp.Speaker.
func (s *Speaker) Status(ctx context.Context) ([]bgp.InstanceStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []bgp.InstanceStatus
	for _, in := range s.instances {
		is := bgp.InstanceStatus{Name: in.desired.Name, LocalASN: in.desired.ASN, RouterID: in.desired.RouterID.String()}
		byAddr := map[string]bgp.Peer{}
		for _, p := range in.peers {
			byAddr[p.Address.String()] = p
		}
		peers, err := in.listPeers(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing peers of %s: %w", in.desired.Name, err)
		}
		for _, ap := range peers {
			p := byAddr[ap.GetConf().GetNeighborAddress()]
			ps := peerStatus(ap, p, in.draining[p.Name], in.advertised[p.Name])
			if a, err := netip.ParseAddr(ps.Address); err == nil && ps.State != bgp.StateEstablished {
				ps.LastError = in.lastError(a)
			}
			is.Peers = append(is.Peers, ps)
		}
		slices.SortFunc(is.Peers, func(a, b bgp.PeerStatus) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, is)
	}
	slices.SortFunc(out, func(a, b bgp.InstanceStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// listCostFactor bounds the CPU the status takes: a ListPeer answer that took d is reused for
// listCostFactor × d unless a session changed or routes were applied since.
const listCostFactor = 20

// listPeers returns GoBGP's view of the peers. Its received counts walk every route the
// router sent, in GoBGP's single management goroutine; at 100,000 routes that is a
// noticeable fraction of a second, while the status refreshes every poll (200 ms), so asking
// every time kept a core busy on an idle node and held up route changes queued behind it. A
// session change (GoBGP's peer events) or an apply makes the next call ask again at once;
// otherwise counts may be up to listCostFactor × the call's own duration old (nothing at
// small scale, a few seconds at 100k).
//
// Advertised counts are not asked for: GoBGP computes them by running the export policy over
// a copy of every route, ~70 MB of garbage per call at 100k, which kept an idle node's heap
// growing between collections. The policy accepts exactly the prefixes of the peer's
// classes, so Herald counts those instead (instance.advertised).
func (in *instance) listPeers(ctx context.Context) ([]*api.Peer, error) {
	if !in.peersChanged.Load() && in.peerList != nil && time.Since(in.peerListAt) < listCostFactor*in.peerListTook {
		return in.peerList, nil
	}
	in.peersChanged.Store(false) // before asking: an event during the call marks this answer stale
	start := time.Now()
	var peers []*api.Peer
	err := in.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(ap *api.Peer) { peers = append(peers, ap) })
	if err != nil {
		in.peersChanged.Store(true)
		return nil, err
	}
	in.peerList, in.peerListAt, in.peerListTook = peers, time.Now(), time.Since(start)
	return peers, nil
}

func peerStatus(ap *api.Peer, p bgp.Peer, draining bool, advertised map[model.Family]uint64) bgp.PeerStatus {
	st := bgp.PeerStatus{Name: p.Name, Address: ap.GetConf().GetNeighborAddress(), Port: p.Port, ASN: ap.GetState().GetPeerAsn(),
		State: sessionStates[ap.GetState().GetSessionState()]}
	if st.ASN == 0 {
		st.ASN = p.ASN
	}
	if st.State == "" {
		st.State = bgp.StateIdle
	}
	if p.BFD.Enabled {
		st.BFD = bfdStates[ap.GetState().GetBfdState().GetSessionState()]
	}
	st.Draining = draining
	if t := ap.GetTimers().GetState(); t != nil && st.State == bgp.StateEstablished {
		if t.GetUptime() != nil {
			st.Since = t.GetUptime().AsTime()
		}
		st.AppliedHold = time.Duration(t.GetNegotiatedHoldTime()) * time.Second
		st.AppliedKeepalive = time.Duration(t.GetKeepaliveInterval()) * time.Second
	}
	for _, as := range ap.GetAfiSafis() {
		f := as.GetState().GetFamily()
		if f == nil {
			f = as.GetConfig().GetFamily()
		}
		afi, fam := "ipv4", model.IPv4
		if f.GetAfi() == api.Family_AFI_IP6 {
			afi, fam = "ipv6", model.IPv6
		}
		fc := bgp.FamilyCounters{AFI: afi, SAFI: "unicast", Received: as.GetState().GetReceived()}
		if st.State == bgp.StateEstablished {
			fc.Advertised = advertised[fam] // GoBGP sends nothing before the session is up
		}
		st.Families = append(st.Families, fc)
	}
	return st
}

// Routes implements bgp.Speaker.
func (s *Speaker) Routes(ctx context.Context, instance string, peer netip.Addr, family model.AFISAFI) ([]bgp.RouteStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.instances[instance]
	if !ok {
		return nil, fmt.Errorf("no BGP instance %q", instance)
	}
	fam := gbgp.RF_IPv4_UC
	if family.AFI == "ipv6" {
		fam = gbgp.RF_IPv6_UC
	}
	req := apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: fam}
	if peer.IsValid() {
		req.TableType, req.Name = api.TableType_TABLE_TYPE_ADJ_OUT, peer.String()
	}
	var out []bgp.RouteStatus
	err := in.srv.ListPath(req, func(prefix gbgp.NLRI, paths []*apiutil.Path) {
		for _, p := range paths {
			rs := bgp.RouteStatus{Prefix: prefix.String()}
			if p.Age > 0 { // adj-rib-out paths carry no time
				rs.Since = time.Unix(p.Age, 0)
			}
			for _, a := range p.Attrs {
				switch a := a.(type) {
				case *gbgp.PathAttributeNextHop:
					rs.NextHop = a.Value.String()
				case *gbgp.PathAttributeMpReachNLRI:
					rs.NextHop = a.Nexthop.String()
				default:
					rs.Attrs = append(rs.Attrs, a.String())
				}
			}
			out = append(out, rs)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing routes of %s: %w", instance, err)
	}
	slices.SortFunc(out, func(a, b bgp.RouteStatus) int {
		pa, _ := netip.ParsePrefix(a.Prefix)
		pb, _ := netip.ParsePrefix(b.Prefix)
		return pa.Addr().Compare(pb.Addr())
	})
	return out, nil
}
