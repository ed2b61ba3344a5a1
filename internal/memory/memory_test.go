package memory

import (
	"runtime"
	"testing"
	"time"
)

var sink [][]byte

// After a burst of garbage the free heap is above the threshold, and Trim hands it back.
func TestTrimReturnsABurst(t *testing.T) {
	for range 200 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	runtime.GC() // the burst is garbage now, its pages free but resident
	if Idle() < Threshold {
		t.Fatalf("free resident heap after a 200 MB burst is %d MB, want at least %d MB", Idle()>>20, Threshold>>20)
	}
	if !Trim() {
		t.Fatal("Trim did not act on a 200 MB burst")
	}
	if Idle() >= Threshold {
		t.Fatalf("free resident heap after Trim is %d MB", Idle()>>20)
	}
	if Trim() {
		t.Fatal("Trim acted with nothing to give back")
	}
}

// Settle trims once, after the last of several passes, and never after Stop.
func TestSettleTrimsAfterTheLastPass(t *testing.T) {
	s := NewSettle(300 * time.Millisecond)
	defer s.Stop()
	burst := func() {
		for range 200 {
			sink = append(sink, make([]byte, 1<<20))
		}
		sink = nil
		runtime.GC()
	}
	burst()
	for range 5 {
		s.Done()
		time.Sleep(10 * time.Millisecond)
	}
	if Idle() < Threshold {
		t.Fatal("trimmed while passes were still ending")
	}
	deadline := time.Now().Add(5 * time.Second)
	for Idle() >= Threshold {
		if time.Now().After(deadline) {
			t.Fatalf("not trimmed after the passes ended: %d MB free and resident", Idle()>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
	burst()
	s.Done()
	time.Sleep(600 * time.Millisecond)
	if Idle() < Threshold {
		t.Fatal("trimmed after Stop")
	}
}
