package kube

import (
	"sync"
	"time"

	"github.com/heraldlb/herald/internal/memory"
)

// pacer spaces the full reconciles of one controller. Every pass reads and recomputes
// everything (O(Services)), and a burst of events, such as a thousand Services created by one
// kubectl apply, would otherwise run pass after pass at full CPU while each pass finds a few
// more objects. After a pass of duration d the next waits until max(minGap, factor × d) has
// passed since the last one started: an idle controller answers the first event at once,
// a busy one spends at most 1/factor of a core, and its latency stays within one gap.
type pacer struct {
	minGap time.Duration
	factor float64

	mu   sync.Mutex
	last time.Time
	took time.Duration
}

// newPacer returns a pacer with the given floor and cost factor.
func newPacer(minGap time.Duration, factor float64) *pacer {
	return &pacer{minGap: minGap, factor: factor}
}

// wait returns how long to put off a pass that would start now (0: start it).
func (p *pacer) wait(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last.IsZero() {
		return 0
	}
	gap := max(p.minGap, time.Duration(p.factor*float64(p.took)))
	if d := p.last.Add(gap).Sub(now); d > 0 {
		return d
	}
	return 0
}

// done records a pass that started at start and ended at end. A burst of passes leaves
// garbage of the size of the cluster behind; once they stop the process hands it back.
func (p *pacer) done(start, end time.Time) {
	p.mu.Lock()
	p.last, p.took = start, end.Sub(start)
	p.mu.Unlock()
	memory.AfterWork()
}
