package doctor

import (
	"fmt"
	"strings"

	"github.com/heraldlb/herald/internal/bgp"
)

// checkSessions explains every session that is not established, from what the speaker last
// saw (the NOTIFICATION, the hold timer) and from an active probe of the router's port.
func checkSessions(in *Input) []Finding {
	var out []Finding
	for _, inst := range in.BGP {
		for _, p := range inst.Peers {
			if p.State == bgp.StateEstablished {
				continue
			}
			obj := fmt.Sprintf("peer %s (%s:%d) of instance %s", p.Name, p.Address, p.Port, inst.Name)
			probe, probed := in.Probes[p.Address]
			problem, fix := diagnose(inst, p, probe, probed)
			ev := []string{fmt.Sprintf("session %s", p.State)}
			if p.LastError != "" {
				ev = append(ev, "last error: "+p.LastError)
			}
			if probed {
				ev = append(ev, probeEvidence(probe))
			}
			out = append(out, Finding{Severity: Error, Object: obj, Problem: problem, Fix: fix, Evidence: strings.Join(ev, "; ")})
		}
	}
	return out
}

func diagnose(inst bgp.InstanceStatus, p bgp.PeerStatus, probe bgp.ProbeResult, probed bool) (problem, fix string) {
	// What the router said to the probe counts as much as what the speaker last saw.
	le := strings.ToLower(p.LastError + " " + probe.Notification)
	if probe.Notification != "" {
		le += " notification-received"
	}
	switch {
	case strings.Contains(le, "bad peer as") || strings.Contains(le, "bad-peer-as") || (probed && probe.PeerASN != 0 && p.ASN != 0 && probe.PeerASN != p.ASN):
		if probed && probe.PeerASN != 0 && p.ASN != 0 && probe.PeerASN != p.ASN {
			return fmt.Sprintf("AS mismatch: the router announces AS %d, the peer is configured with peerASN %d", probe.PeerASN, p.ASN),
				fmt.Sprintf("set peerASN: %d on the peer (or 0 to accept any), or change the router's AS", probe.PeerASN)
		}
		if strings.Contains(le, "notification-received") {
			return fmt.Sprintf("the router refused this node's OPEN with \"bad peer AS\": it expects another AS from the node than %d", inst.LocalASN),
				fmt.Sprintf("on the router, set the neighbour's remote-as to %d (herald router-config prints it), or change localASN", inst.LocalASN)
		}
		return "AS mismatch between this node and the router", "compare peerASN with the router's AS and the router's remote-as with localASN"
	case strings.Contains(le, "hold time") || strings.Contains(le, "hold-time"):
		return "the router refused the hold time this node offers", "use a hold time the router accepts (0, or 3 s and more; some routers want more): spec.timers.holdTimeSeconds of the peer config"
	case strings.Contains(le, "authentication") || strings.Contains(le, "md5"):
		return "TCP MD5 authentication fails", "use the same password on both sides (the peer config's authSecretRef Secret, key \"password\")"
	case probed && probe.Connect == bgp.ConnectRefused:
		return "the router refuses connections on its BGP port: BGP is not enabled there, not on this address, or this node is not configured as a neighbour (some routers reset unknown peers)",
			"enable BGP on the router and add this node as a neighbour (herald router-config prints the configuration); check the port (transport.peerPort)"
	case probed && probe.Connect == bgp.ConnectTimeout:
		return "the router does not answer on its BGP port: a firewall drops TCP 179, or an MD5 password is set on only one side (unsigned segments are dropped silently)",
			"allow TCP 179 from the nodes to the router (on OPNsense and UniFi a firewall rule is needed); compare the MD5 settings on both sides"
	case probed && probe.Connect == bgp.ConnectNoRoute:
		return "this node has no route to the router's address", "check the peer address and the node's routing table (ip route get " + p.Address + "); a router that is not directly connected needs ebgpMultihop"
	case probed && probe.Notification != "":
		return "the router refused this node's OPEN: " + probe.Notification, "compare the router's neighbour configuration with herald router-config's output"
	case probed && probe.Accepted:
		return "the router accepts a session from this node now; the session may just be coming up (connect retry)", "wait for the connect retry timer, or lower spec.timers.connectRetryTimeSeconds"
	case strings.Contains(le, "hold-timer-expired"):
		return "the session dropped because no KEEPALIVE arrived within the hold time: the path to the router loses packets, or the router is overloaded", "check the link and the router; consider BFD for faster, clearer failure detection"
	}
	return "the session is not established", "run herald doctor on the node to probe the router, and check the router's log"
}

func probeEvidence(p bgp.ProbeResult) string {
	s := fmt.Sprintf("probe of %s: %s", p.Peer, p.Connect)
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	if p.PeerASN != 0 {
		s += fmt.Sprintf(", router OPEN: AS %d, router ID %s, hold %d s", p.PeerASN, p.PeerRouterID, p.HoldTime)
	}
	if p.Notification != "" {
		s += ", router's NOTIFICATION: " + p.Notification
	}
	return s
}

// checkRouterSide says what only the router can show: whether it installs what this node
// advertises (a route the router filters away still counts as advertised here).
func checkRouterSide(in *Input) []Finding {
	if in.Node == "" {
		return nil // cluster mode: every node's sessions; run doctor on a node for its commands
	}
	var out []Finding
	for _, inst := range in.BGP {
		for _, p := range inst.Peers {
			var adv uint64
			for _, f := range p.Families {
				adv += f.Advertised
			}
			if p.State != bgp.StateEstablished || adv == 0 {
				continue
			}
			local := in.nodeAddress(p.Address)
			out = append(out, Finding{Severity: Info, Object: fmt.Sprintf("peer %s (%s)", p.Name, p.Address),
				Problem: fmt.Sprintf("this node advertises %d routes; whether the router accepts and installs them cannot be seen from here", adv),
				Fix: fmt.Sprintf("on the router run: vtysh -c 'show bgp ipv4 unicast neighbors %s received-routes' (what arrived), "+
					"vtysh -c 'show bgp ipv4 unicast neighbors %s routes' (what was accepted) and vtysh -c 'show ip route bgp' (what is installed, with every node as a next hop); "+
					"a difference points at the router's import filter: compare it with herald router-config", local, local),
				Evidence: fmt.Sprintf("advertised %d", adv)})
		}
	}
	return out
}

// nodeAddress is the local node's address of the peer's family, as the router knows it.
func (in *Input) nodeAddress(peer string) string {
	v6 := strings.Contains(peer, ":")
	for _, n := range in.Cluster.Nodes {
		if n.Name != in.Node {
			continue
		}
		for _, a := range n.Addresses {
			if a.Is6() == v6 {
				return a.String()
			}
		}
	}
	return "NODE-ADDRESS"
}
