// Package observe measures how long a write takes to become visible on a
// node: Poll checks the ids it was handed until each one is seen, on any
// node; Watch is told by a fleet of nodes that report what comes in force
// (node.Config.OnBlacklisted) and costs nothing while it waits. The
// benchmark harness (cmd/blbench) and node's propagation benchmark share
// it.
package observe

import (
	"context"
	"fmt"
	"time"
)

// Probe is one write: Acked is when its acknowledgement arrived, measured
// from the run's base time (monotonic); it is set before the probe is
// handed to a poller.
type Probe struct {
	JTI   string
	Acked time.Duration
}

// Result is what one poller saw.
type Result struct {
	Lat     []time.Duration // acknowledgement → check true, one per probe
	Polls   int             // check rounds while something was pending
	Waiting time.Duration   // time spent with something pending
	Err     error
}

// Poll checks the probes arriving on in until in is closed and every probe
// has been seen, or ctx ends. Each round checks every pending probe and
// then waits for the next tick of every (or a new probe).
func Poll(ctx context.Context, check func(jti string) (bool, error), in <-chan *Probe, base time.Time, every time.Duration) Result {
	var r Result
	tick := time.NewTicker(every)
	defer tick.Stop()
	var pending []*Probe
	for {
		if len(pending) == 0 {
			select {
			case p, ok := <-in:
				if !ok {
					return r
				}
				pending = append(pending, p)
			case <-ctx.Done():
				return r
			}
		}
		from := time.Now()
	round:
		for len(pending) > 0 {
			kept := pending[:0]
			for _, p := range pending {
				ok, err := check(p.JTI)
				if err != nil {
					r.Err = fmt.Errorf("check %s: %w", p.JTI, err)
					return r
				}
				if ok {
					r.Lat = append(r.Lat, time.Since(base)-p.Acked)
				} else {
					kept = append(kept, p)
				}
			}
			pending = kept
			r.Polls++
			select {
			case p, ok := <-in:
				if !ok {
					in = nil // a nil channel never fires: keep polling what is pending
					continue
				}
				pending = append(pending, p)
			case <-tick.C:
			case <-ctx.Done():
				r.Err = fmt.Errorf("%d writes never seen: %w", len(pending), ctx.Err())
				break round
			}
		}
		r.Waiting += time.Since(from)
		if r.Err != nil || in == nil {
			return r
		}
	}
}
