package observe

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Every probe is reported once, whether it is visible at once or only
// after some polls; a failing check ends the poll with its error.
func TestPollSeesEveryProbe(t *testing.T) {
	var polls atomic.Int64
	check := func(jti string) (bool, error) {
		if jti == "late" {
			return polls.Add(1) > 3, nil
		}
		return true, nil
	}
	in := make(chan *Probe, 2)
	in <- &Probe{JTI: "now"}
	in <- &Probe{JTI: "late"}
	close(in)
	r := Poll(t.Context(), check, in, time.Now(), time.Millisecond)
	if r.Err != nil || len(r.Lat) != 2 || r.Polls < 4 {
		t.Fatalf("Poll = %+v; want 2 latencies after at least 4 polls", r)
	}

	in = make(chan *Probe, 1)
	in <- &Probe{JTI: "x"}
	boom := errors.New("store down")
	r = Poll(context.Background(), func(string) (bool, error) { return false, boom }, in, time.Now(), time.Millisecond)
	if !errors.Is(r.Err, boom) {
		t.Fatalf("Poll with a failing check: %v", r.Err)
	}
}

// PollAll reports every probe once per node, lets a failing node fail
// alone, and leaves what a node never saw out of its latencies when ctx
// ends.
func TestPollAll(t *testing.T) {
	var polls atomic.Int64
	boom := errors.New("store down")
	checks := []func(string) (bool, error){
		func(string) (bool, error) { return true, nil },
		func(jti string) (bool, error) { return jti != "late" || polls.Add(1) > 3, nil },
		func(string) (bool, error) { return false, boom },
		func(string) (bool, error) { return true, nil },
	}
	in := make(chan *Probe, 3)
	for _, jti := range []string{"a", "late", "b"} {
		in <- &Probe{JTI: jti}
	}
	close(in)
	rs := PollAll(t.Context(), checks, in, time.Now(), time.Millisecond, 2)
	for i, r := range rs {
		if i == 2 {
			if !errors.Is(r.Err, boom) || len(r.Lat) != 0 {
				t.Errorf("node 2 (failing check): %+v; want its error and no latencies", r)
			}
			continue
		}
		if r.Err != nil || len(r.Lat) != 3 {
			t.Errorf("node %d: %+v; want 3 latencies", i, r)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	never := make(chan *Probe, 2)
	never <- &Probe{JTI: "seen"}
	never <- &Probe{JTI: "never"} // in stays open: only ctx ends the poll
	rs = PollAll(ctx, checks[:1:1], never, time.Now(), time.Millisecond, 4)
	if len(rs) != 1 || rs[0].Err != nil || len(rs[0].Lat) != 2 {
		t.Fatalf("PollAll until ctx ends: %+v", rs)
	}
	checks[0] = func(jti string) (bool, error) { return jti == "seen", nil }
	never = make(chan *Probe, 2)
	never <- &Probe{JTI: "seen"}
	never <- &Probe{JTI: "never"}
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	rs = PollAll(ctx, checks[:1:1], never, time.Now(), time.Millisecond, 1)
	if rs[0].Err != nil || len(rs[0].Lat) != 1 || rs[0].Polls < 2 {
		t.Fatalf("PollAll with a probe never seen: %+v; want 1 latency after several polls", rs[0])
	}
}
