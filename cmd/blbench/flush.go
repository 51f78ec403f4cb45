package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

func (b *bench) runFlush(ctx context.Context, s *section) error {
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
		return err
	}
	b.logf("flush: filling a store with %d expired and %d live blacklisted entries", n, nLive)
	if err := fillStore(ctx, golden, append(append([]string(nil), expired...), live...), func(k string) int64 {
		if liveSet[k] {
			return liveAt
		}
		return expiredAt
	}); err != nil {
		return err
	}
	lookups := 1 << 20
	if n < 250_000 {
		lookups = 1 << 16
	}
	w := newMixWorkload(cfg.seed+5, [][]string{expired, live, unknown}, []float64{0.01, 0.01, 0.98}, lookups, cfg.zipfS, cfg.zipfV)
	mask := len(w.keys) - 1

	var took, removedRate, p50b, p99b, p50d, p99d, maxd, ratePar series
	for round := range cfg.rounds {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		dir, err := b.dir(fmt.Sprintf("flush-%d", round+1))
		if err != nil {
			return err
		}
		if err := copyStore(golden, dir); err != nil {
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
		type flushOut struct {
			took    time.Duration
			removed int
			err     error
		}
		done := make(chan flushOut, 1)
		go func() {
			defer flushed()
			t0 := time.Now()
			res, err := nd.Flush()
			done <- flushOut{time.Since(t0), res.Outstanding + res.Blacklisted, err}
		}()
		during := closedLoop(fctx, 1, 10*time.Minute, 0, true, check)
		fo := <-done
		st, serr := nd.Status()
		nd.Close()
		os.RemoveAll(dir)
		switch {
		case fo.err != nil:
			return fmt.Errorf("flush: %w", fo.err)
		case before.errs > 0 || during.errs > 0:
			return fmt.Errorf("checks failed: %v %v", before.firstErr, during.firstErr)
		case serr != nil:
			return serr
		case st.Blacklisted != uint64(nLive):
			return fmt.Errorf("after the flush the node holds %d blacklisted entries, want the %d live ones", st.Blacklisted, nLive)
		}
		took = append(took, fo.took.Seconds())
		removedRate = append(removedRate, float64(n)/fo.took.Seconds())
		p50b = append(p50b, before.lat.quantile(0.5))
		p99b = append(p99b, before.lat.quantile(0.99))
		p50d = append(p50d, during.lat.quantile(0.5))
		p99d = append(p99d, during.lat.quantile(0.99))
		maxd = append(maxd, during.lat.quantile(1))
		ratePar = append(ratePar, during.rate())
		b.logf("flush round %d: %d tokens (%d entries) in %v; check p99 before %s, during %s (max %s, %s checks/s)", round+1, n, fo.removed,
			fo.took.Round(time.Millisecond), fmtNs(before.lat.quantile(0.99)), fmtNs(during.lat.quantile(0.99)), fmtNs(during.lat.quantile(1)), fmtRate(during.rate()))
	}
	s.para("Each round copies a pre-built store holding %d expired blacklisted tokens (exp two hours ago; each is an outstanding and a blacklisted entry, "+
		"as Simple JWT keeps them) and %d live ones, opens it as an in-process node (no NATS), warms the cache with two passes over the check workload, "+
		"then runs checks (`n.Check`, one goroutine, closed loop, every call timed) for %v before the flush and for as long as `n.Flush()` runs. "+
		"Check workload: %d lookups, seed %d, 1%% expired ids, 1%% live ids, 98%% unknown ids, Zipf(s = %g, v = %g) within each set. "+
		"The flush walks the expiry index in transactions of %d entries, fsynced, invalidating the cache entries it removes.",
		n, nLive, cfg.duration, len(w.keys), cfg.seed+5, cfg.zipfS, cfg.zipfV, 5000)
	t := s.table(fmt.Sprintf("Flush of %d expired tokens with checks running, min / **median** / max over %d rounds", n, cfg.rounds), "figure", "value")
	t.row("flush duration", took.summary().format(fmtSec))
	t.row("tokens removed per second", removedRate.summary().format(fmtRate))
	t.row("check p50 before", p50b.summary().format(fmtNs))
	t.row("check p99 before", p99b.summary().format(fmtNs))
	t.row("check p50 during", p50d.summary().format(fmtNs))
	t.row("check p99 during", p99d.summary().format(fmtNs))
	t.row("check max during", maxd.summary().format(fmtNs))
	t.row("checks/s during (1 goroutine)", ratePar.summary().format(fmtRate))
	s.table("Ratio, round by round", "comparison", "ratio").row("check p99 during ÷ before", ratios(p99d, p99b).summary().format(fmtRatio))
	ts := took.summary()
	scaled := ""
	if n != 1_000_000 {
		scaled = fmt.Sprintf("measured at %d entries", n)
	}
	b.target(fmt.Sprintf("flush of %d expired entries", n), "≤ 10 s at 1M", ts.format(fmtSec), ts.Median <= 10*float64(n)/1e6, scaled)
	pd := p99d.summary()
	b.target("check p99 during the flush", "< 1 ms", pd.format(fmtNs)+" (before: "+fmtNs(p99b.summary().Median)+")", pd.Median < 1e6, "")
	b.raw["flush"] = map[string]any{"expired": n, "live": nLive, "flush_s": took, "p99_before_ns": p99b, "p99_during_ns": p99d, "max_during_ns": maxd}
	return nil
}
