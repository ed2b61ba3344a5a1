package memory

import (
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

var sink [][]byte

// burst allocates 200 MB and drops it.
func burst() {
	for range 200 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
}

// After a collected burst the free pages are reclaimable, and Trim hands them back.
func TestTrimReturnsACollectedBurst(t *testing.T) {
	burst()
	runtime.GC() // the burst is garbage now, its pages free but resident
	checkTrim(t)
}

// A burst the collector has not looked at yet is reclaimable too: that is how herald sits
// after a large pass, its next collection far away.
func TestTrimReturnsAnUncollectedBurst(t *testing.T) {
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no collection until Trim's own
	burst()
	checkTrim(t)
}

func checkTrim(t *testing.T) {
	t.Helper()
	if r := Reclaimable(); r < Threshold {
		t.Fatalf("reclaimable heap after a 200 MB burst is %d MB, want at least %d MB", r>>20, Threshold>>20)
	}
	if !Trim() {
		t.Fatal("Trim did not act on a 200 MB burst")
	}
	if r := Reclaimable(); r >= Threshold {
		t.Fatalf("reclaimable heap after Trim is %d MB", r>>20)
	}
	if Trim() {
		t.Fatal("Trim acted with nothing to give back")
	}
}

// Fragmentation is not reclaimable: spans that still hold a live object stay, so a trim
// would collect for nothing.
func TestTrimLeavesFragmentedSpans(t *testing.T) {
	runtime.GC()
	pct := debug.SetGCPercent(-1) // no collection on the way, or the spans are reused
	var small [][]byte
	for i := range 1 << 20 { // 128 MB of 128-byte objects, one in eight kept
		b := make([]byte, 128)
		if i%8 == 0 {
			small = append(small, b)
		}
	}
	debug.SetGCPercent(pct)
	runtime.GC()
	if r := Reclaimable(); r >= Threshold {
		t.Fatalf("%d MB reclaimable with 16 MB live spread over 128 MB of spans", r>>20)
	}
	if Trim() {
		t.Fatal("Trim acted on fragmentation")
	}
	runtime.KeepAlive(small)
}

// Live heap is not reclaimable, however large.
func TestTrimLeavesLiveHeap(t *testing.T) {
	runtime.GC()
	for range 200 {
		sink = append(sink, make([]byte, 1<<20))
	}
	defer func() { sink = nil }()
	runtime.GC()
	if r := Reclaimable(); r >= Threshold {
		t.Fatalf("%d MB reclaimable with 200 MB live and nothing dropped", r>>20)
	}
	if Trim() {
		t.Fatal("Trim acted on live heap")
	}
}

// fakeProcess stands in for the runtime in Settle's tests: how much it has allocated, and
// when it was trimmed.
type fakeProcess struct {
	mu      sync.Mutex
	allocs  uint64
	trimmed []time.Time
	// atTrim is allocs at the last trim: like Trim, the fake acts only on Threshold of
	// garbage made since then (everything allocated here is garbage).
	atTrim uint64
}

func (f *fakeProcess) settle(d time.Duration) *Settle {
	s := NewSettle(d)
	s.total = func() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.allocs }
	s.trim = func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.allocs-f.atTrim < Threshold {
			return false
		}
		f.trimmed, f.atTrim = append(f.trimmed, time.Now()), f.allocs
		return true
	}
	return s
}

func (f *fakeProcess) alloc(n uint64) { f.mu.Lock(); f.allocs += n; f.mu.Unlock() }

func (f *fakeProcess) trims() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.trimmed...)
}

// Settle trims once, after the last of several passes, and never after Stop.
func TestSettleTrimsOnceAfterTheLastPass(t *testing.T) {
	var f fakeProcess
	s := f.settle(200 * time.Millisecond)
	f.alloc(Threshold + 1)
	var last time.Time
	for range 5 {
		s.Done()
		last = time.Now()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(800 * time.Millisecond)
	got := f.trims()
	if len(got) != 1 || got[0].Sub(last) < 200*time.Millisecond {
		t.Fatalf("trims %v, want one at least 200ms after the last pass at %v", got, last)
	}
	s.Stop()
	f.alloc(Threshold + 1)
	s.Done()
	time.Sleep(400 * time.Millisecond)
	if len(f.trims()) != 1 {
		t.Fatal("trimmed after Stop")
	}
}

// A process still allocating after its last pass (GoBGP sending what the pass handed it) is
// trimmed only once it has stopped.
func TestSettleWaitsForAllocationToStop(t *testing.T) {
	var f fakeProcess
	s := f.settle(100 * time.Millisecond)
	defer s.Stop()
	s.Done()
	busyUntil := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(busyUntil) {
		f.alloc(8 << 20) // ~160 MB per period: busy
		time.Sleep(5 * time.Millisecond)
	}
	if got := f.trims(); len(got) != 0 {
		t.Fatalf("trimmed while the process was still allocating: %v", got)
	}
	time.Sleep(600 * time.Millisecond)
	if got := f.trims(); len(got) != 1 {
		t.Fatalf("trims after allocation stopped: %v, want one", got)
	}
}

// Work that a pass set off, paused and resumed after the trim (GoBGP mid-send) is trimmed
// again once it stops; garbage made long after the last pass is left to the collector.
func TestSettleFollowsUpAfterATrim(t *testing.T) {
	var f fakeProcess
	period := 50 * time.Millisecond
	s := f.settle(period)
	defer s.Stop()
	f.alloc(Threshold + 1)
	s.Done()
	time.Sleep(3 * period)
	if got := f.trims(); len(got) != 1 {
		t.Fatalf("trims after the pass: %v, want one", got)
	}
	for range 20 { // the rest of the send: busy, then quiet
		f.alloc(8 << 20)
		time.Sleep(period / 10)
	}
	time.Sleep(4 * period)
	if got := f.trims(); len(got) != 2 {
		t.Fatalf("trims after the resumed work: %v, want two", got)
	}
	time.Sleep(followUp * period)
	f.alloc(Threshold + 1)
	time.Sleep(4 * period)
	if got := f.trims(); len(got) != 2 {
		t.Fatalf("trimmed %d times; garbage made after the follow-up window is not Settle's", len(got))
	}
}
