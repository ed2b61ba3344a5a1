package bgp

import (
	"fmt"
	"net/netip"

	"github.com/heraldlb/herald/internal/plan"
)

// SecretFunc returns the MD5 password stored under a Secret's name, and whether the Secret
// (with a "password" key) exists.
type SecretFunc func(name string) (string, bool)

// Desired turns a node's plan into speaker state. A peer whose MD5 Secret is missing is left
// out (fail closed: never run the session with an empty password) and reported; every other
// peer is unaffected.
func Desired(n *plan.Node, secret SecretFunc) ([]Instance, []string) {
	var out []Instance
	var problems []string
	for _, pi := range n.Instances {
		in := Instance{Name: pi.Name, ASN: pi.LocalASN, RouterID: pi.RouterID, ListenPort: pi.ListenPort}
		for _, pp := range pi.Peers {
			p := Peer{Name: pp.Name, Address: pp.Address, ASN: pp.ASN, LocalAddress: pp.LocalAddress, Port: 179}
			if pp.Address.Is4() {
				p.NextHop6 = firstIPv6(n.Addresses)
			}
			if pp.HasConfig {
				c := pp.Config
				p.Port, p.Timers, p.GracefulRestart, p.MultihopTTL, p.BFD = c.PeerPort, c.Timers, c.GracefulRestart, c.EBGPMultihop, c.BFD
				if c.AuthSecretRef != "" {
					pw, ok := secret(c.AuthSecretRef)
					if !ok {
						problems = append(problems, fmt.Sprintf("instance %s peer %s: BGPPeerConfig %s names Secret %q for its MD5 password, which does not exist (or has no \"password\" key); the peer is not started until it does",
							pi.Name, pp.Name, c.Name, c.AuthSecretRef))
						continue
					}
					p.Password = pw
				}
				for _, f := range pp.Families {
					p.Families = append(p.Families, f.AFISAFI)
					for _, r := range f.Routes {
						p.Routes = append(p.Routes, Route{Prefix: r.Prefix, Communities: r.Communities, LocalPref: r.LocalPref})
					}
				}
			} else {
				// No peer config: the session comes up with defaults and advertises nothing,
				// as in Cilium; the plan reports why.
				p.Timers = plan.DefaultTimers
			}
			in.Peers = append(in.Peers, p)
		}
		out = append(out, in)
	}
	return out, problems
}

func firstIPv6(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Is6() && !a.IsLinkLocalUnicast() {
			return a
		}
	}
	return netip.Addr{}
}
