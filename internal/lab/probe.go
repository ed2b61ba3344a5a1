package lab

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Attempt is one request of a probe: when it started, which node answered, or why none did.
type Attempt struct {
	At   time.Time
	Node string
	Err  error
}

// Probe starts a request for http://target/ from inside a host of the lab every interval,
// each on a new connection (a new source port, so the router's ECMP hash spreads them over
// the nodes), and hands every finished attempt to fn until ctx ends; attempts overlap, so one
// that hangs on a dead node does not hold back the next. Each waits at most timeout. This is
// what a client sees during a failover. fn may be called concurrently.
func (l *Lab) Probe(ctx context.Context, host, target string, interval, timeout time.Duration, fn func(Attempt)) {
	ns := l.NS(host)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		wg.Go(func() {
			at := time.Now()
			actx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			body, err := httpGet(actx, ns, target)
			if ctx.Err() != nil {
				return // stopped, not failed
			}
			node, _, _ := strings.Cut(body, " ")
			fn(Attempt{At: at, Node: node, Err: err})
		})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
