package lab

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldlb/herald/internal/netns"
)

// FRRBinaries are what the lab needs of the Debian frr package.
var FRRBinaries = []string{"/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "/usr/bin/vtysh"}

// FRR is one FRR router running in a namespace: zebra, bgpd and bfdd with their own config,
// PID and vty paths in Dir (the flags LAB-NOTES.md records as working), no TCP vty, user frr.
type FRR struct {
	NS  string
	Dir string
	// kept, after KeepConnections, are the connections ShowJSON reuses.
	kept *keptVTYs
}

// StartFRR writes the configurations into dir and starts zebra, bgpd and bfdd in namespace
// ns. The daemons fork; the returned processes name their PID files.
func StartFRR(ns, dir, hostname, bgpdConf, bfddConf string) (*FRR, []Proc, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, err
	}
	files := map[string]string{
		"zebra.conf": "hostname " + hostname + "\n",
		"bgpd.conf":  bgpdConf,
		"bfdd.conf":  bfddConf,
		"vtysh.conf": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			return nil, nil, err
		}
	}
	u, err := user.Lookup("frr")
	if err != nil {
		return nil, nil, fmt.Errorf("user frr does not exist: install the frr package (apt-get install frr)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		return nil, nil, err
	}
	// The daemons run as frr and must reach dir through its parents.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
				return nil, nil, err
			}
		}
	}
	f := &FRR{NS: ns, Dir: dir}
	var procs []Proc
	for _, d := range []string{"zebra", "bfdd", "bgpd"} {
		args := []string{"/usr/lib/frr/" + d, "-d", "-f", filepath.Join(dir, d+".conf"), "-i", filepath.Join(dir, d+".pid"),
			"-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir, "-P", "0", "-u", "frr", "-g", "frr",
			"--log", "file:" + filepath.Join(dir, d+".log")}
		if d == "bfdd" {
			args = append(args, "--bfdctl", filepath.Join(dir, "bfdd.sock"))
		}
		if _, err := netns.Exec(ns, args...); err != nil {
			return f, procs, err
		}
		procs = append(procs, Proc{Name: "frr " + d + " " + hostname, Comm: d, PIDFile: filepath.Join(dir, d+".pid"),
			Log: filepath.Join(dir, d+".log"), Args: args})
		if d == "zebra" {
			if err := waitFor(10*time.Second, func() error {
				_, err := os.Stat(filepath.Join(dir, "zserv.api"))
				return err
			}); err != nil {
				return f, procs, fmt.Errorf("zebra's socket: %w", err)
			}
		}
	}
	return f, procs, waitFor(10*time.Second, func() error {
		_, err := f.Vtysh("show bgp summary json")
		return err
	})
}

// waitFor retries cond every 50 ms until it succeeds or timeout passes.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Vtysh runs one vtysh command against this router.
func (f *FRR) Vtysh(cmd string) (string, error) {
	out, err := exec.Command("vtysh", "--vty_socket", f.Dir, "-c", cmd).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh -c %q: %w: %s", cmd, err, out)
	}
	return string(out), nil
}

// VtyshJSON runs a vtysh command that prints JSON and decodes it.
func (f *FRR) VtyshJSON(cmd string, into any) error {
	out, err := f.Vtysh(cmd)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), into)
}

// VtyshFile runs the commands in a file through vtysh (vtysh -f), as an operator pasting a
// configuration would.
func (f *FRR) VtyshFile(path string) error {
	out, err := exec.Command("vtysh", "--vty_socket", f.Dir, "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vtysh -f %s: %w: %s", path, err, out)
	}
	return nil
}

// VtyshCommand is the command line a person runs for cmd against this router.
func (f *FRR) VtyshCommand(cmd string) string {
	return fmt.Sprintf("ip netns exec %s vtysh --vty_socket %s -c '%s'", f.NS, f.Dir, cmd)
}

// Summary is the part of `show bgp ipv4|ipv6 unicast summary json` the lab reads.
type Summary struct {
	Peers map[string]struct {
		State         string `json:"state"`
		PfxRcd        int    `json:"pfxRcd"`
		RemoteAs      uint32 `json:"remoteAs"`
		PeerUptimeMs  int64  `json:"peerUptimeMsec"`
		Hostname      string `json:"hostname"`
		ConnectionsUp int    `json:"connectionsEstablished"`
	} `json:"peers"`
}

// Summary returns the IPv4 unicast summary.
func (f *FRR) Summary() (Summary, error) {
	var s Summary
	err := f.ShowJSON("bgpd", "show bgp ipv4 unicast summary json", &s)
	return s, err
}

// KernelRoute is one route of `ip -j route`.
type KernelRoute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Protocol string `json:"protocol"`
	Nexthops []struct {
		Gateway string `json:"gateway"`
	} `json:"nexthops"`
}

// NextHops returns the gateways of a route (one, or every ECMP next hop).
func (r KernelRoute) NextHops() []string {
	if r.Gateway != "" {
		return []string{r.Gateway}
	}
	var out []string
	for _, n := range r.Nexthops {
		out = append(out, n.Gateway)
	}
	return out
}

// KernelRoutes lists the routes zebra installed into the router's kernel table, by
// destination (`ip -j route` names host routes without /32).
func (f *FRR) KernelRoutes() (map[string]KernelRoute, error) {
	return KernelRoutes(f.NS, "-4")
}

// NextHopsOf is the sorted, comma-separated next hops of the kernel's BGP route to dst (as
// `ip -j route` names it: without /32 for a host route), "" when there is none, or the error.
func (f *FRR) NextHopsOf(dst string) string {
	rs, err := f.KernelRoutes()
	if err != nil {
		return err.Error()
	}
	nh := rs[dst].NextHops()
	slices.Sort(nh)
	return strings.Join(nh, ",")
}

// ReceivedRoutes are the prefixes the router received from a neighbour, sorted (`show bgp
// ipv4 unicast neighbors ADDR received-routes`; needs soft-reconfiguration inbound, which
// `herald router-config` sets).
func (f *FRR) ReceivedRoutes(neighbour string) ([]string, error) {
	var r struct {
		Routes map[string]any `json:"receivedRoutes"`
	}
	if err := f.ShowJSON("bgpd", "show bgp ipv4 unicast neighbors "+neighbour+" received-routes json", &r); err != nil {
		return nil, err
	}
	out := slices.Sorted(maps.Keys(r.Routes))
	return out, nil
}

// ReceivedFrom says what each neighbour sent, as "ADDR=P1,P2 ADDR2=P3": the one-line form a
// check compares against what a seed expects.
func (f *FRR) ReceivedFrom(neighbours ...string) (string, error) {
	var got []string
	for _, nb := range neighbours {
		ps, err := f.ReceivedRoutes(nb)
		if err != nil {
			return "", err
		}
		got = append(got, nb+"="+strings.Join(ps, ","))
	}
	return strings.Join(got, " "), nil
}

// KernelRoutes lists the BGP routes of one family ("-4", "-6") in namespace ns.
func KernelRoutes(ns, family string) (map[string]KernelRoute, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "ip", family, "-j", "route", "show", "proto", "bgp").Output()
	if err != nil {
		return nil, fmt.Errorf("ip route show proto bgp in %s: %w", ns, err)
	}
	var rs []KernelRoute
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, err
	}
	m := map[string]KernelRoute{}
	for _, r := range rs {
		m[r.Dst] = r
	}
	return m, nil
}

// RouteDetail reads one prefix's paths with their attributes (communities, local pref).
type RouteDetail struct {
	Prefix string `json:"prefix"`
	Paths  []struct {
		LocalPref *uint32                  `json:"locPrf"`
		Community *struct{ String string } `json:"community"`
		LargeComm *struct{ String string } `json:"largeCommunity"`
		Nexthops  []struct{ IP string }    `json:"nexthops"`
		Peer      struct{ PeerID string }  `json:"peer"`
		Origin    string                   `json:"origin"`
		Stale     bool                     `json:"stale"`
	} `json:"paths"`
}

// Route reads `show bgp ipv4|ipv6 unicast PREFIX json`.
func (f *FRR) Route(prefix string) (RouteDetail, error) {
	afi := "ipv4"
	if strings.Contains(prefix, ":") {
		afi = "ipv6"
	}
	var d RouteDetail
	err := f.ShowJSON("bgpd", fmt.Sprintf("show bgp %s unicast %s json", afi, prefix), &d)
	return d, err
}

// FIBRoutes returns how many BGP routes zebra has installed in the kernel (FIB).
func (f *FRR) FIBRoutes() (int, error) {
	var s struct {
		Routes []struct {
			Type string `json:"type"`
			FIB  int    `json:"fib"`
		} `json:"routes"`
	}
	if err := f.ShowJSON("zebra", "show ip route summary json", &s); err != nil {
		return 0, err
	}
	for _, r := range s.Routes {
		if r.Type == "bgp" || r.Type == "ebgp" {
			return r.FIB, nil
		}
	}
	return 0, nil
}

// PID returns the PID of one of this router's daemons (zebra, bgpd, bfdd), 0 if none.
func (f *FRR) PID(daemon string) int {
	b, err := os.ReadFile(filepath.Join(f.Dir, daemon+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// SplitFRRConfig separates what `herald router-config --for frr` prints into bgpd's part and
// bfdd's (the `bfd` block, if any): one file per daemon, as the daemons are started here.
func SplitFRRConfig(conf string) (bgpd, bfdd string) {
	const head = "frr defaults traditional\n"
	if i := strings.Index(conf, "\nbfd\n"); i >= 0 {
		return head + conf[:i+1], conf[i+1:]
	}
	return head + conf, ""
}
