// Package memory gives back to the operating system the heap a large burst of work left
// free. Go returns freed heap to the kernel slowly and keeps about as much again as the live
// heap for its next collection (GOGC=100), so after loading 100,000 Services once herald's
// RSS stayed at two to three times what it used. Herald's work comes in bursts (a manifest
// edit, a resync) with little allocation between them, so handing the burst's pages back at
// once keeps RSS near the live heap without changing the collector's pace (GOGC/GOMEMLIMIT
// still rule, and a user's settings win).
package memory

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Threshold is how much free, still resident heap makes Trim act. Below it, a forced
// collection would cost more than the memory is worth.
const Threshold = 64 << 20

// Idle returns the heap that is free but still resident, in bytes.
func Idle() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Trim returns free heap to the OS when more than Threshold of it is resident. It runs a
// full collection, so call it after a burst of work, not on every loop turn. It reports
// whether it acted.
func Trim() bool {
	if Idle() < Threshold {
		return false
	}
	debug.FreeOSMemory()
	return true
}

// Settle trims once work has been quiet for a moment: each Done (the end of a pass) pushes
// the trim back, so a burst of passes is trimmed once, after the last one and after what it
// set off elsewhere (BGP UPDATEs being sent) has finished too. The zero value is not usable;
// Stop it with its owner.
type Settle struct {
	after time.Duration
	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

// NewSettle trims after quiet of d.
func NewSettle(d time.Duration) *Settle { return &Settle{after: d} }

// Done marks the end of a pass.
func (s *Settle) Done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.done:
	case s.timer == nil:
		s.timer = time.AfterFunc(s.after, func() { Trim() })
	default:
		s.timer.Reset(s.after)
	}
}

// Stop cancels a pending trim; later Done calls do nothing.
func (s *Settle) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// process is the one Settle of the process: there is one heap, so every loop that does
// bursts of work (the standalone reconcile, the agent's and the operator's passes) feeds the
// same one. Its timer needs no stop: at worst it trims once as the process ends.
var process = NewSettle(time.Second)

// AfterWork marks the end of a pass of work in this process: the free heap is given back
// once no pass has ended for a second.
func AfterWork() { process.Done() }
