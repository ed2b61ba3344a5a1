package l2

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/status"
	"github.com/heraldlb/herald/test/netlab"
)

// lan is three nodes and a client on one bridge, each node with the VIPs on lo (as kube-proxy
// would accept them) and a TCP server on every VIP that answers with the node's name.
type lan struct {
	*netlab.Lab
	t      testing.TB
	nodes  []string
	herald map[string]*netlab.Herald
	dir    string
	vips   []string
}

const lanManifests = `apiVersion: herald.io/v1alpha1
kind: LoadBalancerIPPool
metadata: {name: lan}
spec:
  blocks: [{cidr: 10.99.0.200/29}, {cidr: "fd99::200/125"}]
---
apiVersion: herald.io/v1alpha1
kind: L2AnnouncementPolicy
metadata: {name: lan}
spec:
  interfaces: ["^eth0$"]
  loadBalancerIPs: true
  serviceSelector: {matchLabels: {io.kubernetes.service.namespace: default}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations: {herald.io/ips: "10.99.0.200,fd99::200"}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  ports: [{port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: default
  annotations: {herald.io/ips: "10.99.0.202"}
spec:
  type: LoadBalancer
  ports: [{port: 8080, protocol: TCP}]
`

func nodeManifest(name, v4, v6 string) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Node
metadata: {name: %s}
status: {addresses: [{type: InternalIP, address: %s}, {type: InternalIP, address: "%s"}]}
`, name, v4, v6)
}

func newLAN(t testing.TB, extraArgs ...string) *lan {
	l := &lan{Lab: netlab.New(t), t: t, herald: map[string]*netlab.Herald{}, dir: t.TempDir(),
		vips: []string{"10.99.0.200", "10.99.0.202", "fd99::200"}}
	l.AddNS("sw")
	l.Bridge("sw", "br0")
	l.AddNS("client")
	l.Exec("client", "sysctl", "-qw", "net.ipv6.conf.all.dad_transmits=0", "net.ipv6.conf.default.dad_transmits=0")
	l.Attach("client", "eth0", "sw", "br0", "10.99.0.100/24", "fd99::100/64")
	manifests := lanManifests
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("node%d", i)
		l.nodes = append(l.nodes, n)
		v4, v6 := fmt.Sprintf("10.99.0.1%d", i), fmt.Sprintf("fd99::1%d", i)
		l.AddNS(n)
		// arp_ignore=1: the kernel answers ARP only for addresses on the asking interface, so
		// the VIPs on lo are answered by herald alone. IPv6 needs nothing: Linux answers NS
		// only for addresses on the receiving interface.
		l.Exec(n, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
		// keep_addr_on_down: a link that goes down and up keeps its IPv6 addresses, as the
		// network configuration of a real host would restore them.
		l.Exec(n, "sysctl", "-qw", "net.ipv6.conf.all.dad_transmits=0", "net.ipv6.conf.default.dad_transmits=0",
			"net.ipv6.conf.all.keep_addr_on_down=1", "net.ipv6.conf.default.keep_addr_on_down=1")
		l.Attach(n, "eth0", "sw", "br0", v4+"/24", v6+"/64")
		for _, v := range l.vips {
			add := []string{"ip", "addr", "add", v + "/32", "dev", "lo"}
			if strings.Contains(v, ":") {
				// nodad: an IPv6 address is tentative until the kernel's DAD work runs, even
				// on lo where it checks nothing, and binding to it fails until then (seen
				// once in CI on a busy machine: "bind: cannot assign requested address").
				add = []string{"ip", "addr", "add", v + "/128", "dev", "lo", "nodad"}
			}
			l.Exec(n, add...)
			l.serve(n, v)
		}
		manifests += nodeManifest(n, v4, v6)
	}
	if err := os.WriteFile(filepath.Join(l.dir, "lan.yaml"), []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.nodes {
		l.start(n, extraArgs...)
	}
	return l
}

func (l *lan) start(node string, extraArgs ...string) {
	args := append([]string{"--node", node, "-f", l.dir}, extraArgs...)
	l.herald[node] = l.StartHerald(node, node, args...)
}

// serve answers every TCP connection to vip:8080 in ns with the node's name.
func (l *lan) serve(ns, vip string) {
	var ln net.Listener
	if err := l.InNS(ns, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(vip, "8080"))
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, ns)
			c.Close()
		}
	}()
}

// dial connects from the client to vip:8080 and returns the name of the node that answered.
func (l *lan) dial(vip string, timeout time.Duration) (string, error) {
	var c net.Conn
	err := l.InNS("client", func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(vip, "8080"))
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

// owners reads every running node's view of who owns vip.
func (l *lan) owners(vip string, skip ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range l.nodes {
		if contains(skip, n) {
			continue
		}
		s, err := l.herald[n].Snapshot()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[n] = ownerIn(s, vip)
	}
	return out, nil
}

func ownerIn(s *status.Snapshot, vip string) string {
	if s.L2 == nil {
		return "(no l2)"
	}
	for _, a := range s.L2.Announcements {
		if a.IP == vip {
			return a.Owner
		}
	}
	return "(not announced)"
}

// agreedOwner waits until every running node names the same owner for vip, and returns it.
func (l *lan) agreedOwner(vip string, skip ...string) string {
	var owner string
	l.WaitFor("the nodes to agree on the owner of "+vip, 20*time.Second, func() string {
		o, err := l.owners(vip, skip...)
		if err != nil {
			return err.Error()
		}
		owner = ""
		for _, v := range o {
			if v == "" || v[0] == '(' || (owner != "" && v != owner) || contains(skip, v) {
				n := l.nodes[0]
				if contains(skip, n) {
					n = l.nodes[1]
				}
				out, _ := l.herald[n].CLI("ipam", "services")
				return fmt.Sprintf("views: %v\n%s: %s%s", o, n, out, l.herald[n].Problems())
			}
			owner = v
		}
		return ""
	})
	return owner
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
