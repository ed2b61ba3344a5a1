package l2

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Frame layouts, built by hand: a few fixed offsets are clearer than a packet library, and
// the responder must not allocate per request more than it has to.

const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	ethHeaderLen  = 14
	arpLen        = 28
	ipv6HeaderLen = 40

	arpRequest = 1
	arpReply   = 2

	icmpv6NeighborSolicitation  = 135
	icmpv6NeighborAdvertisement = 136
	ndOptSourceLinkAddr         = 1
	ndOptTargetLinkAddr         = 2
	protoICMPv6                 = 58

	naFlagSolicited = 0x40
	naFlagOverride  = 0x20
)

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodesMAC  = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	allNodes     = netip.MustParseAddr("ff02::1")
)

// arpPacket is the IPv4-over-Ethernet ARP payload.
type arpPacket struct {
	op             uint16
	senderMAC      net.HardwareAddr
	senderIP       netip.Addr
	targetMAC      net.HardwareAddr
	targetIP       netip.Addr
	ethSrc, ethDst net.HardwareAddr
}

// parseARP reads an Ethernet frame carrying ARP for IPv4 over Ethernet.
func parseARP(b []byte) (arpPacket, bool) {
	if len(b) < ethHeaderLen+arpLen || binary.BigEndian.Uint16(b[12:]) != etherTypeARP {
		return arpPacket{}, false
	}
	a := b[ethHeaderLen:]
	if binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return arpPacket{}, false
	}
	return arpPacket{
		op:        binary.BigEndian.Uint16(a[6:]),
		senderMAC: net.HardwareAddr(a[8:14]),
		senderIP:  netip.AddrFrom4([4]byte(a[14:18])),
		targetMAC: net.HardwareAddr(a[18:24]),
		targetIP:  netip.AddrFrom4([4]byte(a[24:28])),
		ethDst:    net.HardwareAddr(b[0:6]),
		ethSrc:    net.HardwareAddr(b[6:12]),
	}, true
}

func putEth(b []byte, dst, src net.HardwareAddr, typ uint16) {
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], typ)
}

// arpFrame builds an ARP frame.
func arpFrame(ethDst net.HardwareAddr, op uint16, senderMAC net.HardwareAddr, senderIP netip.Addr, targetMAC net.HardwareAddr, targetIP netip.Addr) []byte {
	b := make([]byte, ethHeaderLen+arpLen)
	putEth(b, ethDst, senderMAC, etherTypeARP)
	a := b[ethHeaderLen:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:14], senderMAC)
	s4 := senderIP.As4()
	copy(a[14:18], s4[:])
	copy(a[18:24], targetMAC)
	t4 := targetIP.As4()
	copy(a[24:28], t4[:])
	return b
}

// gratuitousARP announces ip at mac to the whole segment (an ARP request for itself, which
// every stack accepts as an update, unlike a reply within the neighbour locktime).
func gratuitousARP(mac net.HardwareAddr, ip netip.Addr) []byte {
	return arpFrame(broadcastMAC, arpRequest, mac, ip, make(net.HardwareAddr, 6), ip)
}

// neighborSolicitation is the part of an NS the responder needs.
type neighborSolicitation struct {
	src, dst  netip.Addr
	target    netip.Addr
	sourceMAC net.HardwareAddr // source link-layer address option, or the Ethernet source
}

// parseNS reads an Ethernet frame carrying an ICMPv6 Neighbor Solicitation (RFC 4861 4.3),
// with the validity checks of section 7.1.1 that matter for answering.
func parseNS(b []byte) (neighborSolicitation, bool) {
	if len(b) < ethHeaderLen+ipv6HeaderLen+24 || binary.BigEndian.Uint16(b[12:]) != etherTypeIPv6 {
		return neighborSolicitation{}, false
	}
	ip := b[ethHeaderLen:]
	if ip[0]>>4 != 6 || ip[6] != protoICMPv6 || ip[7] != 255 {
		return neighborSolicitation{}, false // hop limit must be 255: the NS came from this link
	}
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	icmp := ip[ipv6HeaderLen:]
	if plen < 24 || len(icmp) < plen || icmp[0] != icmpv6NeighborSolicitation || icmp[1] != 0 {
		return neighborSolicitation{}, false
	}
	icmp = icmp[:plen]
	ns := neighborSolicitation{
		src:       netip.AddrFrom16([16]byte(ip[8:24])),
		dst:       netip.AddrFrom16([16]byte(ip[24:40])),
		target:    netip.AddrFrom16([16]byte(icmp[8:24])),
		sourceMAC: net.HardwareAddr(b[6:12]),
	}
	if ns.target.IsMulticast() {
		return neighborSolicitation{}, false
	}
	for opts := icmp[24:]; len(opts) >= 8; {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			return neighborSolicitation{}, false
		}
		if opts[0] == ndOptSourceLinkAddr && l >= 8 {
			ns.sourceMAC = net.HardwareAddr(opts[2:8])
		}
		opts = opts[l:]
	}
	return ns, true
}

// neighborAdvertisement builds an NA for target at mac, sent from target to dst.
func neighborAdvertisement(ethDst, mac net.HardwareAddr, target, dst netip.Addr, flags byte) []byte {
	const icmpLen = 24 + 8
	b := make([]byte, ethHeaderLen+ipv6HeaderLen+icmpLen)
	putEth(b, ethDst, mac, etherTypeIPv6)
	ip := b[ethHeaderLen:]
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:], icmpLen)
	ip[6], ip[7] = protoICMPv6, 255
	src16, dst16 := target.As16(), dst.As16()
	copy(ip[8:24], src16[:])
	copy(ip[24:40], dst16[:])
	icmp := ip[ipv6HeaderLen:]
	icmp[0] = icmpv6NeighborAdvertisement
	icmp[4] = flags
	copy(icmp[8:24], src16[:])
	icmp[24], icmp[25] = ndOptTargetLinkAddr, 1
	copy(icmp[26:32], mac)
	binary.BigEndian.PutUint16(icmp[2:], icmpv6Checksum(src16, dst16, icmp))
	return b
}

// unsolicitedNA announces target at mac to all nodes (RFC 4861 7.2.6): Override set,
// Solicited clear.
func unsolicitedNA(mac net.HardwareAddr, target netip.Addr) []byte {
	return neighborAdvertisement(allNodesMAC, mac, target, allNodes, naFlagOverride)
}

// icmpv6Checksum is the Internet checksum over the IPv6 pseudo-header and the message, whose
// checksum field must be zero.
func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:], uint32(len(msg)))
	l[7] = protoICMPv6
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// solicitedNodeMAC is the Ethernet multicast address of ip's solicited-node group
// (ff02::1:ffXX:XXXX → 33:33:ff:XX:XX:XX), where NSs for ip are sent.
func solicitedNodeMAC(ip netip.Addr) net.HardwareAddr { // ff02::1:ffXX:XXXX → 33:33:ff:XX:XX:XX
	b := ip.As16()
	return net.HardwareAddr{0x33, 0x33, 0xff, b[13], b[14], b[15]}
}
