package bgp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/test/netlab"
)

// sessionManifests: one node, two peers; plainTimers lets the test break the plain peer's
// config on purpose.
func sessionManifests(plainTimers string) string {
	return docs(poolYAML("pool", "198.51.100.0/24"), nodeYAML("n1", "192.0.2.11"), serviceYAML("demo", "web", ""),
		clusterYAML(peerYAML("secure", "192.0.2.1", 65001, "secure"), peerYAML("plain", "192.0.2.2", 65002, "plain")),
		peerConfigYAML("secure", fastTimers, []string{"authSecretRef: bgp-auth", "gracefulRestart: {enabled: true, restartTimeSeconds: 60}"}),
		peerConfigYAML("plain", plainTimers, nil), advertiseAll(false))
}

const secret = `apiVersion: v1
kind: Secret
metadata: {name: bgp-auth, namespace: herald-system}
stringData: {password: s3cret-Pa55}
`

func routerWith(asn int, extra string) string {
	return fmt.Sprintf(`frr defaults traditional
log stdout
router bgp %d
 no bgp ebgp-requires-policy
 neighbor 192.0.2.11 remote-as 65010
 neighbor 192.0.2.11 timers 3 9
 neighbor 192.0.2.11 timers connect 1
%s address-family ipv4 unicast
  neighbor 192.0.2.11 activate
 exit-address-family
`, asn, extra)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func peerState(f *netlab.FRR) (string, int, int64) {
	s, err := f.Summary()
	if err != nil {
		return err.Error(), 0, 0
	}
	p := s.Peers["192.0.2.11"]
	return p.State, p.PfxRcd, int64(p.ConnectionsUp)
}

func TestMD5FailClosedBadInputAndGracefulRestart(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("lan")
	l.Bridge("lan", "br0")
	for ns, addr := range map[string]string{"r1": "192.0.2.1/24", "r2": "192.0.2.2/24", "n1": "192.0.2.11/24"} {
		l.AddNS(ns)
		l.Attach(ns, "eth0", "lan", "br0", addr)
	}
	r1 := l.StartFRR("r1", routerWith(65001, " neighbor 192.0.2.11 password s3cret-Pa55\n"), "")
	r2 := l.StartFRR("r2", routerWith(65002, ""), "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bgp.yaml"), sessionManifests(fastTimers))
	writeFile(t, filepath.Join(dir, "secret.yaml"), secret)
	h := l.StartHerald("n1", "n1", "--node", "n1", "-f", dir)
	up := func(f *netlab.FRR) func() string {
		return func() string {
			if st, n, _ := peerState(f); st != "Established" || n != 1 {
				return fmt.Sprintf("%s with %d prefixes", st, n)
			}
			return ""
		}
	}
	l.WaitFor("the MD5 session", 30*time.Second, up(r1))
	l.WaitFor("the plain session", 30*time.Second, up(r2))
	_, _, r2Conns := peerState(r2)
	if restartBit(t, r1) {
		t.Error("a first start set the Restart State bit")
	}

	// The MD5 Secret disappears: that peer is taken down (never an empty password), it is
	// reported, and the other session is not touched.
	os.Remove(filepath.Join(dir, "secret.yaml"))
	l.WaitFor("the MD5 peer to be removed", 30*time.Second, func() string {
		if st, _, _ := peerState(r1); st == "Established" {
			return "still established"
		}
		return ""
	})
	out, _ := h.CLI("bgp", "peers")
	if strings.Contains(out, "192.0.2.1:") {
		t.Errorf("the peer without its Secret is still configured:\n%s", out)
	}
	l.WaitFor("the missing Secret to be reported", 10*time.Second, func() string {
		if p := h.Problems(); !strings.Contains(p, `names Secret "bgp-auth" for its MD5 password, which does not exist`) {
			return p
		}
		return ""
	})
	if st, n, conns := peerState(r2); st != "Established" || n != 1 || conns != r2Conns {
		t.Errorf("the plain session was disturbed: %s %d prefixes, %d connections (was %d)", st, n, conns, r2Conns)
	}

	// Secret back: the session returns. Then a broken edit to the plain peer's timers
	// (keepalive > hold) is reported and changes nothing.
	writeFile(t, filepath.Join(dir, "secret.yaml"), secret)
	l.WaitFor("the MD5 session to return", 30*time.Second, up(r1))
	writeFile(t, filepath.Join(dir, "bgp.yaml"), sessionManifests("timers: {holdTimeSeconds: 9, keepAliveTimeSeconds: 30, connectRetryTimeSeconds: 1}"))
	l.WaitFor("the bad timer to be reported", 15*time.Second, func() string {
		if p := h.Problems(); !strings.Contains(p, "BGPPeerConfig plain: spec.timers.keepAliveTimeSeconds: must not exceed holdTimeSeconds (9)") {
			return p
		}
		return ""
	})
	time.Sleep(2 * time.Second)
	if st, n, conns := peerState(r2); st != "Established" || n != 1 || conns != r2Conns {
		t.Errorf("a broken edit reset the plain session: %s %d prefixes, %d connections (was %d)", st, n, conns, r2Conns)
	}
	writeFile(t, filepath.Join(dir, "bgp.yaml"), sessionManifests(fastTimers))

	// Graceful restart: SIGTERM ends the sessions without a Cease; the router keeps the route
	// (stale) until Herald is back, and it never disappears.
	lost := make(chan string, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				close(lost)
				return
			default:
			}
			if rs, err := r1.KernelRoutes(); err == nil && len(rs) == 0 {
				lost <- "the route left the router's kernel table during the restart"
				close(lost)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	l.Kill(h.Cmd, syscall.SIGTERM)
	l.WaitFor("the route to be stale at the router", 15*time.Second, func() string {
		d, err := r1.Route("198.51.100.0/32")
		if err != nil || len(d.Paths) == 0 || !d.Paths[0].Stale {
			return fmt.Sprintf("%+v %v", d, err)
		}
		return ""
	})
	h.Restart()
	l.WaitFor("the route refreshed after the restart", 30*time.Second, func() string {
		d, err := r1.Route("198.51.100.0/32")
		if err != nil || len(d.Paths) == 0 || d.Paths[0].Stale {
			return fmt.Sprintf("%+v %v", d, err)
		}
		return ""
	})
	close(stop)
	if msg := <-lost; msg != "" {
		t.Error(msg)
	}
	if r := restartBit(t, r1); !r {
		t.Error("after a restart the router did not see the Restart State bit (RFC 4724 §4.1)")
	}
}

// restartBit reads whether the router saw the graceful restart Restart State bit in the
// node's OPEN.
func restartBit(t *testing.T, f *netlab.FRR) bool {
	t.Helper()
	var nb map[string]struct {
		GR struct {
			RBit bool `json:"rBit"`
		} `json:"gracefulRestartInfo"`
	}
	if err := f.ShowJSON("bgpd", "show bgp neighbors 192.0.2.11 json", &nb); err != nil {
		t.Fatal(err)
	}
	return nb["192.0.2.11"].GR.RBit
}
