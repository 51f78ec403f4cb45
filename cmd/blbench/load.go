package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// loopResult is what one measured load loop did.
type loopResult struct {
	ops      int64
	errs     int64
	firstErr error
	elapsed  time.Duration
	lat      *hist // per-operation latency; nil when not timed
}

func (r loopResult) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// nsPerOp is the mean wall time of one operation of one worker.
func (r loopResult) nsPerOp(workers int) float64 {
	return float64(r.elapsed.Nanoseconds()) * float64(workers) / float64(r.ops)
}

// maxLoopOps bounds every closed loop in count as well as in time.
const maxLoopOps = 1 << 34

// closedLoop runs op from workers goroutines, each calling it again as soon
// as it returns, until d has passed, maxOps operations were started or ctx
// ends. With timed, each call is timed into a latency histogram (the timer's
// cost is included). op gets the worker number and the worker's call count.
func closedLoop(ctx context.Context, workers int, d time.Duration, maxOps int64, timed bool, op func(w, i int) error) loopResult {
	if maxOps <= 0 || maxOps > maxLoopOps {
		maxOps = maxLoopOps
	}
	var (
		stop     atomic.Bool
		started  atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      loopResult
		perBatch = int64(64) // operations between looks at the stop flag and the budget
	)
	if timed {
		res.lat = newHist()
		perBatch = 1
	}
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-cctx.Done()
		stop.Store(true)
	}()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			var (
				h     *hist
				ops   int64
				errs  int64
				first error
			)
			if timed {
				h = newHist()
			}
			i := 0
			for !stop.Load() {
				if started.Add(perBatch) > maxOps {
					break
				}
				for range perBatch {
					var err error
					if timed {
						t0 := time.Now()
						err = op(w, i)
						h.record(time.Since(t0))
					} else {
						err = op(w, i)
					}
					i++
					ops++
					if err != nil {
						errs++
						if first == nil {
							first = err
						}
					}
				}
			}
			mu.Lock()
			res.ops += ops
			res.errs += errs
			if res.firstErr == nil {
				res.firstErr = first
			}
			if timed {
				res.lat.merge(h)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if res.firstErr == nil && ctx.Err() != nil {
		res.firstErr = ctx.Err()
	}
	return res
}

// errTooManyErrors stops a scenario whose contender fails.
var errTooManyErrors = errors.New("operations failed")

// timerCost measures what time.Now + time.Since around a call costs.
func timerCost() float64 {
	h := newHist()
	for range 200_000 {
		t0 := time.Now()
		h.record(time.Since(t0))
	}
	return h.quantile(0.5)
}
