package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/l2"
	"github.com/heraldlb/herald/internal/netns"
	"github.com/heraldlb/herald/internal/status"
)

// Verdict is how a check came out.
type Verdict string

// Verdicts. Info is for facts that are neither right nor wrong (a Service no advertisement
// selects is not answered, by design).
const (
	OK   Verdict = "ok"
	Fail Verdict = "FAIL"
	Info Verdict = "info"
)

// Check is one thing a user would look at, the command they would run for it, what it showed
// and what that means.
type Check struct {
	Title   string  `json:"title"`
	Command string  `json:"command,omitempty"`
	Output  string  `json:"output,omitempty"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
}

// Report is the lab's state as the checks see it.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failed returns the checks that failed.
func (r Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Verdict == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Print writes the report for a person: each check's command, its output, and the verdict.
func (r Report) Print(w io.Writer, verbose bool) {
	for _, c := range r.Checks {
		fmt.Fprintf(w, "\n== %s\n", c.Title)
		if c.Command != "" {
			fmt.Fprintf(w, "$ %s\n", c.Command)
		}
		if c.Output != "" && (verbose || c.Verdict != OK || !strings.Contains(c.Command, "curl")) {
			fmt.Fprintln(w, strings.TrimRight(c.Output, "\n"))
		}
		fmt.Fprintf(w, "%s: %s\n", c.Verdict, c.Detail)
	}
	failed := len(r.Failed())
	fmt.Fprintf(w, "\nlab: %d checks, %d failed\n", len(r.Checks), failed)
}

// nodeView is what one node's agent reports on its status socket.
type nodeView struct {
	host string
	snap *status.Snapshot
	err  error
}

// Status runs every check: each node's sessions (`herald bgp peers`), each router's
// summary and kernel routes (one route per advertised prefix, through every node that
// advertises it), every Service address from the client (the answer must come from a node
// that announces it), and every L2 address asked from a router on its segment (exactly the
// owner's MAC answers).
func (l *Lab) Status(ctx context.Context) Report {
	var r Report
	views := l.nodeViews(ctx)
	for _, v := range views {
		r.Checks = append(r.Checks, l.checkPeers(v))
	}
	expected := l.expectedRoutes(ctx, views)
	for _, h := range l.state.Spec.hosts(Router) {
		r.Checks = append(r.Checks, l.checkRouterSummary(h), l.checkRouterRoutes(h, expected[h.Name]))
	}
	r.Checks = append(r.Checks, l.checkServices(ctx, views, expected)...)
	r.Checks = append(r.Checks, l.checkL2(views)...)
	return r
}

// WaitHealthy runs Status until no check fails or timeout passes, and returns the last
// report (the timeout bounds a failure; nothing is measured by it).
func (l *Lab) WaitHealthy(ctx context.Context, timeout time.Duration) Report {
	deadline := time.Now().Add(timeout)
	last := -1
	for {
		r := l.Status(ctx)
		failed := len(r.Failed())
		if failed == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return r
		}
		if failed != last {
			l.sayf("waiting for sessions, routes and answers: %d of %d checks pass", len(r.Checks)-failed, len(r.Checks))
			last = failed
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (l *Lab) nodeViews(ctx context.Context) []nodeView {
	var out []nodeView
	for _, h := range l.state.Spec.hosts(Node) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		snap, err := status.Fetch(cctx, filepath.Join(l.NodeState(h.Name), status.SocketName))
		cancel()
		out = append(out, nodeView{host: h.Name, snap: snap, err: err})
	}
	return out
}

func (l *Lab) heraldCommand(args ...string) string {
	return strings.Join(append([]string{"herald"}, args...), " ")
}

func (l *Lab) checkPeers(v nodeView) Check {
	args := []string{"bgp", "peers", "--state", l.NodeState(v.host)}
	c := Check{Title: v.host + ": herald bgp peers", Command: l.heraldCommand(args...)}
	if why := l.stoppedOnPurpose(v.host); why != "" {
		c.Verdict, c.Detail = Fail, why
		return c
	}
	if v.err != nil {
		c.Verdict, c.Detail = Fail, "the agent does not answer on its status socket: "+v.err.Error()
		return c
	}
	out, _ := exec.Command(l.state.Spec.Herald, args...).CombinedOutput()
	c.Output = string(out)
	total, up := 0, 0
	var down []string
	for _, in := range v.snap.BGP {
		for _, p := range in.Peers {
			total++
			if p.State == bgp.StateEstablished {
				up++
			} else {
				down = append(down, fmt.Sprintf("%s is %s", p.Address, p.State))
			}
		}
	}
	switch {
	case total == 0:
		c.Verdict, c.Detail = Info, "no BGP sessions on this node (no cluster config selects it)"
	case up == total:
		c.Verdict, c.Detail = OK, fmt.Sprintf("%d of %d sessions established", up, total)
	default:
		c.Verdict, c.Detail = Fail, fmt.Sprintf("%d of %d sessions established: %s", up, total, strings.Join(down, "; "))
	}
	return c
}

// stoppedOnPurpose explains a node whose agent the lab stopped (herald lab kill, or a test).
func (l *Lab) stoppedOnPurpose(node string) string {
	if p, ok := l.Proc(agentName(node)); ok && p.Stopped && !p.Alive() {
		return fmt.Sprintf("%s was stopped on purpose (herald lab kill); `herald lab revive %s` brings it back", node, node)
	}
	return ""
}

func (l *Lab) checkRouterSummary(h Host) Check {
	f := l.Router(h.Name)
	c := Check{Title: h.Name + ": show ip bgp summary", Command: f.VtyshCommand("show ip bgp summary")}
	c.Output, _ = f.Vtysh("show ip bgp summary")
	s, err := f.Summary()
	if err != nil {
		c.Verdict, c.Detail = Fail, err.Error()
		return c
	}
	var bad []string
	for addr, p := range s.Peers {
		if p.State != "Established" {
			note := ""
			for _, n := range l.state.Spec.hosts(Node) {
				if a, err := netip.ParseAddr(addr); err == nil && slices.Contains(n.addrs(), a) && l.stoppedOnPurpose(n.Name) != "" {
					note = " (" + n.Name + " was stopped on purpose)"
				}
			}
			bad = append(bad, addr+" "+p.State+note)
		}
	}
	slices.Sort(bad)
	switch {
	case len(s.Peers) == 0:
		c.Verdict, c.Detail = Fail, "no neighbours: the router has no BGP configuration for the nodes (`herald router-config --for frr` prints it)"
	case len(bad) > 0:
		c.Verdict, c.Detail = Fail, fmt.Sprintf("%d of %d neighbours not established: %s", len(bad), len(s.Peers), strings.Join(bad, ", "))
	default:
		c.Verdict, c.Detail = OK, fmt.Sprintf("%d of %d neighbours established", len(s.Peers), len(s.Peers))
	}
	return c
}

// expectedRoutes is, per router host, each prefix the nodes advertise to one of its
// addresses and the next hops they advertise it with.
func (l *Lab) expectedRoutes(ctx context.Context, views []nodeView) map[string]map[netip.Prefix][]string {
	out := map[string]map[netip.Prefix][]string{}
	for _, h := range l.state.Spec.hosts(Router) {
		want := map[netip.Prefix][]string{}
		for _, v := range views {
			if v.err != nil {
				continue
			}
			for _, in := range v.snap.BGP {
				for _, p := range in.Peers {
					addr, err := netip.ParseAddr(p.Address)
					if err != nil || !slices.Contains(h.addrs(), addr) || p.State != bgp.StateEstablished {
						continue
					}
					for _, afi := range []string{"ipv4", "ipv6"} {
						cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
						routes, err := status.FetchRoutes(cctx, filepath.Join(l.NodeState(v.host), status.SocketName), in.Name, p.Address, afi)
						cancel()
						if err != nil {
							continue
						}
						for _, rt := range routes {
							pfx, err := netip.ParsePrefix(rt.Prefix)
							if err != nil {
								continue
							}
							nh := rt.NextHop
							if a, err := netip.ParseAddr(nh); err != nil || a.IsUnspecified() {
								nh = l.nodeAddrTowards(v.host, addr).String()
							}
							if !slices.Contains(want[pfx], nh) {
								want[pfx] = append(want[pfx], nh)
							}
						}
					}
				}
			}
		}
		out[h.Name] = want
	}
	return out
}

func (l *Lab) checkRouterRoutes(h Host, want map[netip.Prefix][]string) Check {
	ns := l.NS(h.Name)
	c := Check{Title: h.Name + ": ip route show proto bgp", Command: "ip netns exec " + ns + " ip route show proto bgp"}
	out, _ := netns.Exec(ns, "ip", "route", "show", "proto", "bgp")
	if v6, _ := netns.Exec(ns, "ip", "-6", "route", "show", "proto", "bgp"); v6 != "" {
		out += v6
	}
	c.Output = out
	have4, err4 := KernelRoutes(ns, "-4")
	have6, err6 := KernelRoutes(ns, "-6")
	if err4 != nil || err6 != nil {
		c.Verdict, c.Detail = Fail, fmt.Sprint(err4, err6)
		return c
	}
	var bad []string
	hops := map[int]int{}
	for pfx, nhs := range want {
		key, have := pfx.String(), have4
		if pfx.Addr().Is6() {
			have = have6
		}
		if pfx.IsSingleIP() {
			key = pfx.Addr().String() // `ip -j route` names host routes without the length
		}
		got := have[key].NextHops()
		slices.Sort(got)
		w := slices.Sorted(slices.Values(nhs))
		if !slices.Equal(got, w) {
			bad = append(bad, fmt.Sprintf("%s via %v, want %v", pfx, got, w))
		}
		hops[len(w)]++
	}
	slices.Sort(bad)
	switch {
	case len(want) == 0:
		c.Verdict, c.Detail = Info, "no node advertises anything to this router"
	case len(bad) > 0:
		c.Verdict, c.Detail = Fail, fmt.Sprintf("%d of %d advertised prefixes are not in the kernel as advertised: %s", len(bad), len(want), strings.Join(bad, "; "))
	default:
		var parts []string
		for n, count := range hops {
			parts = append(parts, fmt.Sprintf("%d with %d next hop(s)", count, n))
		}
		slices.Sort(parts)
		c.Verdict, c.Detail = OK, fmt.Sprintf("%d routes, each through every node that advertises it: %s", len(want), strings.Join(parts, ", "))
	}
	return c
}

// checkServices fetches every LoadBalancer Service address from the client, over HTTP on
// the Service's first TCP port. An address that is announced must be answered, by a node that
// announces it.
func (l *Lab) checkServices(ctx context.Context, views []nodeView, expected map[string]map[netip.Prefix][]string) []Check {
	clients := l.state.Spec.hosts(Client)
	if len(clients) == 0 {
		return nil
	}
	client := clients[0]
	c := Check{Title: client.Name + ": every Service address"}
	kc, err := l.Client()
	if err != nil {
		c.Verdict, c.Detail = Fail, err.Error()
		return []Check{c}
	}
	var svcs corev1.ServiceList
	if err := kc.List(ctx, &svcs); err != nil {
		c.Verdict, c.Detail = Fail, "listing Services: "+err.Error()
		return []Check{c}
	}
	owners := l2Owners(views)
	var out strings.Builder
	var failed []string
	answered, asked, silent := 0, 0, 0
	for _, s := range svcs.Items {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		port := 0
		for _, p := range s.Spec.Ports {
			if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
				port = int(p.Port)
				break
			}
		}
		for _, ing := range s.Status.LoadBalancer.Ingress {
			addr, err := netip.ParseAddr(ing.IP)
			if err != nil || port == 0 {
				continue
			}
			announcers := l.announcers(addr, expected, owners)
			target := net.JoinHostPort(addr.String(), fmt.Sprint(port))
			name := s.Namespace + "/" + s.Name
			if len(announcers) == 0 {
				silent++
				fmt.Fprintf(&out, "%-22s %-40s not announced (no advertisement or L2 policy selects it, or no node may announce it)\n", target, name)
				continue
			}
			asked++
			// New connections hash onto the router's ECMP paths afresh: keep asking until every
			// announcer has answered (or enough tries), so one broken node cannot hide.
			var nodes []string
			var ferr error
			for try := 0; try < 4*len(announcers) && len(nodes) < len(announcers) && ferr == nil; try++ {
				got, err := httpGet(ctx, l.NS(client.Name), target)
				node, _, _ := strings.Cut(got, " ")
				switch {
				case err != nil:
					ferr = err
				case !slices.Contains(announcers, node):
					ferr = fmt.Errorf("answered by %s, which does not announce it (%v do)", node, announcers)
				case !slices.Contains(nodes, node):
					nodes = append(nodes, node)
				}
			}
			slices.Sort(nodes)
			if ferr != nil {
				failed = append(failed, fmt.Sprintf("%s (%s): %v", target, name, ferr))
				fmt.Fprintf(&out, "%-22s %-40s %v\n", target, name, ferr)
				continue
			}
			answered++
			fmt.Fprintf(&out, "%-22s %-40s answered by %s\n", target, name, strings.Join(nodes, ", "))
		}
	}
	c.Command = fmt.Sprintf("ip netns exec %s curl -s http://ADDRESS:PORT/   (for each Service address)", l.NS(client.Name))
	c.Output = out.String()
	switch {
	case len(failed) > 0:
		c.Verdict, c.Detail = Fail, fmt.Sprintf("%d of %d announced addresses answered: %s", answered, asked, strings.Join(failed, "; "))
	case asked == 0:
		c.Verdict, c.Detail = Fail, "no Service address is announced"
	default:
		c.Verdict, c.Detail = OK, fmt.Sprintf("%d of %d announced addresses answered by a node that announces them", answered, asked)
		if silent > 0 {
			c.Detail += fmt.Sprintf(" (%d not announced)", silent)
		}
	}
	return []Check{c}
}

// announcers are the nodes that announce addr: over BGP to some router (a route covering
// it), or as its L2 owner.
func (l *Lab) announcers(addr netip.Addr, expected map[string]map[netip.Prefix][]string, owners map[string]string) []string {
	var out []string
	if o := owners[addr.String()]; o != "" {
		out = append(out, o)
	}
	for _, routes := range expected {
		for pfx, nhs := range routes {
			if !pfx.Contains(addr) {
				continue
			}
			for _, nh := range nhs {
				for _, h := range l.state.Spec.hosts(Node) {
					if slices.Contains(h.addrs(), netip.MustParseAddr(nh)) && !slices.Contains(out, h.Name) {
						out = append(out, h.Name)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// l2Owners maps each L2 address to the owner the nodes agree on ("" when they do not).
func l2Owners(views []nodeView) map[string]string {
	out := map[string]string{}
	seen := map[string]bool{}
	for _, v := range views {
		if v.err != nil || v.snap.L2 == nil {
			continue
		}
		for _, a := range v.snap.L2.Announcements {
			if prev, ok := out[a.IP]; ok && prev != a.Owner {
				out[a.IP] = ""
				continue
			}
			if !seen[a.IP] {
				out[a.IP] = a.Owner
				seen[a.IP] = true
			}
		}
	}
	return out
}

// Fetch gets http://target/ from inside a host of the lab, as curl there would: a backend
// answers with its node's name and the address it was reached on.
func (l *Lab) Fetch(ctx context.Context, host, target string) (string, error) {
	return httpGet(ctx, l.NS(host), target)
}

// httpGet fetches http://target/ from inside namespace ns, as curl in the client would.
func httpGet(ctx context.Context, ns, target string) (string, error) {
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: netns.DialContext(ns), DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return string(b), err
}

// checkL2 asks for every L2 address from a router on the owner's segment: exactly the owner's
// interface must answer.
func (l *Lab) checkL2(views []nodeView) []Check {
	var out []Check
	seen := map[string]bool{}
	for _, v := range views {
		if v.err != nil || v.snap.L2 == nil {
			continue
		}
		for _, a := range v.snap.L2.Announcements {
			if seen[a.IP] {
				continue
			}
			seen[a.IP] = true
			out = append(out, l.checkL2Address(a, l2Owners(views)[a.IP]))
		}
	}
	return out
}

func (l *Lab) checkL2Address(a status.L2Announcement, owner string) Check {
	c := Check{Title: "L2: who answers ARP/NDP for " + a.IP + " (" + a.Service + ")"}
	if owner == "" {
		c.Verdict, c.Detail = Fail, "the nodes do not agree on an owner, or no eligible node is healthy"
		return c
	}
	oh, _ := l.state.Spec.Host(owner)
	var ifname string
	if len(a.Interfaces) > 0 {
		ifname = a.Interfaces[0]
	}
	li := slices.IndexFunc(oh.Links, func(k Link) bool { return k.Name == ifname })
	if li < 0 {
		c.Verdict, c.Detail = Fail, fmt.Sprintf("owner %s answers on %q, which is not one of its links", owner, ifname)
		return c
	}
	segment := oh.Links[li].Segment
	var asker Host
	var askIf string
	for _, h := range l.state.Spec.Hosts {
		if h.Kind == Node {
			continue
		}
		for _, k := range h.Links {
			if k.Segment == segment && askIf == "" {
				asker, askIf = h, k.Name
			}
		}
	}
	if askIf == "" {
		c.Verdict, c.Detail = Info, fmt.Sprintf("owned by %s on %s; no router or client on that segment to ask from", owner, ifname)
		return c
	}
	ip := netip.MustParseAddr(a.IP)
	c.Command = fmt.Sprintf("ip netns exec %s arping -b -c 3 -I %s %s", l.NS(asker.Name), askIf, a.IP)
	if ip.Is6() {
		c.Command = fmt.Sprintf("ip netns exec %s ping -6 -c 1 -I %s %s; ip netns exec %s ip -6 neigh show %s", l.NS(asker.Name), askIf, a.IP, l.NS(asker.Name), a.IP)
	}
	want, err := netns.Exec(l.NS(owner), "cat", "/sys/class/net/"+ifname+"/address")
	if err != nil {
		c.Verdict, c.Detail = Fail, err.Error()
		return c
	}
	want = strings.ToLower(strings.TrimSpace(want))
	var macs []string
	err = netns.Do(l.NS(asker.Name), func() (err error) {
		macs, err = l2.Who(askIf, ip, 500*time.Millisecond, nil)
		return err
	})
	c.Output = fmt.Sprintf("answers from %v (owner %s on %s has %s)", macs, owner, ifname, want)
	switch {
	case err != nil:
		c.Verdict, c.Detail = Fail, err.Error()
	case !slices.Equal(macs, []string{want}):
		c.Verdict, c.Detail = Fail, fmt.Sprintf("answered by %v; want only %s (%s's %s)", macs, want, owner, ifname)
	default:
		c.Verdict, c.Detail = OK, fmt.Sprintf("answered by %s only (%s on %s)", owner, want, ifname)
	}
	return c
}
