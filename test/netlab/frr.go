package netlab

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FRR is one FRR router running in a namespace of the lab.
type FRR struct {
	lab *Lab
	ns  string
	dir string
}

// StartFRR starts zebra and bgpd (and bfdd when bfddConf is not empty) in ns, using the flags
// LAB-NOTES.md records as working: own config, pid and vty paths, no TCP vty, user frr.
func (l *Lab) StartFRR(ns, bgpdConf, bfddConf string) *FRR {
	l.t.Helper()
	dir := filepath.Join(l.dir, "frr-"+ns)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		l.t.Fatal(err)
	}
	files := map[string]string{
		"zebra.conf": "hostname " + ns + "\n",
		"bgpd.conf":  bgpdConf,
		"bfdd.conf":  bfddConf,
		"vtysh.conf": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			l.t.Fatal(err)
		}
	}
	u, err := user.Lookup("frr")
	if err != nil {
		l.t.Fatal("user frr does not exist: install the frr package")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	// The lab directory lives under the test's temp dir, which frr must be able to reach.
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(p, st.Mode().Perm()|0o011)
		}
	}
	f := &FRR{lab: l, ns: ns, dir: dir}
	daemons := []string{"zebra", "bgpd"}
	if bfddConf != "" {
		daemons = append(daemons, "bfdd")
	}
	for _, d := range daemons {
		args := []string{"/usr/lib/frr/" + d, "-d", "-f", filepath.Join(dir, d+".conf"), "-i", filepath.Join(dir, d+".pid"),
			"-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir, "-P", "0", "-u", "frr", "-g", "frr"}
		if d == "bfdd" {
			args = append(args, "--bfdctl", filepath.Join(dir, "bfdd.sock"))
		}
		l.Exec(ns, args...)
		l.pids = append(l.pids, pidFile{filepath.Join(dir, d+".pid"), d})
		if d == "zebra" {
			l.WaitFor("zebra's socket", 10*time.Second, func() string {
				if _, err := os.Stat(filepath.Join(dir, "zserv.api")); err != nil {
					return err.Error()
				}
				return ""
			})
		}
	}
	l.WaitFor("bgpd's vty", 10*time.Second, func() string {
		if _, err := f.Vtysh("show bgp summary json"); err != nil {
			return err.Error()
		}
		return ""
	})
	return f
}

// Vtysh runs one vtysh command against this router.
func (f *FRR) Vtysh(cmd string) (string, error) {
	out, err := exec.Command("vtysh", "--vty_socket", f.dir, "-c", cmd).CombinedOutput()
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

// Summary is the part of `show bgp ipv4 unicast summary json` the tests read.
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
	err := f.VtyshJSON("show bgp ipv4 unicast summary json", &s)
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

// KernelRoutes lists the routes zebra installed into the router namespace's kernel table.
func (f *FRR) KernelRoutes() (map[string]KernelRoute, error) {
	var rs []KernelRoute
	if err := f.lab.JSON(f.ns, &rs, "ip", "-j", "route", "show", "proto", "bgp"); err != nil {
		return nil, err
	}
	out := map[string]KernelRoute{}
	for _, r := range rs {
		out[r.Dst] = r
	}
	return out, nil
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
	err := f.VtyshJSON(fmt.Sprintf("show bgp %s unicast %s json", afi, prefix), &d)
	return d, err
}

// PID returns the pid of one of this router's daemons (zebra, bgpd, bfdd).
func (f *FRR) PID(daemon string) int {
	b, err := os.ReadFile(filepath.Join(f.dir, daemon+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// VtyshFile runs the commands in a file through vtysh (vtysh -f).
func (f *FRR) VtyshFile(path string) error {
	out, err := exec.Command("vtysh", "--vty_socket", f.dir, "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vtysh -f %s: %w: %s", path, err, out)
	}
	return nil
}

// FIBRoutes returns how many BGP routes zebra has installed in the kernel (FIB).
func (f *FRR) FIBRoutes() (int, error) {
	var s struct {
		Routes []struct {
			Type string `json:"type"`
			FIB  int    `json:"fib"`
		} `json:"routes"`
	}
	if err := f.VtyshJSON("show ip route summary json", &s); err != nil {
		return 0, err
	}
	for _, r := range s.Routes {
		if r.Type == "bgp" || r.Type == "ebgp" {
			return r.FIB, nil
		}
	}
	return 0, nil
}

// RSS returns a process's resident set size in bytes.
func RSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
