package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// runFlush measures a flush of expired entries with checks running: each
// round flushes a copy of one pre-built store (flushRound), and the report
// compares the checks before the flush and during it.
func (b *bench) runFlush(ctx context.Context, s *section) error {
	fs, err := b.setUpFlush(ctx)
	if err != nil {
		return err
	}
	var fig flushFigures
	for round := range b.cfg.rounds {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := b.flushRound(ctx, fs, round, &fig); err != nil {
			return err
		}
	}
	b.reportFlush(s, fs, &fig)
	return nil
}

// flushSetUp is what every round of the flush scenario starts from.
type flushSetUp struct {
	n, nLive int      // expired and live entries
	golden   string   // the pre-built store each round copies
	expired  []string // the expired entries' ids
	anchor   string   // the anchor's pre-built bare bbolt file's dir
	w        workload // the check workload
	mask     int      // len(w.keys) - 1
}

// flushFigures are the flush scenario's figures, one per round.
type flushFigures struct {
	took, removedRate, p50b, p99b, p50d, p99d, maxd, ratePar series
	anchor                                                   series // the bare bbolt delete of the same keys, s
}

// flushOut is what a round's flush returned.
type flushOut struct {
	took    time.Duration
	removed int
	err     error
}

// setUpFlush is the flush scenario's set-up: it builds the store every
// round copies (expired and live blacklisted entries) and the check
// workload.
func (b *bench) setUpFlush(ctx context.Context) (*flushSetUp, error) {
	cfg := b.cfg
	n := cfg.sizes.flush
	nLive := max(n/10, 100)
	expired := jtis(cfg.seed+4, 0, n)
	live := jtis(cfg.seed+4, n, nLive)
	unknown := jtis(cfg.seed+4, n+nLive, n)
	liveSet := make(map[string]bool, nLive)
	for _, k := range live {
		liveSet[k] = true
	}
	now := time.Now()
	expiredAt, liveAt := now.Add(-2*time.Hour).Unix(), now.Add(24*time.Hour).Unix()
	golden, err := b.dir("flush-golden")
	if err != nil {
		return nil, err
	}
	b.logf("flush: filling a store with %d expired and %d live blacklisted entries", n, nLive)
	if err := fillStore(ctx, golden, append(append([]string(nil), expired...), live...), func(k string) int64 {
		if liveSet[k] {
			return liveAt
		}
		return expiredAt
	}); err != nil {
		return nil, err
	}
	anchor, err := b.dir("flush-anchor-golden")
	if err != nil {
		return nil, err
	}
	if err := fillAnchor(ctx, anchor, append(append([]string(nil), expired...), live...), func(k string) int64 {
		if liveSet[k] {
			return liveAt
		}
		return expiredAt
	}); err != nil {
		return nil, err
	}
	lookups := 1 << 20
	if n < 250_000 {
		lookups = 1 << 16
	}
	w := newMixWorkload(cfg.seed+5, [][]string{expired, live, unknown}, []float64{0.01, 0.01, 0.98}, lookups, cfg.zipfS, cfg.zipfV)
	return &flushSetUp{n: n, nLive: nLive, golden: golden, expired: expired, anchor: anchor, w: w, mask: len(w.keys) - 1}, nil
}

// flushRound is one round of the flush scenario: it opens a copy of the
// store as an in-process node, warms its cache, times checks before the
// flush and while it runs, checks that only the live entries are left, and
// adds the round's figures to fig.
func (b *bench) flushRound(ctx context.Context, fs *flushSetUp, round int, fig *flushFigures) error {
	cfg := b.cfg
	n, w, mask := fs.n, fs.w, fs.mask
	dir, err := b.dir(fmt.Sprintf("flush-%d", round+1))
	if err != nil {
		return err
	}
	if err := copyStore(fs.golden, dir); err != nil {
		return err
	}
	nd, err := inprocNode(dir)
	if err != nil {
		return err
	}
	for range 2 {
		for _, k := range w.keys {
			if _, err := nd.Check(k); err != nil {
				nd.Close()
				return err
			}
		}
	}
	check := func(_, i int) error { _, err := nd.Check(w.keys[(round*7919+i)&mask]); return err }
	before := closedLoop(ctx, 1, cfg.duration, 0, true, check)
	fctx, flushed := context.WithCancel(ctx)
	done := make(chan flushOut, 1)
	go func() {
		defer flushed()
		t0 := time.Now()
		res, err := nd.Flush(ctx)
		done <- flushOut{time.Since(t0), res.Outstanding + res.Blacklisted, err}
	}()
	during := closedLoop(fctx, 1, 10*time.Minute, 0, true, check)
	fo := <-done
	st, serr := nd.Status(ctx)
	nd.Close()
	os.RemoveAll(dir)
	switch {
	case fo.err != nil:
		return fmt.Errorf("flush: %w", fo.err)
	case before.errs > 0 || during.errs > 0:
		return fmt.Errorf("checks failed: %v %v", before.firstErr, during.firstErr)
	case serr != nil:
		return serr
	case st.Blacklisted != uint64(fs.nLive):
		return fmt.Errorf("after the flush the node holds %d blacklisted entries, want the %d live ones", st.Blacklisted, fs.nLive)
	}
	adir, err := b.dir(fmt.Sprintf("flush-anchor-%d", round+1))
	if err != nil {
		return err
	}
	atook, err := flushAnchor(ctx, fs.anchor, adir, fs.expired, fs.nLive)
	os.RemoveAll(adir)
	if err != nil {
		return err
	}
	fig.anchor = append(fig.anchor, atook.Seconds())
	fig.took = append(fig.took, fo.took.Seconds())
	fig.removedRate = append(fig.removedRate, float64(n)/fo.took.Seconds())
	fig.p50b = append(fig.p50b, before.lat.quantile(0.5))
	fig.p99b = append(fig.p99b, before.lat.quantile(0.99))
	fig.p50d = append(fig.p50d, during.lat.quantile(0.5))
	fig.p99d = append(fig.p99d, during.lat.quantile(0.99))
	fig.maxd = append(fig.maxd, during.lat.quantile(1))
	fig.ratePar = append(fig.ratePar, during.rate())
	b.logf("flush round %d: bare bbolt delete of the same %d keys in %v", round+1, n, atook.Round(time.Millisecond))
	b.logf("flush round %d: %d tokens (%d entries) in %v; check p99 before %s, during %s (max %s, %s checks/s)", round+1, n, fo.removed,
		fo.took.Round(time.Millisecond), fmtNs(before.lat.quantile(0.99)), fmtNs(during.lat.quantile(0.99)), fmtNs(during.lat.quantile(1)), fmtRate(during.rate()))
	return nil
}

// flushAnchorGoal is how many times the bare bbolt delete of the same keys
// the node's flush may take (median of pairs). The node deletes four
// entries or more per token where the anchor deletes one (the outstanding
// and blacklisted records, the expiry and by-user index entries), and
// invalidates the cache with checks running. Measured on the shared
// 2-core machine at 1M: pairs 10.3×, 11.2×, 8.4× (load ~9) and 9.7×,
// 10.5×, 8.4×, 6.6×, 8.5× (load 3–5), medians 10.3× and 8.5×; so 15×
// leaves a third of the higher median as margin.
const flushAnchorGoal = 15.0

// reportFlush writes the flush scenario's section and judges its targets.
func (b *bench) reportFlush(s *section, fs *flushSetUp, fig *flushFigures) {
	cfg := b.cfg
	n, nLive := fs.n, fs.nLive
	s.para("Each round copies a pre-built store holding %d expired blacklisted tokens (exp two hours ago; each is an outstanding and a blacklisted entry, "+
		"as Simple JWT keeps them) and %d live ones, opens it as an in-process node (no NATS), warms the cache with two passes over the check workload, "+
		"then runs checks (`n.Check`, one goroutine, closed loop, every call timed) for %v before the flush and for as long as `n.Flush(ctx)` runs. "+
		"Check workload: %d lookups, seed %d, 1%% expired ids, 1%% live ids, 98%% unknown ids, Zipf(s = %g, v = %g) within each set. "+
		"The flush walks the expiry index in transactions of %d entries, fsynced, invalidating the cache entries it removes.",
		n, nLive, cfg.duration, len(fs.w.keys), cfg.seed+5, cfg.zipfS, cfg.zipfV, 5000)
	t := s.table(fmt.Sprintf("Flush of %d expired tokens with checks running, min / **median** / max over %d rounds", n, cfg.rounds), "figure", "value")
	t.row("flush duration", fig.took.summary().format(fmtSec))
	t.row("tokens removed per second", fig.removedRate.summary().format(fmtRate))
	t.row("check p50 before", fig.p50b.summary().format(fmtNs))
	t.row("check p99 before", fig.p99b.summary().format(fmtNs))
	t.row("check p50 during", fig.p50d.summary().format(fmtNs))
	t.row("check p99 during", fig.p99d.summary().format(fmtNs))
	t.row("check max during", fig.maxd.summary().format(fmtNs))
	t.row("checks/s during (1 goroutine)", fig.ratePar.summary().format(fmtRate))
	t.row("anchor: bare bbolt delete of the same keys", fig.anchor.summary().format(fmtSec))
	s.para("The anchor: the same %d expired and %d live ids as keys of one bucket of a bare bbolt file (a %d-byte value each), copied afresh each round "+
		"and timed deleting the expired keys in key order, in fsynced transactions of %d, in this process, right after the node's flush of the round. "+
		"The node's flush does more for each token: its outstanding and blacklisted entries, the expiry and by-user indexes, the cache, with checks running; "+
		"the ratio says what that costs over the bare delete.", n, nLive, len(anchorValue(0)), 5000)
	tr := ratios(fig.took, fig.anchor)
	rt := s.table("Ratio, round by round", "comparison", "ratio")
	rt.row("check p99 during ÷ before", ratios(fig.p99d, fig.p99b).summary().format(fmtRatio))
	rt.row("flush duration ÷ the bare bbolt delete", tr.summary().format(fmtRatio))
	ts := fig.took.summary()
	note := fmt.Sprintf("flush %s vs the anchor's %s (median of rounds)", fmtSec(ts.Median), fmtSec(fig.anchor.summary().Median))
	if n != 1_000_000 {
		note += fmt.Sprintf("; measured at %d entries", n)
	}
	b.judge(target{what: fmt.Sprintf("flush of %d expired entries vs a bare bbolt delete of the same keys", n), basis: ratioVs("a bare bbolt bulk delete"),
		goal: fmt.Sprintf("≤ %.0f×", flushAnchorGoal), figure: fmtRatio(tr.summary().Median) + " (median of pairs)", note: note,
		over: tr, per: "pair", limit: flushAnchorGoal, atMost: true})
	pd := fig.p99d.summary()
	// A check that waited for a flush transaction would take the
	// transaction's fsync, milliseconds: a p99 under half the goal cannot
	// be one, however the machine drifts between runs.
	b.judge(target{what: "check p99 during the flush", basis: absolute("50%: < 500 µs"), goal: "< 1 ms",
		figure: pd.format(fmtNs) + " (before: " + fmtNs(fig.p99b.summary().Median) + ")", over: fig.p99d, per: "round", limit: 0.5e6, atMost: true})
	b.raw["flush"] = map[string]any{"expired": n, "live": nLive, "flush_s": fig.took, "p99_before_ns": fig.p99b, "p99_during_ns": fig.p99d, "max_during_ns": fig.maxd}
}
