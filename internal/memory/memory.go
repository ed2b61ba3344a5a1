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

// Threshold is how much reclaimable heap makes Trim act. Below it, a forced collection
// would cost more than the memory is worth.
const Threshold = 64 << 20

// Reclaimable returns the resident heap that a collection would give back, in bytes: free
// pages not yet returned, plus what dead objects occupy. The dead ones count, because after
// a burst the collector may not have run for a while (its next goal is twice the live heap),
// so most of the waste is garbage still sitting in spans, not yet free pages; at 100k routes
// herald idled with 450 MB allocated, 300 MB of it live, and 50 MB free. Unused slots in
// spans that still hold live objects do not count: no collection returns them, and counting
// them (70 MB at 100k routes) had Settle collect a 300 MB heap every second for nothing.
func Reclaimable() uint64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	objects, free, live := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64() // live: as of the last collection
	if live >= objects {
		return free
	}
	return objects - live + free
}

// Trim returns unneeded heap to the OS when more than Threshold of it is resident. It runs a
// full collection, so call it after a burst of work, not on every loop turn. It reports
// whether it acted.
func Trim() bool {
	if Reclaimable() < Threshold {
		return false
	}
	debug.FreeOSMemory()
	return true
}

// Settle trims once work has been quiet for a moment: each Done (the end of a pass) pushes
// the trim back, so a burst of passes is trimmed once, after the last one. Quiet also means
// the process has stopped allocating: what a pass set off elsewhere (GoBGP sending 100,000
// routes for seconds after the pass handed them over) must finish first, or the trim's full
// collection competes with it and the pages come straight back. The zero value is not
// usable; Stop it with its owner.
type Settle struct {
	after time.Duration
	mu    sync.Mutex
	timer *time.Timer
	done  bool
	// lastDone is when the last pass ended; trims keep following up until followUp later.
	lastDone time.Time
	// allocs is the process's allocation total when the timer was last armed.
	allocs uint64
	// total and trim are allocated and Trim; tests replace them.
	total func() uint64
	trim  func() bool
}

// quietAllocs is how much a quiet process may allocate per Settle period.
const quietAllocs = 16 << 20

// followUp is, in Settle periods after the last pass, how long Settle keeps looking. A
// pass can set off work that pauses and resumes: at 100k routes GoBGP went quiet for a
// second mid-send, the trim ran, and the rest of the send left 160 MB of garbage that no
// collection took for minutes (the next goal was twice the live heap), so herald idled at
// 500-520 MB with 290 MB live. A look costs a metrics read; a trim needs Threshold of new
// garbage and a quiet period, and the looks end followUp periods after the pass, so a
// process that keeps allocating is not collected over and over.
const followUp = 30

// NewSettle trims after quiet of d.
func NewSettle(d time.Duration) *Settle { return &Settle{after: d, total: allocated, trim: Trim} }

// Done marks the end of a pass.
func (s *Settle) Done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastDone = time.Now()
	s.arm()
}

func (s *Settle) arm() {
	if s.done {
		return
	}
	s.allocs = s.total()
	if s.timer == nil {
		s.timer = time.AfterFunc(s.after, s.fire)
	} else {
		s.timer.Reset(s.after)
	}
}

func (s *Settle) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	if s.total()-s.allocs > quietAllocs {
		s.arm() // still busy: look again later
		return
	}
	s.trim()
	if time.Since(s.lastDone) < followUp*s.after {
		s.arm() // what the pass set off may not be over: look again
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

// allocated is the total the process has ever allocated on the heap, in bytes.
func allocated() uint64 {
	m := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// process is the one Settle of the process: there is one heap, so every loop that does
// bursts of work (the standalone reconcile, the agent's and the operator's passes) feeds the
// same one. Its timer needs no stop: at worst it trims once as the process ends.
var process = NewSettle(time.Second)

// AfterWork marks the end of a pass of work in this process: the free heap is given back
// once no pass has ended for a second.
func AfterWork() { process.Done() }
