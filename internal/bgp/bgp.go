// Package bgp is Herald's vendor-neutral BGP layer: the desired state of a node's speakers,
// the Speaker interface that applies it declaratively, the status it reports, and the pure
// diffing that turns one desired state into the next with the fewest changes (one Service
// changes one prefix; one timer resets one peer). Package bgp/gobgp implements Speaker with
// GoBGP and is the only importer of GoBGP.
package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/heraldlb/herald/internal/model"
)

// Instance is one BGP speaker (one local AS and router ID) and its peers.
type Instance struct {
	Name       string
	ASN        uint32
	RouterID   netip.Addr
	ListenPort uint16 // 0: connect only
	Peers      []Peer
}

// Peer is one session and what it advertises.
type Peer struct {
	Name    string
	Address netip.Addr
	// Port is the peer's TCP port (179 unless configured).
	Port uint16
	// ASN 0 accepts any AS the peer announces.
	ASN          uint32
	LocalAddress netip.Addr
	// Password is the TCP MD5 password ("" for none).
	Password        string
	Timers          model.Timers
	GracefulRestart model.GracefulRestart
	// MultihopTTL > 1 enables eBGP multihop with that TTL.
	MultihopTTL uint8
	BFD         model.BFD
	Families    []model.AFISAFI
	// Routes are every prefix this peer receives, with its attributes.
	Routes []Route
	// NextHop6 is the next hop of IPv6 routes when the session itself is IPv4 (the node's
	// IPv6 address); IPv4 routes over an IPv6 session use RFC 8950 and need none.
	NextHop6 netip.Addr
}

// Route is one advertised prefix.
type Route struct {
	Prefix      netip.Prefix
	Communities model.Communities
	LocalPref   *uint32
}

// Session is how a peer's session is set up; a change to it resets that peer, and only it.
type Session struct {
	Address         netip.Addr
	Port            uint16
	ASN             uint32
	LocalAddress    netip.Addr
	Password        string
	Timers          model.Timers
	GracefulRestart model.GracefulRestart
	MultihopTTL     uint8
	BFD             model.BFD
	Families        string
}

// Session returns the part of the peer whose change needs a session reset.
func (p *Peer) Session() Session {
	fams := make([]string, len(p.Families))
	for i, f := range p.Families {
		fams[i] = f.String()
	}
	slices.Sort(fams)
	return Session{p.Address, p.Port, p.ASN, p.LocalAddress, p.Password, p.Timers, p.GracefulRestart, p.MultihopTTL, p.BFD, strings.Join(fams, ",")}
}

// Speaker applies desired state. Set is declarative: it computes what changed and touches
// only that. Implementations serialise calls; Set and Status may be called concurrently.
type Speaker interface {
	// Set makes the running speakers match desired (instances by name).
	Set(ctx context.Context, desired []Instance) error
	// Status reports every instance's peers.
	Status(ctx context.Context) ([]InstanceStatus, error)
	// Routes lists routes of one instance: advertised to a peer (peer address set) or all
	// locally originated ones (peer address zero).
	Routes(ctx context.Context, instance string, peer netip.Addr, family model.AFISAFI) ([]RouteStatus, error)
	// Stop ends every session. With graceful set, sessions end without a NOTIFICATION so
	// that routers using graceful restart keep the routes while Herald restarts.
	Stop(ctx context.Context, graceful bool) error
}

// SessionState is a BGP FSM state, as RFC 4271 and cilium-dbg name them.
type SessionState string

// The six states.
const (
	StateIdle        SessionState = "idle"
	StateConnect     SessionState = "connect"
	StateActive      SessionState = "active"
	StateOpenSent    SessionState = "opensent"
	StateOpenConfirm SessionState = "openconfirm"
	StateEstablished SessionState = "established"
)

// InstanceStatus is one instance's view.
type InstanceStatus struct {
	Name     string       `json:"name"`
	LocalASN uint32       `json:"localASN"`
	RouterID string       `json:"routerID"`
	Peers    []PeerStatus `json:"peers"`
}

// PeerStatus is one session's state.
type PeerStatus struct {
	Name    string       `json:"name"`
	Address string       `json:"address"`
	Port    uint16       `json:"port"`
	ASN     uint32       `json:"peerASN"`
	State   SessionState `json:"state"`
	// Since is when the session reached Established (zero when it is not).
	Since time.Time `json:"since,omitzero"`
	// AppliedHold and AppliedKeepalive are the negotiated timers.
	AppliedHold      time.Duration    `json:"appliedHold"`
	AppliedKeepalive time.Duration    `json:"appliedKeepalive"`
	Families         []FamilyCounters `json:"families"`
	// LastError is the last NOTIFICATION or connection error seen, for doctor.
	LastError string `json:"lastError,omitempty"`
	// BFD is the BFD session state (up, down, init, admin_down); empty without BFD.
	BFD string `json:"bfd,omitempty"`
	// Draining is true while the routes to this peer carry GRACEFUL_SHUTDOWN (RFC 8326).
	Draining bool `json:"draining,omitempty"`
}

// FamilyCounters counts routes per family.
type FamilyCounters struct {
	AFI        string `json:"afi"`
	SAFI       string `json:"safi"`
	Received   uint64 `json:"received"`
	Advertised uint64 `json:"advertised"`
}

// RouteStatus is one route as `herald bgp routes` prints it.
type RouteStatus struct {
	Prefix  string    `json:"prefix"`
	NextHop string    `json:"nextHop"`
	Since   time.Time `json:"since"`
	Attrs   []string  `json:"attrs"`
}

// ClassKey identifies a route class: the prefixes one peer receives with identical attributes.
type ClassKey struct {
	Peer   string
	Family model.Family
	Attrs  string
}

// Attrs renders the attributes canonically ("" for none), the class key's last part.
func (r Route) Attrs() string {
	var parts []string
	for _, c := range r.Communities.Standard {
		parts = append(parts, "c="+c.String())
	}
	for _, c := range r.Communities.Large {
		parts = append(parts, "l="+c.String())
	}
	if r.LocalPref != nil {
		parts = append(parts, fmt.Sprintf("lp=%d", *r.LocalPref))
	}
	return strings.Join(parts, " ")
}

// Classes groups an instance's routes into classes, each with its prefixes and a sample
// route carrying the attributes.
func Classes(in *Instance) map[ClassKey]*Class {
	out := map[ClassKey]*Class{}
	for i := range in.Peers {
		p := &in.Peers[i]
		for _, r := range p.Routes {
			k := ClassKey{Peer: p.Name, Family: model.FamilyOf(r.Prefix.Addr()), Attrs: r.Attrs()}
			if k.Family == model.IPv6 && p.NextHop6.IsValid() {
				k.Attrs += " nh=" + p.NextHop6.String() // part of the statement, so of the class
			}
			c, ok := out[k]
			if !ok {
				c = &Class{Key: k, Sample: r, Prefixes: map[netip.Prefix]bool{}}
				out[k] = c
			}
			c.Prefixes[r.Prefix] = true
		}
	}
	return out
}

// Class is one route class.
type Class struct {
	Key      ClassKey
	Sample   Route
	Prefixes map[netip.Prefix]bool
}

// SameClassKeys reports whether two class maps have the same keys (then only prefix
// membership changed, which is applied incrementally).
func SameClassKeys(a, b map[ClassKey]*Class) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// PrefixDiff returns the prefixes to add to and remove from a class.
func PrefixDiff(old, new *Class) (add, del []netip.Prefix) {
	for p := range new.Prefixes {
		if old == nil || !old.Prefixes[p] {
			add = append(add, p)
		}
	}
	if old != nil {
		for p := range old.Prefixes {
			if !new.Prefixes[p] {
				del = append(del, p)
			}
		}
	}
	sortPrefixes(add)
	sortPrefixes(del)
	return add, del
}

// AllPrefixes is the union of every peer's prefixes: what the instance's RIB must hold.
func AllPrefixes(in *Instance) map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	for _, p := range in.Peers {
		for _, r := range p.Routes {
			out[r.Prefix] = true
		}
	}
	return out
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}

// SortedPrefixes returns a set's members in order.
func SortedPrefixes(set map[netip.Prefix]bool) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sortPrefixes(out)
	return out
}

// ProbeRequest says whom to probe and as whom.
type ProbeRequest struct {
	Peer     netip.Addr
	Port     uint16
	Local    netip.Addr // source address; zero lets the kernel choose
	LocalASN uint32
	RouterID netip.Addr
	Password string
}

// Connection outcomes of a probe.
const (
	ConnectOK      = "connected"
	ConnectRefused = "refused"
	ConnectTimeout = "timeout"
	ConnectNoRoute = "no-route"
	ConnectError   = "error"
)

// ProbeResult is what an active check of a peer found.
type ProbeResult struct {
	Peer    string `json:"peer"`
	Connect string `json:"connect"`
	// Detail is the raw error, for the evidence.
	Detail string `json:"detail,omitempty"`
	// The router's OPEN, when it sent one.
	PeerASN      uint32     `json:"peerASN,omitempty"`
	PeerRouterID netip.Addr `json:"peerRouterID,omitzero"`
	HoldTime     uint16     `json:"holdTime,omitempty"`
	// Notification is what the router answered our OPEN with; Accepted that it answered
	// with a KEEPALIVE.
	Notification string `json:"notification,omitempty"`
	Accepted     bool   `json:"accepted,omitempty"`
}
