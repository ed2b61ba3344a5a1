package bgp

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/doctor"
	"github.com/heraldlb/herald/test/netlab"
)

func frrRouter(asn int, neighbor string) string {
	return fmt.Sprintf("frr defaults traditional\nlog stdout\nrouter bgp %d\n no bgp ebgp-requires-policy\n%s", asn, neighbor)
}

// TestDoctorExplainsSessions: five peers, each down for a different reason; doctor, run on
// the node, tells each cause and its fix.
func TestDoctorExplainsSessions(t *testing.T) {
	l := netlab.New(t)
	l.AddNS("lan")
	l.Bridge("lan", "br0")
	for ns, addr := range map[string]string{"r1": "192.0.2.1/24", "r2": "192.0.2.2/24", "closed": "192.0.2.3/24", "r4": "192.0.2.4/24", "n1": "192.0.2.11/24"} {
		l.AddNS(ns)
		l.Attach(ns, "eth0", "lan", "br0", addr)
	}
	// r1 is AS 65001, but the node's peer says 65002.
	l.StartFRR("r1", frrRouter(65001, " neighbor 192.0.2.11 remote-as 65010\n"), "")
	// r2 expects the node to be AS 65099.
	l.StartFRR("r2", frrRouter(65001, " neighbor 192.0.2.11 remote-as 65099\n"), "")
	// r4 wants an MD5 password the node does not have.
	l.StartFRR("r4", frrRouter(65001, " neighbor 192.0.2.11 remote-as 65010\n neighbor 192.0.2.11 password only-the-router-knows\n"), "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), docs(poolYAML("pool", "198.51.100.0/24"), nodeYAML("n1", "192.0.2.11"), serviceYAML("demo", "web", ""),
		clusterYAML(peerYAML("wrong-as", "192.0.2.1", 65002, "pc"), peerYAML("rejects-us", "192.0.2.2", 65001, "pc"),
			peerYAML("closed", "192.0.2.3", 65001, "pc"), peerYAML("md5", "192.0.2.4", 65001, "pc"), peerYAML("nowhere", "203.0.113.1", 65001, "pc")),
		peerConfigYAML("pc", fastTimers, nil), advertiseAll(false)))
	h := l.StartHerald("n1", "n1", "--node", "n1", "-f", dir)
	time.Sleep(6 * time.Second) // a few connect attempts, so the speaker has seen each failure

	want := map[string][2]string{
		"wrong-as":   {"the router announces AS 65001, the peer is configured with peerASN 65002", "peerASN: 65001"},
		"rejects-us": {"bad peer AS", "remote-as to 65010"},
		"closed":     {"refuses connections", "enable BGP on the router"},
		"md5":        {"does not answer", "allow TCP 179"},
		"nowhere":    {"no route", "ip route get 203.0.113.1"},
	}
	var findings []doctor.Finding
	l.WaitFor("doctor to explain every peer", 60*time.Second, func() string {
		out, _ := exec.Command("ip", "netns", "exec", l.NS("n1"), netlab.HeraldBinary(t), "doctor", "--state", h.State, "-o", "json").Output()
		findings = nil
		if err := json.Unmarshal(out, &findings); err != nil {
			return fmt.Sprintf("%v: %s", err, out)
		}
		var missing []string
		for peer, w := range want {
			ok := false
			for _, f := range findings {
				if f.Check == "bgp-session" && strings.Contains(f.Object, "peer "+peer+" ") && strings.Contains(f.Problem, w[0]) && strings.Contains(f.Fix, w[1]) {
					ok = true
				}
			}
			if !ok {
				missing = append(missing, peer)
			}
		}
		if len(missing) > 0 {
			var b strings.Builder
			for _, f := range findings {
				if f.Check == "bgp-session" {
					fmt.Fprintf(&b, "\n  %s: %s | fix: %s | evidence: %s", f.Object, f.Problem, f.Fix, f.Evidence)
				}
			}
			return fmt.Sprintf("not explained: %v%s", missing, b.String())
		}
		return ""
	})
	for _, f := range findings {
		if f.Check == "bgp-session" && strings.Contains(f.Object, "wrong-as") && !strings.Contains(f.Evidence, "router OPEN: AS 65001") {
			t.Errorf("the AS mismatch evidence does not show the router's OPEN: %s", f.Evidence)
		}
	}
}
