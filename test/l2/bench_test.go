package l2

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkL2Failover measures what a client sees when the node answering for a VIP dies:
// the agent is SIGKILLed and the node's link goes down at the same instant, and the client,
// which keeps connecting every 10 ms, waits for its first TCP connect answered by the new
// owner. 20 runs; the node comes back between runs (and wins the VIP back).
//
//	go test -run '^$' -bench BenchmarkL2Failover -benchtime 1x ./test/l2/
func BenchmarkL2Failover(b *testing.B) {
	for b.Loop() {
		runFailovers(b, 20)
	}
}

func runFailovers(b *testing.B, runs int) {
	l := newLAN(b)
	vip := "10.99.0.200"
	var took []time.Duration
	for range runs {
		owner := l.agreedOwner(vip)
		l.WaitFor("TCP to "+vip+" through "+owner, 10*time.Second, func() string {
			if got, err := l.dial(vip, 200*time.Millisecond); err != nil || got != owner {
				return "answered by " + got
			}
			return ""
		})
		l.Signal(l.herald[owner].Cmd, syscall.SIGKILL)
		l.Exec(owner, "ip", "link", "set", "eth0", "down")
		dead := time.Now()
		var d time.Duration
		l.WaitFor("TCP to "+vip+" through a new owner", 10*time.Second, func() string {
			for time.Since(dead) < 9*time.Second {
				got, err := l.dial(vip, 50*time.Millisecond)
				if err == nil && got != "" && got != owner {
					d = time.Since(dead)
					return ""
				}
				time.Sleep(10 * time.Millisecond)
			}
			return "no answer"
		})
		took = append(took, d)
		l.Kill(l.herald[owner].Cmd, syscall.SIGKILL) // reap it
		l.Exec(owner, "ip", "link", "set", "eth0", "up")
		l.herald[owner].Restart()
	}
	slices.Sort(took)
	med := took[len(took)/2]
	if len(took)%2 == 0 {
		med = (took[len(took)/2-1] + took[len(took)/2]) / 2
	}
	b.ReportMetric(float64(med.Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
	b.ReportMetric(float64(took[0].Milliseconds()), "min-ms")
	b.Logf("failover times (sorted): %v", took)
}
