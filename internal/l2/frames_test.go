package l2

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0xb}
)

func TestARPFrames(t *testing.T) {
	vip, client := netip.MustParseAddr("192.168.1.50"), netip.MustParseAddr("192.168.1.7")
	req := arpFrame(broadcastMAC, arpRequest, macB, client, make(net.HardwareAddr, 6), vip)
	p, ok := parseARP(req)
	if !ok || p.op != arpRequest || p.senderIP != client || p.targetIP != vip || !bytes.Equal(p.senderMAC, macB) || !bytes.Equal(p.ethDst, broadcastMAC) {
		t.Fatalf("request parsed as %+v", p)
	}
	g, ok := parseARP(gratuitousARP(macA, vip))
	if !ok || g.op != arpRequest || g.senderIP != vip || g.targetIP != vip || !bytes.Equal(g.senderMAC, macA) || !bytes.Equal(g.ethDst, broadcastMAC) {
		t.Fatalf("gratuitous ARP parsed as %+v (want a broadcast request with sender = target = the VIP)", g)
	}
	if _, ok := parseARP(req[:30]); ok {
		t.Fatal("a truncated frame parsed")
	}
	ipv6 := append([]byte(nil), req...)
	ipv6[12], ipv6[13] = 0x86, 0xdd
	if _, ok := parseARP(ipv6); ok {
		t.Fatal("a non-ARP frame parsed as ARP")
	}
}

// valid checks an ICMPv6 message's checksum the way a receiver does: summing the message with
// its checksum in place gives zero.
func valid(frame []byte) bool {
	ip := frame[ethHeaderLen:]
	return icmpv6Checksum([16]byte(ip[8:24]), [16]byte(ip[24:40]), ip[ipv6HeaderLen:]) == 0
}

func TestNDPFrames(t *testing.T) {
	vip, client := netip.MustParseAddr("fd99::200"), netip.MustParseAddr("fe80::b")
	if got := solicitedNodeMAC(vip).String(); got != "33:33:ff:00:02:00" {
		t.Fatalf("solicited-node MAC of %s: %s", vip, got)
	}
	ns := neighborSolicitation6(macB, client, vip, solicitedNode(vip), solicitedNodeMAC(vip))
	if !valid(ns) {
		t.Fatal("NS checksum does not verify")
	}
	got, ok := parseNS(ns)
	if !ok || got.target != vip || got.src != client || !bytes.Equal(got.sourceMAC, macB) || got.dst.String() != "ff02::1:ff00:200" {
		t.Fatalf("NS parsed as %+v", got)
	}
	na := neighborAdvertisement(macB, macA, vip, client, naFlagSolicited|naFlagOverride)
	if !valid(na) {
		t.Fatal("NA checksum does not verify")
	}
	target, mac, ok := parseNA(na)
	if !ok || target != vip || !bytes.Equal(mac, macA) || na[ethHeaderLen+7] != 255 || na[ethHeaderLen+ipv6HeaderLen+4] != naFlagSolicited|naFlagOverride {
		t.Fatalf("NA: target %s mac %s ok %v", target, mac, ok)
	}
	u := unsolicitedNA(macA, vip)
	if !valid(u) || !bytes.Equal(u[0:6], allNodesMAC) || u[ethHeaderLen+ipv6HeaderLen+4] != naFlagOverride {
		t.Fatal("unsolicited NA: must go to all nodes with Override and without Solicited")
	}

	hop := append([]byte(nil), ns...)
	hop[ethHeaderLen+7] = 254 // routed: not from this link
	if _, ok := parseNS(hop); ok {
		t.Fatal("an NS with hop limit 254 was accepted")
	}
	mcast := neighborSolicitation6(macB, client, netip.MustParseAddr("ff02::1"), allNodes, allNodesMAC)
	if _, ok := parseNS(mcast); ok {
		t.Fatal("an NS for a multicast target was accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(gratuitousARP(macA, netip.MustParseAddr("10.0.0.1")))
	f.Add(neighborSolicitation6(macB, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fd00::1"), allNodes, allNodesMAC))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseARP(b)
		parseNS(b)
		parseNA(b)
	})
}
