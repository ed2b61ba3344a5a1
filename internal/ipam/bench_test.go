package ipam

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/heraldlb/herald/internal/model"
)

// benchPools is what a controller typically has: a few pools with selectors, the big one
// last in choice order so every Service is matched against all of them.
func benchPools(b testing.TB, big string) []model.Pool {
	return []model.Pool{
		newTestPool(b, "a-gold", []string{"172.16.0.0/24"}, selects("tier", "gold")),
		newTestPool(b, "b-staging", []string{"172.16.1.0/24"}, selects("env", "staging")),
		newTestPool(b, "c-main", []string{big}, func(p *model.Pool) {
			p.ServiceSelector = &model.Selector{MatchExpressions: []model.Requirement{{Key: "env", Operator: model.OpIn, Values: []string{"prod", "dev"}}}}
		}),
	}
}

func benchServices(n int, opts ...func(int, *model.Service)) []model.Service {
	svcs := make([]model.Service, n)
	for i := range svcs {
		svcs[i] = model.Service{
			Key:    model.ServiceKey{Namespace: fmt.Sprintf("ns%d", i%50), Name: fmt.Sprintf("svc-%d", i)},
			Type:   "LoadBalancer",
			Labels: map[string]string{"env": "prod", "app": fmt.Sprintf("app%d", i%100)},
			Ports:  []model.Port{{Port: 443, Protocol: "TCP"}},
		}
		for _, o := range opts {
			o(i, &svcs[i])
		}
	}
	return svcs
}

// allocateAll upserts every Service into a fresh allocator, as a controller does on events,
// and reports the cost per Service.
func allocateAll(b *testing.B, pools []model.Pool, svcs []model.Service) {
	b.ReportAllocs()
	for b.Loop() {
		a := New(DefaultConfig())
		a.SetPools(pools)
		for i := range svcs {
			if r := a.Upsert(&svcs[i]); !r.Satisfied {
				b.Fatalf("%s: %s %s", svcs[i].Key, r.Reason, r.Message)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(svcs)), "ns/svc")
}

func BenchmarkAllocateSlash16(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			allocateAll(b, benchPools(b, "10.10.0.0/16"), benchServices(n))
		})
	}
}

func BenchmarkAllocateSharing(b *testing.B) {
	// Pairs of Services share one address (ports 443 and 80), the Cilium sharing-key case.
	svcs := benchServices(50_000, func(i int, s *model.Service) {
		s.Request.SharingKey = fmt.Sprintf("k%d", i/2)
		if i%2 == 1 {
			s.Ports = []model.Port{{Port: 80, Protocol: "TCP"}}
		}
	})
	allocateAll(b, benchPools(b, "10.10.0.0/16"), svcs)
}

func BenchmarkRequestedIPsScattered(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			perm := rng.Perm(65536)
			svcs := benchServices(n, func(i int, s *model.Service) {
				s.Request.IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 10, byte(perm[i] >> 8), byte(perm[i])})}
			})
			allocateAll(b, benchPools(b, "10.10.0.0/16"), svcs)
		})
	}
}

func BenchmarkAllocateSlash8(b *testing.B) {
	allocateAll(b, benchPools(b, "10.0.0.0/8"), benchServices(50_000))
}

func BenchmarkAllocateIPv6Slash64(b *testing.B) {
	svcs := benchServices(50_000, func(_ int, s *model.Service) {
		s.IPFamilyPolicy, s.IPFamilies = model.SingleStack, []model.Family{model.IPv6}
	})
	allocateAll(b, benchPools(b, "2001:db8:0:1::/64"), svcs)
}

// BenchmarkChurn is the steady state: 10k Services allocated, then each operation deletes a
// random one and creates a new one (release + allocate).
func BenchmarkChurn(b *testing.B) {
	svcs := benchServices(10_000)
	a := New(DefaultConfig())
	a.SetPools(benchPools(b, "10.10.0.0/16"))
	for i := range svcs {
		a.Upsert(&svcs[i])
	}
	rng := rand.New(rand.NewPCG(2, 2))
	next := len(svcs)
	b.ReportAllocs()
	for b.Loop() {
		i := rng.IntN(len(svcs))
		a.Delete(svcs[i].Key)
		svcs[i].Key.Name = fmt.Sprintf("svc-%d", next)
		next++
		if r := a.Upsert(&svcs[i]); !r.Satisfied {
			b.Fatal(r.Message)
		}
	}
}

// BenchmarkColdStartAdopt50k is a restart: 50k Services arrive with their addresses in status
// and are adopted before anything new is allocated (Reconcile).
func BenchmarkColdStartAdopt50k(b *testing.B) {
	svcs := benchServices(50_000)
	pools := benchPools(b, "10.10.0.0/16")
	first := New(DefaultConfig())
	first.Reconcile(pools, svcs)
	held := map[model.ServiceKey][]netip.Addr{}
	for _, r := range first.Results() {
		held[r.Service] = r.Addrs
	}
	for i := range svcs {
		svcs[i].Ingress = held[svcs[i].Key]
	}
	b.ReportAllocs()
	for b.Loop() {
		New(DefaultConfig()).Reconcile(pools, svcs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(svcs)), "ns/svc")
}

// BenchmarkRetained reports the heap the allocator keeps per Service once 100,000 Services
// hold an address (the Services themselves are the caller's and are not counted).
func BenchmarkRetained(b *testing.B) {
	svcs := benchServices(100_000)
	pools := benchPools(b, "10.0.0.0/8")
	var ms runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		a := New(DefaultConfig())
		a.Reconcile(pools, svcs)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc-before)/float64(len(svcs)), "B-retained/svc")
		runtime.KeepAlive(a)
	}
}

// BenchmarkReleaseAll is a withdrawal at scale: 100,000 Services hold an address, and one
// Reconcile without them releases every one (what `herald run` does before it can withdraw
// their routes).
func BenchmarkReleaseAll(b *testing.B) {
	svcs := benchServices(100_000)
	pools := benchPools(b, "10.0.0.0/8")
	for b.Loop() {
		b.StopTimer()
		a := New(DefaultConfig())
		a.Reconcile(pools, svcs)
		b.StartTimer()
		a.Reconcile(pools, nil)
	}
}
