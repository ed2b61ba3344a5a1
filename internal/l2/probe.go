package l2

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/packet"
)

// Who asks the segment on ifname who has ip (one ARP request, or one Neighbor Solicitation
// to ip's solicited-node group) and returns every distinct MAC that answered within wait,
// sorted. More than one MAC means more than one host answers for the address. With a
// non-nil to, the question goes to that host only: a unicast ARP request, or a unicast NS
// like the reachability probes (NUD) neighbours send to an address they already know.
func Who(ifname string, ip netip.Addr, wait time.Duration, to net.HardwareAddr) ([]string, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	src, ok := sourceAddr(ifi, ip.Is4())
	if !ok {
		return nil, fmt.Errorf("%s has no %s address to ask from", ifname, map[bool]string{true: "IPv4", false: "IPv6 link-local"}[ip.Is4()])
	}
	proto := etherTypeARP
	if ip.Is6() {
		proto = etherTypeIPv6
	}
	c, err := packet.Listen(ifi, packet.Raw, proto, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var frame []byte
	if ip.Is4() {
		if to == nil {
			to = broadcastMAC
		}
		frame = arpFrame(to, arpRequest, ifi.HardwareAddr, src, make(net.HardwareAddr, 6), ip)
	} else {
		dst := solicitedNode(ip)
		if to == nil {
			to = solicitedNodeMAC(ip)
		} else {
			dst = ip
		}
		frame = neighborSolicitation6(ifi.HardwareAddr, src, ip, dst, to)
	}
	if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: to}); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var macs []string
	buf := make([]byte, 1600)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			break // the deadline
		}
		b := buf[:n]
		if ip.Is4() {
			if p, ok := parseARP(b); ok && p.op == arpReply && p.senderIP == ip {
				macs = append(macs, p.senderMAC.String())
			}
		} else if target, mac, ok := parseNA(b); ok && target == ip {
			macs = append(macs, mac.String())
		}
	}
	slices.Sort(macs)
	return slices.Compact(macs), nil
}

func sourceAddr(ifi *net.Interface, v4 bool) (netip.Addr, bool) {
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr()
		if v4 && ip.Is4() || !v4 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// solicitedNode is ip's solicited-node multicast group, ff02::1:ffXX:XXXX.
func solicitedNode(ip netip.Addr) netip.Addr {
	t16 := ip.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: t16[13], 14: t16[14], 15: t16[15]})
}

// neighborSolicitation6 builds an NS for target from src to dst (the solicited-node group,
// or target itself for a NUD probe).
func neighborSolicitation6(mac net.HardwareAddr, src, target, dst netip.Addr, ethDst net.HardwareAddr) []byte {
	b := neighborAdvertisement(ethDst, mac, target, dst, 0) // same layout: header, target, link-layer option
	ip := b[ethHeaderLen:]
	s16, d16 := src.As16(), dst.As16()
	copy(ip[8:24], s16[:])
	icmp := ip[ipv6HeaderLen:]
	icmp[0], icmp[4] = icmpv6NeighborSolicitation, 0
	icmp[24] = ndOptSourceLinkAddr
	icmp[2], icmp[3] = 0, 0
	cs := icmpv6Checksum(s16, d16, icmp)
	icmp[2], icmp[3] = byte(cs>>8), byte(cs)
	return b
}

// parseNA reads an ICMPv6 Neighbor Advertisement: its target and target link-layer address
// (or the Ethernet source without the option).
func parseNA(b []byte) (netip.Addr, net.HardwareAddr, bool) {
	if len(b) < ethHeaderLen+ipv6HeaderLen+24 || b[12] != 0x86 || b[13] != 0xdd {
		return netip.Addr{}, nil, false
	}
	ip := b[ethHeaderLen:]
	icmp := ip[ipv6HeaderLen:]
	if ip[6] != protoICMPv6 || icmp[0] != icmpv6NeighborAdvertisement {
		return netip.Addr{}, nil, false
	}
	mac := net.HardwareAddr(b[6:12])
	if len(icmp) >= 32 && icmp[24] == ndOptTargetLinkAddr {
		mac = net.HardwareAddr(icmp[26:32])
	}
	return netip.AddrFrom16([16]byte(icmp[8:24])), mac, true
}
