package gobgp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/osrg/gobgp/v4/api"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/model"
)

// exportPolicy is the one export policy: a statement per route class. importPolicy accepts
// only Herald's own paths: GoBGP runs the global import policy on locally added paths too, so
// a bare default-reject would drop them along with everything the peers send.
const (
	exportPolicy = "herald-export"
	importPolicy = "herald-import"
)

var importLocalOnly = &api.Policy{Name: importPolicy, Statements: []*api.Statement{{
	Name:       "accept-local",
	Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
	Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
}}}

// className names a class's prefix set and statement; a hash keeps names short and stable.
func className(k bgp.ClassKey) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s", k.Peer, k.Family, k.Attrs)))
	return "c-" + hex.EncodeToString(h[:8])
}

func neighborSetName(peer string) string { return "n-" + peer }

func prefixSet(name string, ps []netip.Prefix) *api.DefinedSet {
	ds := &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: name}
	for _, p := range ps {
		ds.Prefixes = append(ds.Prefixes, &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Bits())})
	}
	return ds
}

// assignPolicies installs the global assignments once per server: import rejects everything
// the peers send (nothing is installed on the node), export runs herald-export and rejects what it does not
// accept. SetPolicies keeps existing assignments (it ignores the request's), and they refer to
// the policy by name, so later rebuilds need not touch them.
func (in *instance) assignPolicies(ctx context.Context) error {
	for _, a := range []*api.PolicyAssignment{
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_IMPORT, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
			Policies: []*api.Policy{{Name: importPolicy}}},
		{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
			Policies: []*api.Policy{{Name: exportPolicy}}},
	} {
		if err := in.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: a}); err != nil {
			return fmt.Errorf("assigning %s policy: %w", a.Direction, err)
		}
	}
	return nil
}

// setPolicies replaces every defined set and the export policy in one call: a statement per
// route class, accepting exactly that peer's prefixes of the class and setting their
// attributes.
func (in *instance) setPolicies(ctx context.Context, peers []bgp.Peer, classes map[bgp.ClassKey]*bgp.Class) error {
	req := &api.SetPoliciesRequest{}
	peerByName := map[string]bgp.Peer{}
	for _, p := range peers {
		peerByName[p.Name] = p
		bits := 32
		if p.Address.Is6() {
			bits = 128
		}
		req.DefinedSets = append(req.DefinedSets, &api.DefinedSet{
			DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR, Name: neighborSetName(p.Name),
			List: []string{netip.PrefixFrom(p.Address, bits).String()},
		})
	}
	keys := make([]bgp.ClassKey, 0, len(classes))
	for k := range classes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b bgp.ClassKey) int { return strings.Compare(className(a), className(b)) })
	pol := &api.Policy{Name: exportPolicy}
	for _, k := range keys {
		c := classes[k]
		name := className(k)
		req.DefinedSets = append(req.DefinedSets, prefixSet(name, bgp.SortedPrefixes(c.Prefixes)))
		pol.Statements = append(pol.Statements, statement(name, k, c.Sample, peerByName[k.Peer], in.desired.ASN))
	}
	if len(pol.Statements) == 0 {
		// The assignment names the policy, so it must exist: with nothing to advertise it
		// rejects everything.
		pol.Statements = []*api.Statement{{Name: "reject-all", Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT}}}
	}
	req.Policies = []*api.Policy{pol, importLocalOnly}
	if err := in.srv.SetPolicies(ctx, req); err != nil {
		return fmt.Errorf("setting policies (%d classes): %w", len(keys), err)
	}
	return nil
}

func statement(name string, k bgp.ClassKey, sample bgp.Route, p bgp.Peer, localASN uint32) *api.Statement {
	st := &api.Statement{
		Name: name,
		Conditions: &api.Conditions{
			PrefixSet:   &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: name},
			NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: neighborSetName(k.Peer)},
		},
		Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
	}
	if cs := sample.Communities.Standard; len(cs) > 0 {
		a := &api.CommunityAction{Type: api.CommunityAction_TYPE_ADD}
		for _, c := range cs {
			a.Communities = append(a.Communities, c.String())
		}
		st.Actions.Community = a
	}
	if ls := sample.Communities.Large; len(ls) > 0 {
		a := &api.CommunityAction{Type: api.CommunityAction_TYPE_ADD}
		for _, l := range ls {
			a.Communities = append(a.Communities, l.String())
		}
		st.Actions.LargeCommunity = a
	}
	// IPv6 routes over an IPv4 session: without this GoBGP would send an IPv4-mapped next hop
	// that no router can use.
	if k.Family == model.IPv6 && p.Address.Is4() && p.NextHop6.IsValid() {
		st.Actions.Nexthop = &api.NexthopAction{Address: p.NextHop6.String()}
	}
	// The planner only sets LOCAL_PREF towards iBGP peers; check again, since sending it to
	// an external peer is a protocol error (RFC 4271 §5.1.5).
	if sample.LocalPref != nil && p.ASN == localASN {
		st.Actions.LocalPref = &api.LocalPrefAction{Value: *sample.LocalPref}
	}
	return st
}
