package netlab

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/heraldlb/herald/internal/l2"
	"github.com/heraldlb/herald/internal/netns"
)

// InNS runs fn on an OS thread that has entered namespace ns (netns.Do).
func (l *Lab) InNS(ns string, fn func() error) error { return netns.Do(l.NS(ns), fn) }

// MAC returns the Ethernet address of an interface in ns.
func (l *Lab) MAC(ns, ifname string) string {
	l.t.Helper()
	out := l.Exec(ns, "cat", "/sys/class/net/"+ifname+"/address")
	return strings.ToLower(strings.TrimSpace(out))
}

var arpingReply = regexp.MustCompile(`reply from \S+ \[([0-9A-Fa-f:]{17})\]`)

// Arping broadcasts count ARP requests for ip from ns on ifname and returns the distinct MACs
// that answered, sorted. Broadcasting every request (-b) is what shows a second responder:
// arping otherwise switches to unicast after the first reply.
func (l *Lab) Arping(ns, ifname, ip string, count int) []string {
	out, _ := exec.Command("ip", "netns", "exec", l.NS(ns), "arping", "-b", "-c", fmt.Sprint(count), "-w", fmt.Sprint(count+1), "-I", ifname, ip).CombinedOutput()
	var macs []string
	for _, m := range arpingReply.FindAllStringSubmatch(string(out), -1) {
		macs = append(macs, strings.ToLower(m[1]))
	}
	slices.Sort(macs)
	return slices.Compact(macs)
}

// WhoHas sends one ARP request (IPv4) or Neighbor Solicitation (IPv6) for ip from ns on
// ifname and returns the distinct MACs that answered within wait, sorted. It is the fast,
// sub-second form of Arping, for checks repeated through a transition.
func (l *Lab) WhoHas(ns, ifname, ip string, wait time.Duration) []string {
	return l.AskHost(ns, ifname, ip, "", wait)
}

// AskHost is WhoHas asked of one host only (its MAC; "" asks everyone): a unicast ARP
// request, or a unicast NS like a neighbour's reachability probe.
func (l *Lab) AskHost(ns, ifname, ip, mac string, wait time.Duration) []string {
	l.t.Helper()
	var to net.HardwareAddr
	if mac != "" {
		var err error
		if to, err = net.ParseMAC(mac); err != nil {
			l.t.Fatal(err)
		}
	}
	var macs []string
	err := l.InNS(ns, func() (err error) {
		macs, err = l2.Who(ifname, netip.MustParseAddr(ip), wait, to)
		return err
	})
	if err != nil {
		l.t.Fatalf("who has %s on %s/%s: %v", ip, ns, ifname, err)
	}
	return macs
}

// Neighbour returns the MAC the kernel of ns holds for ip ("" when none).
func (l *Lab) Neighbour(ns, ip string) string {
	out, _ := exec.Command("ip", "netns", "exec", l.NS(ns), "ip", "neigh", "show", ip).CombinedOutput()
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "lladdr" && i+1 < len(f) {
			return strings.ToLower(f[i+1])
		}
	}
	return ""
}

// ForwardTCP listens on listen inside namespace ns and forwards every connection to target
// (an address on this host's loopback, such as the test API server) from the test process:
// processes in the lab reach it without any route out of their namespace.
func (l *Lab) ForwardTCP(ns, listen, target string) {
	l.t.Helper()
	ln, err := netns.Listen(l.NS(ns), "tcp", listen)
	if err != nil {
		l.t.Fatalf("forwarding %s in %s: %v", listen, ns, err)
	}
	l.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}
