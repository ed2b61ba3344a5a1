package status

import (
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
)

func testSnapshot(now time.Time) *Snapshot {
	return &Snapshot{
		Generated: now.Add(-time.Second), Mode: "standalone", Node: "node-1",
		BGP: []bgp.InstanceStatus{{Name: "tor", LocalASN: 64512, Peers: []bgp.PeerStatus{
			{Address: "192.0.2.1", ASN: 65000, State: bgp.StateEstablished, Since: now.Add(-time.Minute),
				Families: []bgp.FamilyCounters{{AFI: "ipv4", SAFI: "unicast", Advertised: 2}}},
			{Address: "192.0.2.2", ASN: 65000, State: bgp.StateActive},
		}}},
		Pools: []Pool{{Name: "lan", Total: big.NewInt(200), Used: 50, Available: big.NewInt(150)},
			{Name: "late", Conflicting: true, ConflictsWith: "lan", Total: big.NewInt(8), Available: big.NewInt(0)}},
		Services: ServiceRows(
			Service{Namespace: "demo", Name: "web", IPs: []string{"10.0.0.11"}, Satisfied: true},
			Service{Namespace: "demo", Name: "api", IPs: []string{"10.0.0.10"}, Satisfied: true},
			Service{Namespace: "demo", Name: "db", Reason: "out_of_ips", Message: "<pool lan is full>"},
		),
		Problems: []Problem{{Severity: "error", Source: "pools.yaml:3", Object: "LoadBalancerIPPool late", Message: "overlaps lan"}},
	}
}

func TestPageShowsTheSnapshot(t *testing.T) {
	now := time.Now()
	var b strings.Builder
	if err := RenderPage(&b, testSnapshot(now), now); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(page, -1)) }
	if n := count(`<g class="router" data-name="192\.0\.2\.\d"><rect class="up"`); n != 1 {
		t.Errorf("%d green routers, want 1", n)
	}
	if n := count(`<g class="router" data-name="192\.0\.2\.2"><rect class="down"`); n != 1 {
		t.Errorf("the down session's router is not red (%d)", n)
	}
	if n := count(`<line class="edge down"`); n != 1 {
		t.Errorf("%d red edges, want 1", n)
	}
	if n := count(`<g class="vip"`); n != 2 {
		t.Errorf("%d VIPs drawn, want 2", n)
	}
	if !strings.Contains(page, `data-name="10.0.0.10"`) || strings.Index(page, `data-name="10.0.0.10"`) > strings.Index(page, `data-name="10.0.0.11"`) {
		t.Error("VIPs not drawn in address order")
	}
	for _, want := range []string{
		`<g class="node" data-name="node-1">`,
		`<td class="up">established</td>`, `<td class="down">active</td>`,
		`style="width: 25%"`, `conflicts with lan: allocates nothing`,
		`Services without an address (1)`,
		`every pool that serves this Service is full: &lt;pool lan is full&gt;`, // in words, and escaped
		`<td class="error">error</td>`, `overlaps lan`,
		`<script src="/static/live.js">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page refers to an outside address; every asset must be embedded")
	}
	if t.Failed() {
		t.Log(page)
	}
}

func TestPageServedWithItsAssets(t *testing.T) {
	h := NewHolder()
	h.Publish(testSnapshot(time.Now()))
	srv := httptest.NewServer((&Server{Holder: h, Log: slog.New(slog.DiscardHandler)}).Handler())
	defer srv.Close()
	for path, want := range map[string]string{"/": "<svg id=\"topology\"", "/static/style.css": "--ok", "/static/live.js": "setInterval"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
	if resp, _ := http.Get(srv.URL + "/nothing-here"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %d, want 404", resp.StatusCode)
	}
}

func TestPageShowsL2Owners(t *testing.T) {
	now := time.Now()
	s := testSnapshot(now)
	s.Services = ServiceRows(append(s.Services.Rows(), Service{Namespace: "demo", Name: "lan", IPs: []string{"10.0.0.20", "10.0.0.21", "10.0.0.22"}, Satisfied: true})...)
	s.L2 = &L2{Node: "node-1", Fenced: true, Why: "this node hears no peer",
		Nodes: []L2Node{{Name: "node-1", State: "fenced"}, {Name: "node-2", State: "up"}},
		Announcements: []L2Announcement{
			{IP: "10.0.0.20", Service: "demo/lan", Owner: "node-1", Interfaces: []string{"eth0"}, Since: now.Add(-time.Minute)},
			{IP: "10.0.0.21", Service: "demo/lan", Owner: "node-2", Interfaces: []string{"eth0"}, Since: now.Add(-time.Minute)},
			{IP: "10.0.0.22", Service: "demo/lan"},
		}}
	var b strings.Builder
	if err := RenderPage(&b, s, now); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`<g class="vip" data-name="10.0.0.20 · L2 here"><rect class="up"`,
		`<g class="vip" data-name="10.0.0.21 · L2 on node-2"><rect class=""`,
		`<g class="vip" data-name="10.0.0.22 · L2: nobody"><rect class="down"`,
		`<td class="down">nobody: no healthy eligible node</td>`,
		`<td class="up">node-2</td><td>eth0</td><td>1m0s</td>`,
		`This node is fenced: this node hears no peer`,
		`<span class="l2node fenced">node-1 fenced</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Edges from this node: the two BGP VIPs, the L2 one it answers, and the red one nobody
	// answers; none to the address another node answers for.
	if n := len(regexp.MustCompile(`<line class="edge (vip|down)" x1="390"`).FindAllString(page, -1)); n != 4 {
		t.Errorf("%d edges from this node to addresses, want 4", n)
	}
	if t.Failed() {
		t.Log(page)
	}
}

func TestPageDrawsEveryPlannedNode(t *testing.T) {
	now := time.Now()
	s := testSnapshot(now)
	s.BGP[0].Peers = s.BGP[0].Peers[:1] // node-1 peers with 192.0.2.1 only, established
	s.Topology = []TopoNode{
		{Name: "node-1", Peers: []string{"192.0.2.1"}, Advertises: []string{"10.0.0.10", "10.0.0.11"}},
		{Name: "node-2", Peers: []string{"192.0.2.1"}, Advertises: []string{"10.0.0.10", "10.0.0.11"}},
		{Name: "node-3", Peers: []string{"192.0.2.1"}, Advertises: []string{"10.0.0.11"}},
	}
	var b strings.Builder
	if err := RenderPage(&b, s, now); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(page, -1)) }
	if n := count(`<g class="node" data-name="node-\d">`); n != 3 {
		t.Errorf("%d nodes drawn, want 3", n)
	}
	if n := count(`<g class="node" data-name="node-1"><rect class="self"`); n != 1 {
		t.Error("this node is not marked")
	}
	// Router edges: node-1's observed (up), the others planned.
	if n := count(`<line class="edge up" x1="170"`); n != 1 {
		t.Errorf("%d live router edges, want 1", n)
	}
	if n := count(`<line class="edge planned" x1="170"`); n != 2 {
		t.Errorf("%d planned router edges, want 2", n)
	}
	// Address edges: 10.0.0.10 from node-1 and node-2, 10.0.0.11 from all three.
	if n := count(`<line class="edge vip" x1="390"`); n != 2 {
		t.Errorf("%d address edges from this node, want 2", n)
	}
	if n := count(`<line class="edge planned" x1="390"`); n != 3 {
		t.Errorf("%d address edges from other nodes, want 3", n)
	}
	if t.Failed() {
		t.Log(page)
	}
}

func TestPageShowsDoctorFindings(t *testing.T) {
	now := time.Now()
	s := testSnapshot(now)
	s.Findings = []Finding{{Check: "bgp-session", Severity: "error", Object: "peer r (192.0.2.2:179)", Problem: "the router refuses <connections>", Fix: "enable BGP", Evidence: "session active"}}
	var b strings.Builder
	if err := RenderPage(&b, s, now); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`What herald doctor finds (1)`, `<td class="error">error</td><td>bgp-session · peer r (192.0.2.2:179)</td>`,
		`the router refuses &lt;connections&gt;`, `<td>enable BGP</td>`, `session active`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `<table id="problems">`) {
		t.Error("problems shown twice: they are among the findings")
	}
}
