package l2

import (
	"bufio"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/heraldlb/herald/internal/election"
)

// LocalMember describes this host's interfaces: the Ethernet interfaces that are up, and the
// interface of the default route (IPv4 first, then IPv6), which policies without interfaces
// answer on.
func LocalMember() (election.Member, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return election.Member{}, err
	}
	var m election.Member
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) != 6 {
			continue
		}
		m.Interfaces = append(m.Interfaces, ifi.Name)
	}
	slices.Sort(m.Interfaces)
	m.DefaultInterface = defaultRouteInterface("/proc/net/route", func(f []string) (string, bool) {
		return f[0], len(f) > 7 && f[1] == "00000000" && f[7] == "00000000"
	})
	if m.DefaultInterface == "" {
		m.DefaultInterface = defaultRouteInterface("/proc/net/ipv6_route", func(f []string) (string, bool) {
			return f[len(f)-1], len(f) == 10 && f[0] == strings.Repeat("0", 32) && f[1] == "00" && f[9] != "lo"
		})
	}
	return m, nil
}

func defaultRouteInterface(path string, match func([]string) (string, bool)) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if name, ok := match(fields); ok {
			return name
		}
	}
	return ""
}
