package observe

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A Watch keeps the first confirmed report of each write on each node,
// ignores ids of no source and reports outside a phase, refuses a report
// its check refutes, and leaves unconfirmed writes out as missing.
func TestWatch(t *testing.T) {
	var w Watch
	inForce := map[string]bool{"a-0": true, "a-1": true, "b-0": true}
	checks := []func(string) (bool, error){
		func(jti string) (bool, error) { return inForce[jti], nil },
		func(jti string) (bool, error) { return inForce[jti], nil },
	}
	w.Hook(0)("a-0") // no phase yet: ignored
	p := w.Start(time.Now(), checks, Source{Prefix: "a-", Count: 2}, Source{Prefix: "b-", Count: 1})
	for s, k := range map[int]int{0: 0, 1: 0} {
		p.Acked(s, k)
	}
	p.Acked(0, 1)
	time.Sleep(time.Millisecond)
	for i := range 2 {
		w.Hook(i)("a-0")
		w.Hook(i)("a-0") // a redelivery: the first report counts
		w.Hook(i)("zz-3")
		w.Hook(i)("a-7") // past the source's count
		w.Hook(i)("b-0")
	}
	w.Hook(0)("a-1")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("Wait returned before ctx ended although node 1 never confirmed a-1")
	}
	for i, want := range []int{2, 1} {
		lat, err := p.Latencies(i, 0)
		if err != nil || len(lat) != want {
			t.Fatalf("node %d source a: %v, %v; want %d latencies", i, lat, err, want)
		}
		for _, l := range lat {
			if l < time.Millisecond {
				t.Errorf("node %d: latency %v, want at least the 1ms slept", i, l)
			}
		}
	}
	w.Hook(1)("a-1") // completes the phase
	if err := p.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}

	// A report the check refutes fails the phase; Stop ends reporting.
	p = w.Start(time.Now(), checks, Source{Prefix: "c-", Count: 1})
	w.Hook(0)("c-0")
	w.Stop()
	w.Hook(1)("c-0")
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); err == nil || !strings.Contains(err.Error(), "refuted") {
		t.Fatalf("Wait after a refuted report: %v", err)
	}
	if lat, _ := p.Latencies(1, 0); len(lat) != 0 {
		t.Fatalf("a report after Stop counted: %v", lat)
	}
}

// A write confirmed before its acknowledgement was recorded counts as 0;
// one confirmed and never acknowledged is an error.
func TestWatchAckAfterReport(t *testing.T) {
	var w Watch
	yes := func(string) (bool, error) { return true, nil }
	p := w.Start(time.Now(), []func(string) (bool, error){yes}, Source{Prefix: "x", Count: 2})
	w.Hook(0)("x0")
	w.Hook(0)("x1")
	time.Sleep(time.Millisecond)
	p.Acked(0, 0)
	if lat, err := p.Latencies(0, 0); err == nil {
		t.Fatalf("Latencies with x1 never acknowledged: %v, nil error", lat)
	}
	p.Acked(0, 1)
	lat, err := p.Latencies(0, 0)
	if err != nil || len(lat) != 2 || lat[0] != 0 || lat[1] != 0 {
		t.Fatalf("Latencies = %v, %v; want two zeros", lat, err)
	}
}
