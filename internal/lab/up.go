package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heraldlb/herald/internal/manifest"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/netns"
	"github.com/heraldlb/herald/internal/routercfg"
)

// Prerequisites reports what this machine lacks for a lab: root, iproute2, FRR, arping.
func Prerequisites() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces): run with sudo")
	}
	for _, bin := range append([]string{"ip"}, FRRBinaries...) {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the lab needs %s (Debian: apt-get install frr iproute2 iputils-arping; make lab installs them)", strings.Join(missing, ", "))
	}
	return nil
}

// Up builds the lab: namespaces and segments, FRR on the routers, etcd and kube-apiserver,
// herald operator, the manifests, a backend and a herald agent on every node. A lab that is
// already up and whole only gets the manifests applied again; a broken one (a process died,
// a namespace is gone) is taken down and built afresh. Up returns once everything runs; use
// WaitHealthy for sessions and routes.
func (l *Lab) Up(ctx context.Context) error {
	if err := Prerequisites(); err != nil {
		return err
	}
	spec := l.state.Spec
	if spec.Herald == "" {
		return errors.New("lab: no herald binary given")
	}
	_, built, err := load(spec.Manifests)
	if err != nil {
		return err
	}
	if err := l.checkNodes(&built.Cluster); err != nil {
		return err
	}
	if old, err := Open(spec.Dir, l.out); err == nil {
		why := old.broken()
		if why == "" && old.state.Spec.Name == spec.Name {
			l.sayf("%s is already up; applying %s again", spec.Name, strings.Join(spec.Manifests, ", "))
			old.state.Spec.Manifests = spec.Manifests
			l.state = old.state
			// Nodes killed on purpose come back: up means the whole lab.
			for _, h := range l.state.Spec.hosts(Node) {
				if p, ok := l.Proc(agentName(h.Name)); ok && p.Stopped {
					if err := l.ReviveNode(h.Name); err != nil {
						return err
					}
				}
			}
			return l.applyAndServe(ctx, built)
		}
		l.sayf("found an earlier lab in %s (%s): taking it down first", spec.Dir, why)
		if err := old.Down(); err != nil {
			return fmt.Errorf("taking the earlier lab down: %w", err)
		}
	}
	if err := os.MkdirAll(l.path("logs"), 0o755); err != nil {
		return err
	}
	l.state.Started = time.Now()
	if err := l.save(); err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"network", func() error { return l.buildNetwork(&built.Cluster) }},
		{"routers", func() error { return l.startRouters(&built.Cluster) }},
		{"control plane", func() error { return l.startControlPlane(ctx) }},
		{"operator", l.startOperator},
		{"manifests and nodes", func() error { return l.applyAndServe(ctx, built) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("lab %s: %s: %w (what was built stays for inspection: `herald lab down --dir %s` removes it)", spec.Name, s.what, err, spec.Dir)
		}
	}
	l.state.Ready = true
	return l.save()
}

// broken says why the lab is not whole ("" when it is).
func (l *Lab) broken() string {
	if !l.state.Ready {
		return "its start did not finish"
	}
	for _, ns := range l.state.Namespaces {
		if !netns.Exists(ns) {
			return "namespace " + ns + " is gone"
		}
	}
	for _, p := range l.state.Procs {
		if !p.Alive() && !p.Stopped {
			return p.Name + " is not running"
		}
	}
	return ""
}

// applyAndServe applies the manifests, then makes sure every node runs a backend on every
// Service port and an agent.
func (l *Lab) applyAndServe(ctx context.Context, built *manifest.Built) error {
	l.sayf("applying %s", strings.Join(l.state.Spec.Manifests, ", "))
	if _, err := l.Apply(ctx, l.state.Spec.Manifests...); err != nil {
		return err
	}
	if err := l.serveBackends(tcpPorts(&built.Cluster)); err != nil {
		return err
	}
	for _, h := range l.state.Spec.hosts(Node) {
		if p, ok := l.Proc(agentName(h.Name)); ok && p.Alive() {
			continue
		}
		if err := l.StartAgent(h.Name); err != nil {
			return err
		}
	}
	return nil
}

// buildNetwork creates the switch with a bridge per segment, every host with its links and
// routes, and on every node a local route for every pool: the stand-in for a CNI's data plane,
// which accepts a Service's traffic on any node the network sends it to.
func (l *Lab) buildNetwork(c *model.Cluster) error {
	spec := l.state.Spec
	l.sayf("creating namespaces %s-{%s} and their segments", spec.Name, strings.Join(l.hostNames(), ","))
	if err := l.addNS(switchHost); err != nil {
		return err
	}
	bridges := map[string]string{}
	hosts := append(slices.Clone(spec.Hosts), Host{Name: cpHost})
	veth := 0
	for hi, h := range hosts {
		if err := l.addNS(h.Name); err != nil {
			return err
		}
		ns := l.NS(h.Name)
		if err := sysctls(ns, h.Kind); err != nil {
			return err
		}
		links := slices.Clone(h.Links)
		switch {
		case h.Name == cpHost:
			links = append(links, Link{Segment: mgmtSegment, Name: mgmtIf, Addrs: []string{cpAddr + "/24"}})
		case h.Kind == Node:
			links = append(links, Link{Segment: mgmtSegment, Name: mgmtIf, Addrs: []string{mgmtAddr(hi)}})
		}
		for _, link := range links {
			br, ok := bridges[link.Segment]
			if !ok {
				br = fmt.Sprintf("br%d", len(bridges))
				if err := netns.Bridge(l.NS(switchHost), br); err != nil {
					return err
				}
				bridges[link.Segment] = br
			}
			veth++
			if err := netns.Attach(ns, link.Name, l.NS(switchHost), br, fmt.Sprintf("v%d", veth), link.Addrs...); err != nil {
				return fmt.Errorf("host %s, link %s: %w", h.Name, link.Name, err)
			}
		}
		if h.Gateway != "" {
			if _, err := netns.Exec(ns, "ip", "route", "add", "default", "via", h.Gateway); err != nil {
				return fmt.Errorf("host %s: %w", h.Name, err)
			}
		}
		if h.Kind == Node {
			for _, pool := range c.Pools {
				for _, b := range pool.Blocks {
					for _, p := range b.Prefixes() {
						if _, err := netns.Exec(ns, "ip", "route", "add", "local", p.String(), "dev", "lo"); err != nil {
							return fmt.Errorf("host %s: the pool %s as local addresses: %w", h.Name, pool.Name, err)
						}
					}
				}
			}
		}
	}
	return nil
}

func (l *Lab) hostNames() []string {
	names := []string{switchHost, cpHost}
	for _, h := range l.state.Spec.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// sysctls are set before any interface exists, so that new interfaces inherit them
// (LAB-NOTES.md: redirects would bypass ECMP; without the multipath hash one client lands on
// one node; without arp_ignore every node's kernel answers ARP for the local Service range).
func sysctls(ns string, k Kind) error {
	var set []string
	switch k {
	case Router:
		set = []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
			"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0",
			"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"}
	case Node:
		set = []string{"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"}
	default:
		return nil
	}
	_, err := netns.Exec(ns, append([]string{"sysctl", "-qw"}, set...)...)
	return err
}

// startRouters starts FRR on every router host with what `herald router-config --for frr`
// prints for its addresses (unless the spec leaves the routers unconfigured).
func (l *Lab) startRouters(c *model.Cluster) error {
	for _, h := range l.state.Spec.hosts(Router) {
		bgpd, bfdd := "frr defaults traditional\n", ""
		if !l.state.Spec.RouterUnconfigured {
			conf, err := RouterConfig(c, h)
			if err != nil {
				return err
			}
			bgpd, bfdd = SplitFRRConfig(conf)
			l.sayf("starting FRR in %s with `herald router-config --for frr` for %v", l.NS(h.Name), h.addrs())
		} else {
			l.sayf("starting FRR in %s with no BGP configuration yet", l.NS(h.Name))
		}
		_, procs, err := StartFRR(l.NS(h.Name), l.path("frr-"+h.Name), h.Name, bgpd, bfdd)
		for _, p := range procs {
			p.Host = h.Name
			if rerr := l.record(p); rerr != nil && err == nil {
				err = rerr
			}
		}
		if err != nil {
			return fmt.Errorf("FRR on %s: %w", h.Name, err)
		}
	}
	return nil
}

// RouterConfig is what `herald router-config --for frr` prints for the BGP peers that are
// addresses of router host h.
func RouterConfig(c *model.Cluster, h Host) (string, error) {
	var opts routercfg.Options
	if h.ListenRange != "" {
		opts.ListenRange = netip.MustParsePrefix(h.ListenRange) // Validate checked it
	}
	routers, err := routercfg.Build(c, opts)
	if err != nil {
		return "", err
	}
	mine := slices.DeleteFunc(routers, func(r routercfg.Router) bool { return !slices.Contains(h.addrs(), r.Address) })
	if len(mine) == 0 {
		return "", fmt.Errorf("router %s: no BGP peer of the manifests is one of its addresses %v", h.Name, h.addrs())
	}
	var b strings.Builder
	if err := routercfg.Render(&b, "frr", mine); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Router returns the FRR of a router host.
func (l *Lab) Router(host string) *FRR {
	return &FRR{NS: l.NS(host), Dir: l.path("frr-" + host)}
}

// ConfigureRouter loads what `herald router-config --for frr` prints into a router's running
// FRR through vtysh, as its owner would paste it (seed 002's step 4).
func (l *Lab) ConfigureRouter(host string) error {
	h, ok := l.state.Spec.Host(host)
	if !ok || h.Kind != Router {
		return fmt.Errorf("no router %q in lab %s", host, l.state.Spec.Name)
	}
	_, built, err := load(l.state.Spec.Manifests)
	if err != nil {
		return err
	}
	conf, err := RouterConfig(&built.Cluster, h)
	if err != nil {
		return err
	}
	path := l.path("frr-"+host, "herald-router-config.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return err
	}
	l.sayf("loading `herald router-config --for frr` into %s", l.NS(host))
	return l.Router(host).VtyshFile(path)
}

func (l *Lab) startOperator() error {
	l.sayf("starting herald operator in %s", l.NS(cpHost))
	// The lab's API server serves only the lab: let the operator write as fast as it can
	// (the default of 100 requests/s would take minutes over thousands of Services).
	_, err := l.start("operator", cpHost, l.state.Spec.Herald, "operator", "--kubeconfig", l.Kubeconfig(),
		"--leader-election-namespace", HeraldNamespace, "--namespace", HeraldNamespace, "--metrics-addr", "127.0.0.1:9587",
		"--status-addr", cpAddr+":9586", "--kube-api-qps", "2000", "--kube-api-burst", "4000")
	return err
}

func agentName(node string) string   { return "agent " + node }
func backendName(node string) string { return "backend " + node }

// NodeState is the state directory of a node's agent: its status socket, for `herald bgp
// peers --state DIR`.
func (l *Lab) NodeState(node string) string { return l.path("nodes", node) }

// StartAgent starts (or starts again) the herald agent of a node.
func (l *Lab) StartAgent(node string) error {
	if h, ok := l.state.Spec.Host(node); !ok || h.Kind != Node {
		return fmt.Errorf("no node %q in lab %s", node, l.state.Spec.Name)
	}
	if p, ok := l.Proc(agentName(node)); ok && p.Alive() {
		return fmt.Errorf("the agent of %s is running already (pid %d)", node, p.pid())
	}
	l.sayf("starting herald agent on %s", node)
	args := append([]string{l.state.Spec.Herald, "agent", "--node", node, "--kubeconfig", l.Kubeconfig(),
		"--namespace", HeraldNamespace, "--state", l.NodeState(node), "--status-interval", "1s", "--drain-when-cordoned"},
		l.state.Spec.AgentArgs...)
	_, err := l.start(agentName(node), node, args...)
	return err
}

// StopAgent stops a node's agent with sig (SIGTERM: as Kubernetes stops a pod; SIGKILL: a
// crash) and waits until it has exited.
func (l *Lab) StopAgent(node string, sig syscall.Signal) error {
	p, ok := l.Proc(agentName(node))
	if !ok {
		return fmt.Errorf("no agent on %q", node)
	}
	if err := p.Stop(sig, 30*time.Second); err != nil {
		return err
	}
	p.Stopped = true
	return l.record(p)
}

// serveBackends (re)starts every node's backend when the set of Service ports changed.
func (l *Lab) serveBackends(ports []int) error {
	if len(ports) == 0 {
		ports = []int{80}
	}
	var want []string
	for _, p := range ports {
		want = append(want, "--port", fmt.Sprint(p))
	}
	for _, h := range l.state.Spec.hosts(Node) {
		name := backendName(h.Name)
		if p, ok := l.Proc(name); ok {
			if p.Alive() && len(p.Args) >= len(want) && slices.Equal(p.Args[len(p.Args)-len(want):], want) {
				continue
			}
			if err := p.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
				return err
			}
		}
		args := append([]string{l.state.Spec.Herald, "lab", "backend", "--node", h.Name}, want...)
		if _, err := l.start(name, h.Name, args...); err != nil {
			return err
		}
	}
	l.sayf("backends on every node answer HTTP on ports %v", ports)
	return nil
}

// nodeAddrTowards is the node's address on the subnet of peer (its first address when none).
func (l *Lab) nodeAddrTowards(node string, peer netip.Addr) netip.Addr {
	h, _ := l.state.Spec.Host(node)
	var first netip.Addr
	for _, link := range h.Links {
		for _, a := range link.Addrs {
			p := netip.MustParsePrefix(a) // Validate checked it
			if p.Masked().Contains(peer) {
				return p.Addr()
			}
			if !first.IsValid() {
				first = p.Addr()
			}
		}
	}
	return first
}
