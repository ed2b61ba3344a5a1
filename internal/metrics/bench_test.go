package metrics

import (
	"fmt"
	"math/big"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/bgp"
	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/status"
)

// BenchmarkScrape: one scrape of a large site — 50 pools, 10 000 Services, 4 instances of 16
// peers with two families each. Labels are bounded, so the cost follows pools and peers, not
// Services (those are only counted by reason).
func BenchmarkScrape(b *testing.B) {
	snap := &status.Snapshot{Generated: time.Now()}
	for i := range 50 {
		snap.Pools = append(snap.Pools, status.Pool{Name: fmt.Sprintf("pool-%d", i), Total: big.NewInt(254), Used: 200, Available: big.NewInt(54)})
	}
	// As agents publish them: results, rendered into rows as the scrape reads them.
	results := make([]ipam.Result, 10000)
	for i := range results {
		results[i] = ipam.Result{Satisfied: true, Reason: "satisfied", Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}}
		if i%100 == 0 {
			results[i] = ipam.Result{Reason: ipam.OutOfIPs}
		}
	}
	snap.Services = status.ServicesOf(results)
	for i := range 4 {
		in := bgp.InstanceStatus{Name: fmt.Sprintf("inst-%d", i)}
		for p := range 16 {
			in.Peers = append(in.Peers, bgp.PeerStatus{Address: fmt.Sprintf("192.0.2.%d", p), State: bgp.StateEstablished, Since: time.Now(),
				Families: []bgp.FamilyCounters{{AFI: "ipv4", SAFI: "unicast", Advertised: 1000}, {AFI: "ipv6", SAFI: "unicast", Advertised: 1000}}})
		}
		snap.BGP = append(snap.BGP, in)
	}
	h := status.NewHolder()
	h.Publish(snap)
	handler := Handler(h)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
