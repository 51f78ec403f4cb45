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
