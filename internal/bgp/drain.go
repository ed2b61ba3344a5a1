package bgp

import (
	"net/netip"
	"slices"

	"github.com/heraldlb/herald/internal/model"
)

// Drain returns desired state in which the peers that which selects receive every route with
// RFC 8326's GRACEFUL_SHUTDOWN community (65535:0), and iBGP peers also LOCAL_PREF 0, so that
// routers move traffic to other nodes while the sessions are still up. The input is not
// modified.
func Drain(desired []Instance, which func(Peer) bool) []Instance {
	out := make([]Instance, len(desired))
	for i, in := range desired {
		out[i] = in
		out[i].Peers = make([]Peer, len(in.Peers))
		for j, p := range in.Peers {
			out[i].Peers[j] = p
			if !which(p) {
				continue
			}
			routes := make([]Route, len(p.Routes))
			for k, r := range p.Routes {
				r.Communities = r.Communities.Union(model.Communities{Standard: []model.Community{model.GracefulShutdown}})
				if p.ASN == in.ASN {
					zero := uint32(0)
					r.LocalPref = &zero
				}
				routes[k] = r
			}
			out[i].Peers[j].Routes = routes
		}
	}
	return out
}

// AllPeers selects every peer; WithoutGracefulRestart selects those that will not keep the
// routes across a restart (for those, draining first is the only way to move traffic away
// gently).
func AllPeers(Peer) bool { return true }

// WithoutGracefulRestart selects peers without graceful restart.
func WithoutGracefulRestart(p Peer) bool { return !p.GracefulRestart.Enabled }

// Draining reports whether any route already carries GRACEFUL_SHUTDOWN.
func Draining(desired []Instance) bool {
	for _, in := range desired {
		for _, p := range in.Peers {
			for _, r := range p.Routes {
				if slices.Contains(r.Communities.Standard, model.GracefulShutdown) {
					return true
				}
			}
		}
	}
	return false
}

// Without returns desired with the host routes (/32, /128) of the gone addresses taken from
// every peer, and how many peer routes it took. Only host routes: an aggregate may still
// cover addresses that stay, and the next full plan decides it. The input is not modified.
func Without(desired []Instance, gone map[netip.Addr]bool) ([]Instance, int) {
	out := make([]Instance, len(desired))
	taken := 0
	for i, in := range desired {
		out[i] = in
		out[i].Peers = make([]Peer, len(in.Peers))
		for j, p := range in.Peers {
			out[i].Peers[j] = p
			routes := make([]Route, 0, len(p.Routes))
			for _, r := range p.Routes {
				if r.Prefix.IsSingleIP() && gone[r.Prefix.Addr()] {
					taken++
					continue
				}
				routes = append(routes, r)
			}
			out[i].Peers[j].Routes = routes
		}
	}
	return out, taken
}
