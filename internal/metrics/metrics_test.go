package metrics

import (
	"encoding/json"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/status"
)

func scrape(t *testing.T, h *status.Holder, now time.Time) string {
	t.Helper()
	c := New(h)
	c.now = func() time.Time { return now }
	reg := newRegistry(c)
	rec := httptest.NewRecorder()
	handlerFor(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, body)
	}
	return string(body)
}

func TestCollectorReflectsSnapshot(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	h := status.NewHolder()
	h.Publish(&status.Snapshot{
		Generated: now.Add(-2 * time.Second), Reconciles: 7, ReconcileDuration: 1500 * time.Millisecond, ReconcileErrors: 2,
		Pools: []status.Pool{
			{Name: "lan", Total: big.NewInt(254), Used: 11, Available: big.NewInt(243)},
			{Name: "v6", Total: new(big.Int).Lsh(big.NewInt(1), 64), Available: new(big.Int).Lsh(big.NewInt(1), 64)},
			{Name: "late", Conflicting: true, Total: big.NewInt(8), Available: big.NewInt(0)},
		},
		Services: status.ServicesOf([]ipam.Result{{Satisfied: true, Reason: "satisfied"}, {Satisfied: true, Reason: "satisfied"}, {Reason: ipam.OutOfIPs}}),
		Problems: []status.Problem{{Severity: "error"}},
		BGP: []bgp.InstanceStatus{{Name: "tor", Peers: []bgp.PeerStatus{
			{Address: "192.0.2.1", State: bgp.StateEstablished, Since: now.Add(-90 * time.Second), BFD: "up", Draining: true,
				Families: []bgp.FamilyCounters{{AFI: "ipv4", SAFI: "unicast", Advertised: 12, Received: 3}}},
			{Address: "192.0.2.2", State: bgp.StateActive},
		}}},
		L2: &status.L2{Node: "n1",
			Nodes:         []status.L2Node{{Name: "n1", State: "self"}, {Name: "n2", State: "down"}, {Name: "n3", State: "up"}},
			Announcements: []status.L2Announcement{{IP: "10.0.0.1", Owner: "n1"}, {IP: "10.0.0.2", Owner: "n3"}, {IP: "10.0.0.3", Owner: "n1"}, {IP: "10.0.0.4"}},
			Counters:      status.L2Counters{ARPAnswered: 7, NSAnswered: 2, GratuitousARPs: 6, UnsolicitedNAs: 3, OwnershipChanges: 4, HeartbeatsDropped: 1}},
	})
	got := scrape(t, h, now)
	for _, want := range []string{
		`herald_ipam_pool_addresses_total{pool="lan"} 254`,
		`herald_ipam_pool_addresses_used{pool="lan"} 11`,
		`herald_ipam_pool_addresses_available{pool="lan"} 243`,
		`herald_ipam_pool_addresses_total{pool="v6"} 1.8446744073709552e+19`,
		`herald_ipam_pool_conflicting{pool="late"} 1`,
		`herald_ipam_pool_conflicting{pool="lan"} 0`,
		`herald_ipam_services{reason="satisfied"} 2`,
		`herald_ipam_services{reason="out_of_ips"} 1`,
		`herald_config_problems{severity="error"} 1`,
		`herald_config_problems{severity="warning"} 0`,
		`herald_bgp_session_state{instance="tor",peer="192.0.2.1",state="established"} 1`,
		`herald_bgp_session_state{instance="tor",peer="192.0.2.1",state="active"} 0`,
		`herald_bgp_session_state{instance="tor",peer="192.0.2.2",state="active"} 1`,
		`herald_bgp_session_uptime_seconds{instance="tor",peer="192.0.2.1"} 90`,
		`herald_bgp_session_uptime_seconds{instance="tor",peer="192.0.2.2"} 0`,
		`herald_bgp_routes_advertised{family="ipv4/unicast",instance="tor",peer="192.0.2.1"} 12`,
		`herald_bgp_routes_received{family="ipv4/unicast",instance="tor",peer="192.0.2.1"} 3`,
		`herald_status_snapshot_age_seconds 2`,
		`herald_reconciles_total 7`,
		`herald_reconcile_errors_total 2`,
		`herald_reconcile_duration_seconds 1.5`,
		`herald_bgp_bfd_state{instance="tor",peer="192.0.2.1",state="up"} 1`,
		`herald_bgp_bfd_state{instance="tor",peer="192.0.2.1",state="down"} 0`,
		`herald_bgp_graceful_shutdown{instance="tor",peer="192.0.2.1"} 1`,
		`herald_bgp_graceful_shutdown{instance="tor",peer="192.0.2.2"} 0`,
		`herald_l2_owned_addresses{node="n1"} 2`,
		`herald_l2_owned_addresses{node="n2"} 0`,
		`herald_l2_owned_addresses{node="n3"} 1`,
		`herald_l2_unowned_addresses 1`,
		`herald_l2_node_state{node="n2",state="down"} 1`,
		`herald_l2_node_state{node="n2",state="up"} 0`,
		`herald_l2_node_state{node="n1",state="self"} 1`,
		`herald_l2_ownership_changes_total 4`,
		`herald_l2_announcements_sent_total{kind="arp"} 6`,
		`herald_l2_announcements_sent_total{kind="na"} 3`,
		`herald_l2_requests_answered_total{kind="arp"} 7`,
		`herald_l2_requests_answered_total{kind="ns"} 2`,
		`herald_l2_heartbeats_dropped_total 1`,
	} {
		// The whole line: "...} 1" must not pass for "...} 12".
		if !strings.Contains(got, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(got, `herald_bgp_bfd_state{instance="tor",peer="192.0.2.2"`) {
		t.Error("a peer without BFD has BFD series")
	}
	if !strings.Contains(got, "\ngo_goroutines ") {
		t.Error("scrape lacks the Go runtime series")
	}
	if t.Failed() {
		t.Log(got)
	}
}

// TestEmptySnapshot: before the first reconcile there is nothing to report, and a scrape must
// still succeed (Prometheus marks a target down on a 500).
func TestEmptySnapshot(t *testing.T) {
	got := scrape(t, status.NewHolder(), time.Now())
	if strings.Contains(got, "herald_status_snapshot_age_seconds") || !strings.Contains(got, `herald_config_problems{severity="error"} 0`) {
		t.Fatalf("empty snapshot scrape:\n%s", got)
	}
}

// TestEveryMetricDocumented keeps docs/metrics.md in step with the collector.
func TestEveryMetricDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(herald_[a-z0-9_]+)`").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	exported := exportedNames()
	for n := range exported {
		if !documented[n] {
			t.Errorf("%s is exported but not documented in docs/metrics.md", n)
		}
	}
	for n := range documented {
		if !exported[n] {
			t.Errorf("docs/metrics.md documents %s, which Herald does not export", n)
		}
	}
}

// TestDashboardUsesExportedNames: every herald_ series the Grafana dashboard queries exists,
// so a renamed metric cannot leave an empty panel behind.
func TestDashboardUsesExportedNames(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/grafana/herald-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/herald-dashboard.json: %v", err)
	}
	exported := exportedNames()
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range regexp.MustCompile(`herald_[a-z0-9_]+`).FindAllString(tg.Expr, -1) {
				used++
				if !exported[n] {
					t.Errorf("panel %q queries %s, which Herald does not export", p.Title, n)
				}
			}
		}
	}
	if used == 0 {
		t.Fatal("the dashboard queries no herald_ metric")
	}
}

func exportedNames() map[string]bool {
	name := regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)
	out := map[string]bool{}
	for _, d := range all {
		out[name.FindStringSubmatch(d.String())[1]] = true
	}
	return out
}
