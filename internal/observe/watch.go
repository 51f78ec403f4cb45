package observe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Watch times writes on a fleet of nodes that report them, rather than
// polling: each node calls its Hook (node.Config.OnBlacklisted) with the
// id of a write once it is in force there, and the hook confirms it with
// the node's check at that moment. A write is timed from its
// acknowledgement (Phase.Acked) to the first report its check confirmed,
// with no poll interval added and no cost that grows with the latency
// measured. Writes are numbered: write k of a source has the id
// Source.Prefix + k in decimal. Between phases the hooks do nothing.
type Watch struct {
	phase atomic.Pointer[Phase]
}

// Source is one writer of a phase: its writes are Prefix+"0" … Prefix+(Count−1).
type Source struct {
	Prefix string
	Count  int
}

// Phase is one timed run of writes over a fleet.
type Phase struct {
	base    time.Time
	checks  []func(jti string) (bool, error)
	sources []Source
	acked   [][]atomic.Int64   // [source][write]: ns since base + 1; 0 until acknowledged
	seen    [][][]atomic.Int64 // [node][source][write]: ns since base + 1 when first confirmed; 0 until then
	left    atomic.Int64       // node × write pairs not yet confirmed
	done    chan struct{}

	mu      sync.Mutex
	refuted int   // reports whose check did not answer true
	err     error // the first of them
}

// Hook returns the function node i of the fleet calls with each id in
// force on it.
func (w *Watch) Hook(i int) func(jti string) {
	return func(jti string) {
		if p := w.phase.Load(); p != nil {
			p.report(i, jti)
		}
	}
}

// Start begins a phase over the nodes whose checks are given (check i is
// node i's, the node of Hook(i)), for the writes of sources, timed from
// base. It replaces any phase running.
func (w *Watch) Start(base time.Time, checks []func(jti string) (bool, error), sources ...Source) *Phase {
	p := &Phase{base: base, checks: checks, sources: sources, done: make(chan struct{})}
	p.acked = make([][]atomic.Int64, len(sources))
	total := 0
	for s, src := range sources {
		p.acked[s] = make([]atomic.Int64, src.Count)
		total += src.Count
	}
	p.seen = make([][][]atomic.Int64, len(checks))
	for i := range checks {
		p.seen[i] = make([][]atomic.Int64, len(sources))
		for s, src := range sources {
			p.seen[i][s] = make([]atomic.Int64, src.Count)
		}
	}
	p.left.Store(int64(total * len(checks)))
	if total*len(checks) == 0 {
		close(p.done)
	}
	w.phase.Store(p)
	return p
}

// Stop ends the phase running: later reports are ignored.
func (w *Watch) Stop() { w.phase.Store(nil) }

// Acked records that write k of source s was acknowledged now.
func (p *Phase) Acked(s, k int) {
	p.acked[s][k].Store(int64(time.Since(p.base)) + 1)
}

// report is node i's report that jti is in force: confirmed with its
// check, the first confirmed report of each write on each node is kept.
// Ids of no source of the phase are ignored.
func (p *Phase) report(i int, jti string) {
	s, k := p.write(jti)
	if s < 0 {
		return
	}
	at := int64(time.Since(p.base)) + 1
	if ok, err := p.checks[i](jti); err != nil || !ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.refuted++; p.err == nil {
			p.err = fmt.Errorf("node %d reported %s in force, and its check answered %v, %v", i, jti, ok, err)
		}
		return
	}
	if p.seen[i][s][k].CompareAndSwap(0, at) && p.left.Add(-1) == 0 {
		close(p.done)
	}
}

// write returns the source and number of jti, or -1 for an id of no
// source of the phase.
func (p *Phase) write(jti string) (s, k int) {
	for s, src := range p.sources {
		if !strings.HasPrefix(jti, src.Prefix) {
			continue
		}
		k, err := strconv.Atoi(jti[len(src.Prefix):])
		if err != nil || k < 0 || k >= src.Count {
			return -1, 0
		}
		return s, k
	}
	return -1, 0
}

// Wait returns once every node has confirmed every write, or when ctx
// ends (what is not confirmed then is missing); the error is that of a
// report its check refuted.
func (p *Phase) Wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("%d reports refuted by the check: %w", p.refuted, p.err)
	}
	return nil
}

// ErrNotAcked is returned by Latencies for a write confirmed on a node
// although it was never acknowledged.
var ErrNotAcked = errors.New("observe: a write was seen but never acknowledged")

// Latencies returns, for node i and source s, the time from each write's
// acknowledgement to its confirmation on the node, for the writes the
// node confirmed (the others are missing). A write confirmed before its
// writer had recorded the acknowledgement (the event can arrive while the
// write's call is still returning) counts as 0.
func (p *Phase) Latencies(i, s int) ([]time.Duration, error) {
	var lat []time.Duration
	for k := range p.seen[i][s] {
		seen := p.seen[i][s][k].Load()
		if seen == 0 {
			continue
		}
		acked := p.acked[s][k].Load()
		if acked == 0 {
			return lat, fmt.Errorf("write %d of %s on node %d: %w", k, p.sources[s].Prefix, i, ErrNotAcked)
		}
		lat = append(lat, time.Duration(max(seen-acked, 0)))
	}
	return lat, nil
}
