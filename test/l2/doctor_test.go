package l2

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/doctor"
	"github.com/heraldlb/herald/test/netlab"
)

// doctorIn runs `herald doctor -o json` inside node's namespace (its probes must leave from
// the node's interfaces) and returns the findings.
func (l *lan) doctorIn(node string) []doctor.Finding {
	l.t.Helper()
	h := l.herald[node]
	out, _ := exec.Command("ip", "netns", "exec", l.NS(node), netlab.HeraldBinary(l.t), "doctor", "-o", "json", "--state", h.State).Output()
	var fs []doctor.Finding
	if err := json.Unmarshal(out, &fs); err != nil {
		l.t.Fatalf("herald doctor on %s: %v\n%s", node, err, out)
	}
	return fs
}

func find(fs []doctor.Finding, check string) *doctor.Finding {
	for i := range fs {
		if fs[i].Check == check {
			return &fs[i]
		}
	}
	return nil
}

// TestDoctorL2: a foreign host answering for a VIP, a fenced node and the node that sees it
// down are each explained, with the fix.
func TestDoctorL2(t *testing.T) {
	l := newLAN(t)
	vip := "10.99.0.200"
	owner := l.agreedOwner(vip)
	for _, v := range l.vips {
		l.agreedOwner(v)
	}
	// doctor leaves addresses taken less than 3 s ago alone (a handover is not a conflict).
	time.Sleep(3500 * time.Millisecond)
	if f := find(l.doctorIn(owner), "l2-address-conflict"); f != nil {
		t.Fatalf("conflict reported on a clean LAN: %+v", f)
	}
	// The client claims the VIP too, as a forgotten static address would.
	l.Exec("client", "ip", "addr", "add", vip+"/32", "dev", "eth0")
	l.WaitFor("the conflict with the client's MAC reported", 10*time.Second, func() string {
		f := find(l.doctorIn(owner), "l2-address-conflict")
		if f == nil || f.Severity != doctor.Error || !strings.Contains(f.Evidence, l.MAC("client", "eth0")) || !strings.Contains(f.Fix, "MetalLB") {
			return fmtFinding(f)
		}
		return ""
	})
	l.Exec("client", "ip", "addr", "del", vip+"/32", "dev", "eth0")

	// A policy naming an interface no node has: eligible nodes, nobody answering.
	solo := `apiVersion: herald.io/v1alpha1
kind: L2AnnouncementPolicy
metadata: {name: typo}
spec: {loadBalancerIPs: true, interfaces: ["^eth9$"], serviceSelector: {matchLabels: {io.kubernetes.service.name: solo}}}
---
apiVersion: v1
kind: Service
metadata: {name: solo, namespace: other, annotations: {herald.io/ips: 10.99.0.203}}
spec: {type: LoadBalancer, ports: [{port: 8080, protocol: TCP}]}
`
	if err := os.WriteFile(filepath.Join(l.dir, "solo.yaml"), []byte(solo), 0o644); err != nil {
		t.Fatal(err)
	}
	l.WaitFor("doctor to explain why nobody answers for 10.99.0.203", 10*time.Second, func() string {
		fs := l.doctorIn(owner)
		f := find(fs, "l2-unanswered")
		if f == nil || f.Object != "Service other/solo" || !strings.Contains(f.Fix, "interfaces") {
			out, _ := l.herald[owner].CLI("l2", "announcements")
			return fmt.Sprintf("%s\n%+v\n%s", fmtFinding(f), fs, out)
		}
		// And the cause, from every node's reported interfaces.
		if f := find(fs, "l2-interface-on-no-node"); f == nil || f.Object != "L2AnnouncementPolicy typo" || !strings.Contains(f.Evidence, "node2: eth0") {
			return "l2-interface-on-no-node: " + fmtFinding(f)
		}
		return ""
	})
	if err := os.Remove(filepath.Join(l.dir, "solo.yaml")); err != nil {
		t.Fatal(err)
	}

	addr := map[string]string{"node1": "10.99.0.11", "node2": "10.99.0.12", "node3": "10.99.0.13"}
	var other string
	for _, n := range l.nodes {
		if n == owner {
			continue
		}
		other = n
		l.Exec(owner, "ip", "route", "add", "blackhole", addr[n]+"/32")
		l.Exec(n, "ip", "route", "add", "blackhole", addr[owner]+"/32")
	}
	l.WaitFor(owner+" fenced, and "+other+" seeing it down", 10*time.Second, func() string {
		fenced := find(l.doctorIn(owner), "l2-fenced")
		down := find(l.doctorIn(other), "l2-node-down")
		if fenced == nil || !strings.Contains(fenced.Fix, "7947") || down == nil || down.Object != "Node "+owner {
			return "fenced finding " + fmtFinding(fenced) + "; down finding " + fmtFinding(down)
		}
		return ""
	})
}

func fmtFinding(f *doctor.Finding) string {
	if f == nil {
		return "none"
	}
	return f.Object + ": " + f.Problem
}
