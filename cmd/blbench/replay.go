package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/blnode/blnode/internal/streamfill"
)

func (b *bench) runReplay(ctx context.Context, s *section) error {
	cfg := b.cfg
	n := cfg.sizes.replay
	root, err := b.dir("replay")
	if err != nil {
		return err
	}
	ns, err := startNATSServer(root + "/nats")
	if err != nil {
		return err
	}
	defer ns.shutdown()
	url := ns.urls()[0]
	b.logf("replay: publishing %d events", n)
	t0 := time.Now()
	streamBytes, err := streamfill.Fill(ctx, url, n, streamfill.Config{Origin: "blbench-publisher", Reason: "bench",
		JTI: func(i int) string { return jtiOf(cfg.seed+3, i) }, User: func(_ int, jti string) string { return userOf(jti) }})
	if err != nil {
		return err
	}
	fillTook := time.Since(t0)
	hc := newHTTPClient(2)
	// /v1/status reads the replay's unmerged journal beside the record
	// trees to count: after a large replay that takes seconds, more on a
	// busy machine, so it gets a longer timeout than the default.
	hc.Timeout = 2 * time.Minute
	defer hc.CloseIdleConnections()
	var ready, rate, listening, settled series
	var storeBytes int64
	rounds := cfg.rounds
	if n >= 500_000 {
		rounds = min(rounds, 3) // each round replays the whole stream
	}
	for round := range rounds {
		dir := fmt.Sprintf("%s/validator-%d", root, round+1)
		start := time.Now()
		p, err := b.startBlnode(ctx, fmt.Sprintf("blnode validator (replay %d)", round+1), dir, "--role", "validator", "--nats", url)
		if err != nil {
			return err
		}
		up := time.Since(start)
		if err := waitHTTP(ctx, p.url+"/readyz", 10*time.Minute, p.Done()); err != nil {
			p.Stop()
			return p.Failed(err.Error())
		}
		took := time.Since(start)
		var st statusOf
		statusStart := time.Now()
		code, err := getJSON(ctx, hc, p.url+"/v1/status", &st)
		statusTook := time.Since(statusStart)
		p.Stop()
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("GET /v1/status: %d %v", code, err)
		}
		if st.Blacklisted != uint64(n) {
			return fmt.Errorf("ready after %v holding %d of %d entries", took, st.Blacklisted, n)
		}
		storeBytes = st.StoreBytes
		ready = append(ready, took.Seconds())
		listening = append(listening, up.Seconds())
		settled = append(settled, statusTook.Seconds())
		rate = append(rate, float64(n)/took.Seconds())
		b.logf("replay round %d: ready in %v (%s events/s; listening after %v)", round+1, took.Round(time.Millisecond),
			fmtRate(float64(n)/took.Seconds()), up.Round(time.Millisecond))
		b.logf("replay round %d: /v1/status answered %v after ready", round+1, statusTook.Round(time.Millisecond))
		hc.CloseIdleConnections()
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	s.para("One nats-server (in-process, JetStream file storage, loopback) holds a stream of %d blacklist events in blnode's wire form "+
		"(random 32-hex jtis, seed %d; %.1f MB; published in %v). Each round starts a fresh `blnode serve --role validator` process on an empty data dir "+
		"and times it from `exec` to the first `GET /readyz` 200 (polled every 5 ms), then checks through `/v1/status` that it holds all %d entries "+
		"(status counts the record trees and what the replay's unmerged journal adds to them, a read that grows with the journal; checks do not wait for it). "+
		"events/s = events ÷ time to ready (process start included).", n, cfg.seed+3, float64(streamBytes)/1e6, fillTook.Round(time.Millisecond), n)
	t := s.table(fmt.Sprintf("Replay of %d events, min / **median** / max over %d rounds", n, rounds),
		"figure", "value")
	t.row("time to `/readyz` 200", ready.summary().format(fmtSec))
	t.row("events/s", rate.summary().format(fmtRate))
	t.row("time to listening (process start, store open, NATS connect)", listening.summary().format(fmtSec))
	t.row("`GET /v1/status` right after ready (reads the replay's journal beside the trees, then counts)", settled.summary().format(fmtSec))
	t.row("store size after replay (its journal not merged yet)", fmtBytes(float64(storeBytes)))
	rs := rate.summary()
	b.target("replay rate", "≥ 200,000 events/s", fmtRate(rs.Median)+" (median of rounds)", rs.Median >= 200_000, "")
	scaled := ""
	if n != 1_000_000 {
		scaled = fmt.Sprintf("measured at %d events; the 1M figure needs the default sizes", n)
	}
	b.target(fmt.Sprintf("validator with %d events ready", n), "≤ 10 s at 1M", ready.summary().format(fmtSec), ready.summary().Median <= 10*float64(n)/1e6, scaled)
	b.raw["replay"] = map[string]any{"events": n, "ready_s": ready, "events_per_s": rate, "listening_s": listening, "status_after_ready_s": settled}
	return nil
}
