package election

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldlb/herald/internal/plan"
)

// BenchmarkEvaluate is one agent's evaluation tick (every heartbeat interval, 100 ms by
// default): the health view of every node and the owner of every address.
//
//	go test -run '^$' -bench BenchmarkEvaluate -benchmem ./internal/election/
func BenchmarkEvaluate(b *testing.B) {
	for _, tc := range []struct{ nodes, addrs int }{{10, 1000}, {10, 10000}, {100, 10000}} {
		b.Run(fmt.Sprintf("nodes=%d/addrs=%d", tc.nodes, tc.addrs), func(b *testing.B) {
			now := time.Unix(1_000_000, 0)
			var names []string
			for i := range tc.nodes {
				names = append(names, fmt.Sprintf("node%03d", i))
			}
			tr := NewTracker(names[0], DefaultConfig(), now.Add(-time.Hour))
			for _, n := range names[1:] {
				tr.Heard(now, Report{Node: n, Member: Member{Interfaces: []string{"eth0"}, DefaultInterface: "eth0", Ready: true}, Hears: names})
			}
			var l2 []plan.L2Address
			for _, a := range addrs(tc.addrs) {
				la := plan.L2Address{Addr: a}
				for _, n := range names {
					la.Nodes = append(la.Nodes, plan.L2Node{Name: n, Interfaces: []*regexp{nil}})
				}
				l2 = append(l2, la)
			}
			self := Member{Interfaces: []string{"eth0"}, DefaultInterface: "eth0"}
			for b.Loop() {
				v := tr.View(now, names)
				Assign(l2, tr.Members(now, names, self), v.Healthy)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(tc.addrs)*1000, "ns/addr")
		})
	}
}
