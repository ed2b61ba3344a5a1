// Package metrics exposes Herald's state to Prometheus. The collector is pull-based: every
// scrape reads the current status snapshot, so metrics can never disagree with the CLI or the
// status page. Labels are bounded (pool, instance, peer, family, reason, state); nothing is
// labelled per address or per Service.
package metrics

import (
	"math/big"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/status"
)

// Handler serves the collector on a registry of its own (plus Go runtime and process metrics),
// so that nothing registered globally by a library leaks into Herald's scrape. extra are
// gatherers added on purpose (the agent adds controller-runtime's: API requests by verb and
// code, work queues).
func Handler(holder *status.Holder, extra ...prometheus.Gatherer) http.Handler {
	reg := newRegistry(New(holder))
	if len(extra) == 0 {
		return handlerFor(reg)
	}
	return promhttp.HandlerFor(append(prometheus.Gatherers{reg}, extra...), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func newRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func handlerFor(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Collector turns the snapshot into metrics.
type Collector struct {
	holder *status.Holder
	now    func() time.Time
}

// New returns a collector over holder; register it on a registry of your own.
func New(holder *status.Holder) *Collector {
	return &Collector{holder: holder, now: time.Now}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("herald_"+name, help, labels, nil)
}

// The metrics, each documented in docs/metrics.md (a test keeps the two in step).
var (
	bgpSessionState = desc("bgp_session_state",
		"1 for the session's current BGP state (idle, connect, active, opensent, openconfirm, established), 0 for the others.",
		"instance", "peer", "state")
	bgpSessionUptime = desc("bgp_session_uptime_seconds", "Seconds since the session reached Established (0 when it is not).", "instance", "peer")
	bgpAdvertised    = desc("bgp_routes_advertised", "Routes advertised to the peer, per address family.", "instance", "peer", "family")
	bgpReceived      = desc("bgp_routes_received", "Routes received from the peer (and rejected: Herald installs nothing), per address family.", "instance", "peer", "family")
	bgpBFDState      = desc("bgp_bfd_state", "1 for the BFD session's current state (up, down, init, admin_down), 0 for the others; only peers with BFD.", "instance", "peer", "state")
	bgpDraining      = desc("bgp_graceful_shutdown", "1 while the routes to the peer carry GRACEFUL_SHUTDOWN (RFC 8326: on the way out, or cordoned with --drain-when-cordoned).", "instance", "peer")
	poolTotal        = desc("ipam_pool_addresses_total", "Addresses the pool can hand out (reserved addresses excluded).", "pool")
	poolUsed         = desc("ipam_pool_addresses_used", "Addresses of the pool held by Services.", "pool")
	poolAvailable    = desc("ipam_pool_addresses_available", "Addresses of the pool still free (0 for a conflicting pool).", "pool")
	poolConflicting  = desc("ipam_pool_conflicting", "1 when the pool overlaps an older pool and allocates nothing.", "pool")
	poolDisabled     = desc("ipam_pool_disabled", "1 when the pool is disabled (no new allocations).", "pool")
	services         = desc("ipam_services", "LoadBalancer Services by allocation result: reason is satisfied or why not.", "reason")
	problems         = desc("config_problems", "Problems with the configuration, by severity (what herald validate and doctor report).", "severity")
	snapshotAge      = desc("status_snapshot_age_seconds", "Seconds since the status snapshot was last published.")
	reconciles       = desc("reconciles_total", "Full reconciles (configuration read, allocated, planned, applied) since start.")
	reconcileSeconds = desc("reconcile_duration_seconds", "How long the last full reconcile took.")
	reconcileErrors  = desc("reconcile_errors_total", "Reconciles whose apply failed: the BGP speaker or the L2 announcer refused it (the reason is among the problems).")

	l2Owned     = desc("l2_owned_addresses", "L2 addresses each node answers for, in this node's view.", "node")
	l2Unowned   = desc("l2_unowned_addresses", "L2 addresses no healthy eligible node can answer for.")
	l2NodeState = desc("l2_node_state", "1 for each node's current health state in this node's view (self, fenced, up, vouched, assumed, lease, down), 0 for the others.", "node", "state")
	l2Moves     = desc("l2_ownership_changes_total", "Times an L2 address moved from one node to another, seen by this node.")
	l2Announce  = desc("l2_announcements_sent_total", "Gratuitous ARPs (kind arp) and unsolicited Neighbor Advertisements (kind na) sent on taking addresses.", "kind")
	l2Answered  = desc("l2_requests_answered_total", "ARP requests (kind arp) and Neighbor Solicitations (kind ns) this node answered.", "kind")
	l2Dropped   = desc("l2_heartbeats_dropped_total", "Heartbeats dropped: malformed, or from an address that is not the sending node's.")
)

var all = []*prometheus.Desc{bgpSessionState, bgpSessionUptime, bgpAdvertised, bgpReceived, bgpBFDState, bgpDraining, poolTotal, poolUsed, poolAvailable,
	poolConflicting, poolDisabled, services, problems, snapshotAge, reconciles, reconcileSeconds, reconcileErrors,
	l2Owned, l2Unowned, l2NodeState, l2Moves, l2Announce, l2Answered, l2Dropped}

var l2States = []string{"self", "fenced", "up", "vouched", "assumed", "lease", "down"}

var states = []bgp.SessionState{bgp.StateIdle, bgp.StateConnect, bgp.StateActive, bgp.StateOpenSent, bgp.StateOpenConfirm, bgp.StateEstablished}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, _ := c.holder.Get()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, in := range s.BGP {
		for _, p := range in.Peers {
			for _, st := range states {
				gauge(bgpSessionState, b2f(p.State == st), in.Name, p.Address, string(st))
			}
			up := 0.0
			if p.State == bgp.StateEstablished && !p.Since.IsZero() {
				up = c.now().Sub(p.Since).Seconds()
			}
			gauge(bgpSessionUptime, up, in.Name, p.Address)
			gauge(bgpDraining, b2f(p.Draining), in.Name, p.Address)
			if p.BFD != "" {
				for _, st := range []string{"up", "down", "init", "admin_down"} {
					gauge(bgpBFDState, b2f(p.BFD == st), in.Name, p.Address, st)
				}
			}
			for _, f := range p.Families {
				fam := f.AFI + "/" + f.SAFI
				gauge(bgpAdvertised, float64(f.Advertised), in.Name, p.Address, fam)
				gauge(bgpReceived, float64(f.Received), in.Name, p.Address, fam)
			}
		}
	}
	for _, p := range s.Pools {
		gauge(poolTotal, bigf(p.Total), p.Name)
		gauge(poolUsed, float64(p.Used), p.Name)
		gauge(poolAvailable, bigf(p.Available), p.Name)
		gauge(poolConflicting, b2f(p.Conflicting), p.Name)
		gauge(poolDisabled, b2f(p.Disabled), p.Name)
	}
	for r, n := range s.Services.ByReason() {
		gauge(services, float64(n), r)
	}
	bySeverity := map[string]float64{"error": 0, "warning": 0}
	for _, p := range s.Problems {
		bySeverity[p.Severity]++
	}
	for sev, n := range bySeverity {
		gauge(problems, n, sev)
	}
	if !s.Generated.IsZero() {
		gauge(snapshotAge, c.now().Sub(s.Generated).Seconds())
	}
	if s.Reconciles > 0 {
		ch <- prometheus.MustNewConstMetric(reconciles, prometheus.CounterValue, float64(s.Reconciles))
		ch <- prometheus.MustNewConstMetric(reconcileErrors, prometheus.CounterValue, float64(s.ReconcileErrors))
		gauge(reconcileSeconds, s.ReconcileDuration.Seconds())
	}
	if s.L2 != nil {
		collectL2(ch, s.L2)
	}
}

func collectL2(ch chan<- prometheus.Metric, l *status.L2) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	owned := map[string]float64{}
	unowned := 0.0
	for _, n := range l.Nodes {
		owned[n.Name] = 0
		for _, st := range l2States {
			gauge(l2NodeState, b2f(n.State == st), n.Name, st)
		}
	}
	for _, a := range l.Announcements {
		if a.Owner == "" {
			unowned++
			continue
		}
		owned[a.Owner]++
	}
	for n, v := range owned {
		gauge(l2Owned, v, n)
	}
	gauge(l2Unowned, unowned)
	c := l.Counters
	counter(l2Moves, c.OwnershipChanges)
	counter(l2Announce, c.GratuitousARPs, "arp")
	counter(l2Announce, c.UnsolicitedNAs, "na")
	counter(l2Answered, c.ARPAnswered, "arp")
	counter(l2Answered, c.NSAnswered, "ns")
	counter(l2Dropped, c.HeartbeatsDropped)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// bigf converts a pool size to a float: an IPv6 /64 has 2^64 addresses, which a float64 holds
// approximately, and that is all a dashboard needs.
func bigf(n *big.Int) float64 {
	if n == nil {
		return 0
	}
	f, _ := new(big.Float).SetInt(n).Float64()
	return f
}
