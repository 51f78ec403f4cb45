// Package observe measures how long a write takes to become visible on a
// node: a poller checks the ids it was handed until each one is seen (Poll
// for one node, PollAll for a fleet of them). The benchmark harness
// (cmd/blbench) and node's propagation benchmark share it.
package observe

import (
	"context"
	"fmt"
	"sync"
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

// PollAll is Poll for a fleet: every probe arriving on in is checked on
// every one of checks, and result i is what checks[i] saw. A fixed number
// of goroutines (workers, at least 1) share the checks, each owning every
// workers-th one, so the poller's cost grows with the probes pending, not
// with one goroutine and one timer per node. Each round a worker checks
// every pending probe of every node it owns, then waits for the next tick
// of every; a probe arriving meanwhile is checked at once on its own (not
// with a round of all that is pending, which at a high rate and latency
// would cost as much as the fleet). Polls and Waiting of a node are those
// of its worker.
//
// It returns when in is closed and every node has seen every probe, or when
// ctx ends: a probe not seen then is simply absent from Lat (the caller,
// who counted the probes, knows how many are missing). A failing check
// stops the polling of its node alone, with Err set.
func PollAll(ctx context.Context, checks []func(jti string) (bool, error), in <-chan *Probe, base time.Time, every time.Duration, workers int) []Result {
	results := make([]Result, len(checks))
	if len(checks) == 0 {
		for range in {
		}
		return results
	}
	workers = min(max(workers, 1), len(checks))
	feeds := make([]chan *Probe, workers)
	var wg sync.WaitGroup
	for w := range workers {
		feeds[w] = make(chan *Probe, 1024)
		var own []int
		for i := w; i < len(checks); i += workers {
			own = append(own, i)
		}
		wg.Go(func() { pollShare(ctx, checks, own, results, feeds[w], base, every) })
	}
	// Hand every probe to every worker; a worker that has returned on ctx
	// is not waited for.
	func() {
		defer func() {
			for _, f := range feeds {
				close(f)
			}
		}()
		for {
			select {
			case p, ok := <-in:
				if !ok {
					return
				}
				for _, f := range feeds {
					select {
					case f <- p:
					case <-ctx.Done():
						return
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	return results
}

// pollShare is one worker of PollAll: it polls checks[i] for i in own.
func pollShare(ctx context.Context, checks []func(string) (bool, error), own []int, results []Result, in <-chan *Probe, base time.Time, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	pending := make([][]*Probe, len(own))
	waiting := 0 // probes pending over every owned node
	add := func(p *Probe) {
		for j, i := range own {
			if results[i].Err == nil {
				pending[j] = append(pending[j], p)
				waiting++
			}
		}
	}
	// first checks a probe arriving between rounds on every owned node at
	// once and keeps it pending where it is not seen yet, returning how
	// many: a round of everything pending per probe would make the
	// poller's cost grow with the latency it measures.
	first := func(p *Probe) (kept int) {
		for j, i := range own {
			if results[i].Err != nil {
				continue
			}
			ok, err := checks[i](p.JTI)
			switch {
			case err != nil:
				results[i].Err = fmt.Errorf("check %s: %w", p.JTI, err)
				waiting -= len(pending[j])
				pending[j] = nil // stop polling this node
			case ok:
				results[i].Lat = append(results[i].Lat, time.Since(base)-p.Acked)
			default:
				pending[j] = append(pending[j], p)
				kept++
			}
		}
		return kept
	}
	var polls int
	var waited time.Duration
	defer func() {
		for _, i := range own {
			results[i].Polls, results[i].Waiting = polls, waited
		}
	}()
	for {
		if waiting == 0 {
			select {
			case p, ok := <-in:
				if !ok {
					return
				}
				add(p)
			case <-ctx.Done():
				return
			}
		}
		from := time.Now()
		for waiting > 0 {
			waiting = 0
			for j, i := range own {
				kept := pending[j][:0]
				for _, p := range pending[j] {
					ok, err := checks[i](p.JTI)
					if err != nil {
						results[i].Err = fmt.Errorf("check %s: %w", p.JTI, err)
						break
					}
					if ok {
						results[i].Lat = append(results[i].Lat, time.Since(base)-p.Acked)
					} else {
						kept = append(kept, p)
					}
				}
				if results[i].Err != nil {
					kept = kept[:0] // stop polling this node
				}
				pending[j] = kept
				waiting += len(kept)
			}
			polls++
			if waiting == 0 {
				break
			}
		wait: // for the next tick; a probe arriving meanwhile is checked alone
			for {
				select {
				case p, ok := <-in:
					if !ok {
						in = nil // a nil channel never fires: keep polling what is pending
						continue
					}
					kept := first(p) // which may lower waiting (a failing node)
					waiting += kept
				case <-tick.C:
					break wait
				case <-ctx.Done():
					waited += time.Since(from)
					return
				}
			}
		}
		waited += time.Since(from)
		if in == nil {
			return
		}
	}
}
