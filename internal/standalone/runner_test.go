package standalone

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/heraldlb/herald/internal/ipam"
	"github.com/heraldlb/herald/internal/model"
	"github.com/heraldlb/herald/internal/store"
)

// storedN gives n Services ns/s0..s(n-1) the addresses 10.0.x.y in order.
func storedN(n int) store.Allocations {
	st := store.Allocations{}
	for i := range n {
		st[model.ServiceKey{Namespace: "ns", Name: fmt.Sprint("s", i)}] = []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}
	}
	return st
}

func svc(name string) model.Service {
	return model.Service{Key: model.ServiceKey{Namespace: "ns", Name: name}, Type: "LoadBalancer"}
}

func TestGoneAddrs(t *testing.T) {
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	st := storedN(3000)
	ours := ipam.New(ipam.DefaultConfig()).Ours

	if g := goneAddrs(st, nil, ours); len(g) != 3000 || !g[addr(0)] || !g[addr(2999)] {
		t.Fatalf("every Service gone: %d addresses gone, want 3000", len(g))
	}

	// A few gone is the allocator's job: nothing early.
	present := make([]model.Service, 0, 3000)
	for i := range 2000 {
		present = append(present, svc(fmt.Sprint("s", i)))
	}
	if g := goneAddrs(st, present, ours); g != nil {
		t.Fatalf("1000 gone (under %d): got %d addresses, want none", earlyWithdrawMin, len(g))
	}

	// 2000 gone, but present Services still hold, ask for, show in their status or list as an
	// external IP four of their addresses (a shared IP; an address moving to another Service).
	kept := svc("s0")
	asks := svc("new-asks")
	asks.Request.IPs = []netip.Addr{addr(2500)}
	ingress := svc("new-ingress")
	ingress.Ingress = []netip.Addr{addr(2600)}
	external := svc("new-external")
	external.ExternalIPs = []netip.Addr{addr(2700)}
	external.Type = "ClusterIP" // as externalIPs are used: no LoadBalancer address of its own to wait for
	shares := svc("s1000")
	st[shares.Key] = []netip.Addr{addr(1001)} // s1000 shares s1001's address
	// A new Service that takes any address could be given one of the released ones: then
	// nothing goes early. One that is not Herald's (another class, not a LoadBalancer)
	// changes nothing.
	if g := goneAddrs(st, []model.Service{kept, svc("new-any")}, ours); g != nil {
		t.Fatalf("a new Service may take a released address, yet %d go early", len(g))
	}
	other := svc("other-class")
	other.LoadBalancerClass = "example.com/other"
	clusterIP := svc("cluster-ip")
	clusterIP.Type = "ClusterIP"
	g := goneAddrs(st, []model.Service{kept, asks, ingress, other, clusterIP, external, shares}, ours)
	if len(g) != 3000-2-4 {
		t.Fatalf("%d addresses gone, want %d", len(g), 3000-2-4)
	}
	for _, i := range []int{0, 1001, 2500, 2600, 2700} {
		if g[addr(i)] {
			t.Errorf("%s is withdrawn, but a present Service still has it", addr(i))
		}
	}
	if !g[addr(1)] || !g[addr(2999)] || g[addr(1000)] {
		t.Error("addresses of gone Services are kept, or one nobody held is withdrawn")
	}
}
