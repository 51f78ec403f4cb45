package main

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcReading is what this process's garbage collector had done at one
// moment: the CPU it had spent (marking, assists, pauses, sweeping) and
// the cycles it had completed. Every simulated node of a scenario shares
// this one collector, where separate machines would each have their own
// over a heap a thousandth the size; the difference of two readings says
// how much of a phase went to it.
type gcReading struct {
	at     time.Time
	cpu    float64 // seconds
	cycles uint64
}

// gcNow reads the collector's counters (runtime/metrics).
func gcNow() gcReading {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	r := gcReading{at: time.Now()}
	if s[0].Value.Kind() == metrics.KindFloat64 {
		r.cpu = s[0].Value.Float64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		r.cycles = s[1].Value.Uint64()
	}
	return r
}

// since returns the collector's CPU from r to now, in cores (CPU seconds
// per second of the interval), and the cycles it completed.
func (r gcReading) since() (cores float64, cycles uint64) {
	now := gcNow()
	if d := now.at.Sub(r.at).Seconds(); d > 0 {
		cores = (now.cpu - r.cpu) / d
	}
	return cores, now.cycles - r.cycles
}

// pauseGC, when on, switches the collector off until the function it
// returns is called, with a memory limit of limit bytes (at which it
// collects anyway); when off it does nothing. An experiment
// (-fleet-gc-off): what the phase measures without the collector every
// simulated machine shares.
func pauseGC(on bool, limit float64) (resume func()) {
	if !on || limit <= 0 {
		return func() {}
	}
	oldLimit := debug.SetMemoryLimit(int64(min(limit, math.MaxInt64/2)))
	old := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(old)
		debug.SetMemoryLimit(oldLimit)
	}
}
