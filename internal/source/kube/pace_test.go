package kube

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	p := newPacer(100*time.Millisecond, 3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := p.wait(t0); d != 0 {
		t.Fatalf("the first pass waits %s", d)
	}
	// A cheap pass: the floor applies.
	p.done(t0, t0.Add(10*time.Millisecond))
	if d := p.wait(t0.Add(20 * time.Millisecond)); d != 80*time.Millisecond {
		t.Errorf("after a 10 ms pass, 20 ms later: wait %s, want 80ms", d)
	}
	if d := p.wait(t0.Add(150 * time.Millisecond)); d != 0 {
		t.Errorf("an event after a quiet spell waits %s", d)
	}
	// An expensive pass: three times its cost from its start.
	t1 := t0.Add(time.Second)
	p.done(t1, t1.Add(200*time.Millisecond))
	if d := p.wait(t1.Add(200 * time.Millisecond)); d != 400*time.Millisecond {
		t.Errorf("after a 200 ms pass, at its end: wait %s, want 400ms", d)
	}
}
