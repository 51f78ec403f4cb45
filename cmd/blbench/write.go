package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/blnode/blnode/internal/original"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
)

// simpleJWTWriter names the original as a write contender.
const simpleJWTWriter = "Simple JWT `POST /api/token/blacklist/` (the original, SQLite)"

// writer is one contender of the write scenario.
type writer struct {
	name    string
	write   func(ctx context.Context, w, i int) error
	rate    map[int]series // by concurrent clients
	p50     map[int]series
	p99     map[int]series
	durable bool
	scraped bool // the full node's: /metrics is scraped while it is measured
}

// runWrite measures durable writes: blnode's endpoints, the same node
// without NATS, the original and Redis, in rounds, then checks that the
// node stored everything it acknowledged and reports.
func (b *bench) runWrite(ctx context.Context, s *section) error {
	wr, err := b.setUpWrite(ctx)
	if err != nil {
		return err
	}
	defer wr.stop.run()
	if err := b.measureWrites(ctx, wr); err != nil {
		return err
	}
	st, drained, err := wr.checkStored(ctx)
	if err != nil {
		return err
	}
	if err := b.reportWrite(s, wr, st, drained); err != nil {
		return err
	}
	b.writeTargets(wr)
	return nil
}

// writeRun is what the write scenario runs against.
type writeRun struct {
	proc *blnodeProc  // the full node, whose store and outbox checkStored reads
	hc   *http.Client // for GET /v1/status and the /metrics scrapes
	// the load generator: one rawClient for each server, maxClients
	// connections each
	maxClients int
	writers    []*writer    // the full node's two endpoints first
	sj         *writer      // the original, when installed
	always     *writer      // Redis with appendfsync always, when installed: the durable-write anchor
	floor      *writer      // the net/http write floor, when built
	acked      atomic.Int64 // the full node's writes answered 200
	next       atomic.Int64 // the last write's number, over every writer
	scrapes    scrapes      // GET /metrics of the full node while it is measured
	stop       cleanups
}

// setUpWrite is the write scenario's set-up: it starts the full node, the
// node without NATS, the original and Redis (what is installed) and makes
// a writer of each. On error it stops what it started.
func (b *bench) setUpWrite(ctx context.Context) (_ *writeRun, err error) {
	cfg := b.cfg
	wr := &writeRun{}
	defer func() {
		if err != nil {
			wr.stop.run()
		}
	}()
	dir, err := b.dir("write")
	if err != nil {
		return nil, err
	}
	// A full node as "blnode serve" runs by default: the embedded NATS
	// server, the outbox publisher and the node's own subscriber.
	proc, err := b.startBlnode(ctx, "blnode (write)", dir)
	if err != nil {
		return nil, err
	}
	wr.proc = proc
	wr.stop.add(func() { _ = proc.Stop() })
	if err := waitHTTP(ctx, proc.url+"/readyz", startTimeout, proc.Done()); err != nil {
		return nil, proc.Failed(err.Error())
	}
	maxClients := 1
	for _, c := range cfg.sizes.write {
		maxClients = max(maxClients, c)
	}
	wr.maxClients = maxClients
	wr.hc = newHTTPClient(4)
	wr.stop.add(wr.hc.CloseIdleConnections)
	exp := time.Now().Add(time.Hour)
	expText := strconv.FormatInt(exp.Unix(), 10)
	next, acked := &wr.next, &wr.acked
	full, err := wr.rawClient(proc.url, maxClients)
	if err != nil {
		return nil, err
	}
	wr.writers = []*writer{
		{name: "blnode `POST /v1/blacklist` (admin, jti)", durable: true, scraped: true, write: func(ctx context.Context, w, _ int) error {
			jti := jtiOf(cfg.seed+7, int(next.Add(1)))
			code, err := full.post(ctx, w, "/v1/blacklist", `{"jti":"`+jti+`","exp":`+expText+`,"user":"`+userOf(jti)+`","token_type":"refresh","reason":"bench"}`, benchAdmin)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("POST /v1/blacklist: %d", code)
			}
			if err == nil {
				acked.Add(1)
			}
			return err
		}},
		{name: "blnode `POST /api/token/blacklist/` (refresh token)", durable: true, scraped: true, write: func(ctx context.Context, w, i int) error {
			tok, _ := sjwt.Token{Type: "refresh", User: i, TTL: time.Hour}.Mint([]byte(benchSecret))
			code, err := full.post(ctx, w, "/api/token/blacklist/", `{"refresh":"`+tok+`"}`, "")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("POST /api/token/blacklist/: %d", code)
			}
			if err == nil {
				acked.Add(1)
			}
			return err
		}},
	}
	// The same node without NATS: no outbox drain, no self-apply. The gap
	// to the first contender is what the fleet machinery costs a write.
	soloDir, err := b.dir("write-solo")
	if err != nil {
		return nil, err
	}
	solo, err := b.startBlnode(ctx, "blnode (write, --no-nats)", soloDir, "--no-nats")
	if err != nil {
		return nil, err
	}
	wr.stop.add(func() { _ = solo.Stop() })
	soloRaw, err := wr.rawClient(solo.url, maxClients)
	if err != nil {
		return nil, err
	}
	wr.writers = append(wr.writers, &writer{name: "blnode `POST /v1/blacklist` (admin, jti), `--no-nats`", durable: true, write: func(ctx context.Context, w, _ int) error {
		jti := jtiOf(cfg.seed+9, int(next.Add(1)))
		code, err := soloRaw.post(ctx, w, "/v1/blacklist", `{"jti":"`+jti+`","exp":`+expText+`,"user":"`+userOf(jti)+`","token_type":"refresh","reason":"bench"}`, benchAdmin)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("POST /v1/blacklist (--no-nats): %d", code)
		}
		return err
	}})
	if err := b.addFloorWriter(ctx, wr, expText); err != nil {
		return nil, err
	}
	if err := b.addOriginalWriter(ctx, wr); err != nil {
		return nil, err
	}
	if err := b.addRedisWriters(ctx, wr, maxClients, exp); err != nil {
		return nil, err
	}
	for _, w := range wr.writers {
		switch w.name {
		case simpleJWTWriter:
			wr.sj = w
		case redisAlwaysWriter:
			wr.always = w
		}
	}
	return wr, nil
}

// rawClient is the load generator's client to the server at base, closed
// with the run.
func (wr *writeRun) rawClient(base string, workers int) (*rawClient, error) {
	rc, err := newRawClient(base, workers)
	if err != nil {
		return nil, err
	}
	wr.stop.add(rc.close)
	return rc, nil
}

// redisAlwaysWriter names Redis with appendfsync always, the anchor of
// the durable-write target.
const redisAlwaysWriter = "Redis `SET jti 1 EXAT exp`, appendfsync always"

// addFloorWriter starts the net/http floor, when it was built, and adds
// its writer to wr: the same /v1/blacklist bodies, each acknowledged once
// appended to a file and fsynced (one fsync per batch of waiting writes).
func (b *bench) addFloorWriter(ctx context.Context, wr *writeRun, expText string) error {
	if !b.needsFloor("write: the net/http floor (blfloor)") {
		return nil
	}
	dir, err := b.dir("write-floor")
	if err != nil {
		return err
	}
	fp, err := b.startFloor(ctx, "blfloor (write)", dir)
	if err != nil {
		return err
	}
	wr.stop.add(func() { _ = fp.Stop() })
	raw, err := wr.rawClient(fp.url, wr.maxClients)
	if err != nil {
		return err
	}
	next, seed := &wr.next, b.cfg.seed+10
	wr.floor = &writer{name: "net/http floor (blfloor: decode, append to a file, fsync per batch)", durable: true,
		write: func(ctx context.Context, w, _ int) error {
			jti := jtiOf(seed, int(next.Add(1)))
			code, err := raw.post(ctx, w, "/v1/blacklist", `{"jti":"`+jti+`","exp":`+expText+`,"user":"`+userOf(jti)+`","token_type":"refresh","reason":"bench"}`, benchAdmin)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("blfloor POST /v1/blacklist: %d", code)
			}
			return err
		}}
	wr.writers = append(wr.writers, wr.floor)
	return nil
}

// addOriginalWriter starts the original, when installed, and adds its
// writer to wr: the same minted refresh tokens to its blacklist endpoint.
func (b *bench) addOriginalWriter(ctx context.Context, wr *writeRun) error {
	if b.needsSimpleJWT("write: the original, Simple JWT `POST /api/token/blacklist/`") {
		sp, err := b.startSimpleJWT(ctx, "Simple JWT (write)", "write-simplejwt")
		if err != nil {
			return err
		}
		wr.stop.add(func() { _ = sp.Stop() })
		raw, err := wr.rawClient(sp.url, wr.maxClients)
		if err != nil {
			return err
		}
		wr.writers = append(wr.writers, &writer{name: simpleJWTWriter, durable: true, write: func(ctx context.Context, w, i int) error {
			tok, _ := sjwt.Token{Type: "refresh", User: i, TTL: time.Hour}.Mint([]byte(benchSecret))
			code, err := raw.post(ctx, w, "/api/token/blacklist/", `{"refresh":"`+tok+`"}`, "")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("Simple JWT POST /api/token/blacklist/: %d", code)
			}
			return err
		}})
	}
	return nil
}

// addRedisWriters starts Redis, when installed, with appendfsync always
// and everysec, and adds a writer of each to wr: SET jti 1 EXAT exp over a
// pool of maxClients connections.
func (b *bench) addRedisWriters(ctx context.Context, wr *writeRun, maxClients int, exp time.Time) error {
	cfg, next := b.cfg, &wr.next
	if b.needsRedis("write: Redis appendfsync always and everysec") {
		for _, mode := range []string{"always", "everysec"} {
			rdir, err := b.dir("write-redis-" + mode)
			if err != nil {
				return err
			}
			r, err := b.startRedis(ctx, "redis-server (write, appendfsync "+mode+")", rdir, "--appendonly", "yes", "--appendfsync", mode)
			if err != nil {
				return err
			}
			wr.stop.add(func() { _ = r.Stop() })
			c := r.client(maxClients)
			wr.stop.add(func() { c.Close() })
			name := redisAlwaysWriter
			if mode == "everysec" {
				name = "Redis `SET jti 1 EXAT exp`, appendfsync everysec (default; not durable)"
			}
			wr.writers = append(wr.writers, &writer{name: name, durable: mode == "always", write: func(ctx context.Context, _, _ int) error {
				return c.SetArgs(ctx, jtiOf(cfg.seed+8, int(next.Add(1))), 1, redis.SetArgs{ExpireAt: exp}).Err()
			}})
		}
	}
	return nil
}

// measureWrites is the write scenario's measurement: each writer writes
// once (it must succeed), then every writer runs a closed loop at each
// client count, in every round; contenders alternate within a round. While
// the full node's writers run, its /metrics is scraped (wr.scrapes).
func (b *bench) measureWrites(ctx context.Context, wr *writeRun) error {
	cfg, writers := b.cfg, wr.writers
	wr.scrapes.url = wr.proc.url + "/metrics"
	for _, w := range writers {
		w.rate, w.p50, w.p99 = map[int]series{}, map[int]series{}, map[int]series{}
		if err := w.write(ctx, 0, 0); err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
	}
	for round := range cfg.rounds {
		for _, clients := range cfg.sizes.write {
			for _, w := range writers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				var stopScrape func() error
				if w.scraped {
					stopScrape = wr.scrapes.start(ctx, wr.hc)
				}
				r := closedLoop(ctx, clients, cfg.duration, 0, true, func(wk, i int) error { return w.write(ctx, wk, i) })
				if stopScrape != nil {
					if err := stopScrape(); err != nil {
						return fmt.Errorf("%s at %d clients: %w", w.name, clients, err)
					}
				}
				if r.errs > 0 {
					return fmt.Errorf("%s at %d clients: %d of %d failed: %w", w.name, clients, r.errs, r.ops, r.firstErr)
				}
				w.rate[clients] = append(w.rate[clients], r.rate())
				w.p50[clients] = append(w.p50[clients], r.lat.quantile(0.5))
				w.p99[clients] = append(w.p99[clients], r.lat.quantile(0.99))
				b.logf("write round %d clients %2d %-60s %s p50 %s p99 %s", round+1, clients, w.name, fmtRate(r.rate()),
					fmtNs(r.lat.quantile(0.5)), fmtNs(r.lat.quantile(0.99)))
			}
		}
	}
	return nil
}

// checkStored waits for the full node's outbox to drain and checks that it
// holds every write it acknowledged. It returns the node's last status and
// how long the drain took after the last write.
func (wr *writeRun) checkStored(ctx context.Context) (statusOf, time.Duration, error) {
	drainStart := time.Now()
	var st statusOf
	err := poll.Until(ctx, 2*time.Minute, 20*time.Millisecond, func() error {
		code, err := getJSON(ctx, wr.hc, wr.proc.url+"/v1/status", &st)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("GET /v1/status: %d %v", code, err)
		}
		if st.OutboxDepth != 0 {
			return fmt.Errorf("outbox depth %d", st.OutboxDepth)
		}
		return nil
	})
	if err != nil {
		return st, 0, fmt.Errorf("blnode outbox: %w", err)
	}
	drained := time.Since(drainStart)
	if st.Blacklisted < uint64(wr.acked.Load()) {
		return st, 0, fmt.Errorf("blnode acknowledged %d blacklists but holds %d", wr.acked.Load(), st.Blacklisted)
	}
	return st, drained, nil
}

// reportWrite writes the write scenario's section: how it was measured,
// the writers' figures, the throughput ratios and the chart.
func (b *bench) reportWrite(s *section, wr *writeRun, st statusOf, drained time.Duration) error {
	cfg := b.cfg
	writers, sj := wr.writers, wr.sj
	s.para("Each write blacklists a new token id and is acknowledged only once it is on disk (fsync), except Redis `everysec`, "+
		"Redis's default, which answers before the fsync and is shown for reference. Closed loop over keep-alive connections, "+
		"%v per contender per client count per round; contenders alternate within each round.", cfg.duration)
	s.para("blnode is a full node as `blnode serve` runs by default: bbolt with group commit, the write (journaled; merged into the record trees in the background " +
		"every 256k writes) and its outbox entry in one fsynced transaction, " +
		"the embedded NATS server with JetStream, the outbox publisher, and the node's own subscriber, which takes the node's own events back " +
		"without writing them again (`blnode_events_own_total`) and applies every other node's. " +
		"`/v1/blacklist` takes the admin token and a jti (the closest to Redis's `SET`); `/api/token/blacklist/` takes an HS256 refresh token, " +
		"minted by the load generator for each request, and verifies it first. Redis runs with `--appendonly yes --appendfsync always|everysec --save ''`; " +
		"go-redis with a pool of as many connections as clients. The HTTP contenders get blbench's own HTTP/1.1 client (`rawhttp.go`), " +
		"built like wrk: a keep-alive connection per client, each request one write, of the answer only what frames it read; " +
		"Go's `net/http` client costs about as much CPU per request as a small server, taken from the server measured on these cores. " +
		"A second node, `blnode serve --no-nats`, takes the same `/v1/blacklist` writes without the fleet machinery, to show what the outbox publisher " +
		"and the self-apply cost a write.")
	s.para("The net/http floor is `cmd/blfloor`, a process of its own: a bare Go `net/http` server that decodes the same `/v1/blacklist` body " +
		"with `encoding/json`, appends it as a line to a file and answers 200 once the line is fsynced, one writer goroutine fsyncing once for every " +
		"line waiting, as Redis `always` fsyncs once per turn of its event loop. No index, no outbox, no audit: the least a durable HTTP write costs here. " +
		"The durable-write target is blnode `/v1/blacklist` ÷ Redis `always`, pair by pair (the same round, the same client count).")
	s.note("what profiles of `blnode serve` under 64 writers found, and what changed (issue 21): the node's own events came back from the stream " +
		"in batches of 1024 ops or more, which the store writes without its \"changes nothing\" check, so every write was journaled a second time and " +
		"its audit entry looked up again; the node now skips its own token events (`node/own.go`, `blnode_events_own_total`), and `/v1/blacklist` " +
		"reads the usual flat body in one pass (fuzzed against `encoding/json`): 1.13×, 1.17×, 1.18× the writes/s before (3 pairs of fresh nodes, " +
		"64 clients). What remains: the node spends about 70 µs of CPU on a write where the floor spends about 31 µs, with the machine about 85%% busy; " +
		"the group commit is busy about 57%% of the time (groups of about 27 writes, 0.7–0.8 ms a commit, two fdatasyncs of it: bbolt syncs the " +
		"pages, then the meta page); one client's write takes about 440 µs where the floor's takes about 125 µs. Encoding the audit entry before " +
		"the commit and trimming the audit log once a transaction measured no gain and was dropped. Reaching Redis's rate would take a log " +
		"acknowledged with one fdatasync, in front of bbolt: a redesign of the store.")
	if sj != nil {
		s.para("The original is Django REST framework Simple JWT's `TokenBlacklistView` (`get_or_create` of the outstanding token, then of the "+
			"blacklisted one), as in the verify scenario: gunicorn with %d sync workers, SQLite in its default rollback-journal mode "+
			"(`synchronous=FULL`: a commit is fsynced before the answer), taking the same kind of minted refresh tokens.", original.RecommendedWorkers(b.env.cores))
	}
	lat := wr.scrapes.lat.summary()
	s.para("While the full node's writes are measured, a goroutine scrapes its `GET /metrics` every %v, as a Prometheus server would "+
		"(more often than one does): %d scrapes, latency median %s, max %s; every one answered 200.",
		scrapeEvery, len(wr.scrapes.lat), fmtNs(lat.Median), fmtNs(lat.Max))
	s.para("After the rounds, the node held %d blacklisted entries (≥ the %d acknowledged) and its outbox drained %v after the last write.",
		st.Blacklisted, wr.acked.Load(), drained.Round(time.Millisecond))
	t := s.table(fmt.Sprintf("Durable writes, min / **median** / max over %d rounds", cfg.rounds), "contender", "clients", "writes/s", "p50", "p99")
	for _, w := range writers {
		for _, c := range cfg.sizes.write {
			t.row(w.name, strconv.Itoa(c), w.rate[c].summary().format(fmtRate), w.p50[c].summary().format(fmtNs), w.p99[c].summary().format(fmtNs))
		}
	}
	// Each blnode endpoint against the others; the Simple JWT compatible
	// endpoint against the original's.
	type pair struct{ a, b *writer }
	var pairs []pair
	for _, other := range writers[1:] {
		if other.name != simpleJWTWriter {
			pairs = append(pairs, pair{writers[0], other})
		}
	}
	if sj != nil {
		pairs = append(pairs, pair{writers[1], sj})
	}
	if wr.floor != nil && wr.always != nil {
		// How far the floor itself is from the durable-write anchor.
		pairs = append(pairs, pair{wr.floor, wr.always})
	}
	rt := s.table("Throughput ratios, round by round, min / **median** / max", "comparison", "clients", "ratio")
	for _, c := range cfg.sizes.write {
		for _, p := range pairs {
			rt.row(p.a.name+" ÷ "+p.b.name, strconv.Itoa(c), ratios(p.a.rate[c], p.b.rate[c]).summary().format(fmtRatio))
		}
	}
	var curves []curve
	for _, w := range writers {
		cv := curve{name: stripTicks(w.name)}
		for _, c := range cfg.sizes.write {
			cv.xs = append(cv.xs, float64(c))
			cv.ys = append(cv.ys, w.rate[c].summary().Median)
		}
		curves = append(curves, cv)
	}
	file := "write_throughput.png"
	if err := b.lineChart(file, "Durable writes: throughput vs concurrent clients (median of rounds)", "concurrent clients (log scale)",
		"writes/s (log scale)", true, true, curves); err != nil {
		return err
	}
	s.charts = append(s.charts, chartRef{file, "write throughput vs clients"})
	return nil
}

// writeTargets judges the write targets at the largest client count and
// keeps the writers' figures for results.json.
func (b *bench) writeTargets(wr *writeRun) {
	cfg := b.cfg
	writers, sj := wr.writers, wr.sj
	top := cfg.sizes.write[len(cfg.sizes.write)-1]
	v1 := writers[0].rate[top].summary()
	compat := writers[1].rate[top].summary()
	what := fmt.Sprintf("durable writes with %d clients vs Redis appendfsync always", top)
	if wr.always != nil {
		r := ratios(writers[0].rate[top], wr.always.rate[top])
		rc := ratios(writers[1].rate[top], wr.always.rate[top])
		note := "judged on `/v1/blacklist`, the full node"
		if wr.floor != nil {
			note += fmt.Sprintf("; the net/http write floor itself: %s Redis always (median of pairs)",
				fmtRatio(ratios(wr.floor.rate[top], wr.always.rate[top]).summary().Median))
		}
		b.judge(target{what: what, basis: ratioVs("Redis appendfsync always"), goal: "≥ 1.0×",
			figure: fmt.Sprintf("%s `/v1/blacklist` (median of pairs; %s vs %s), %s `/api/token/blacklist/`", fmtRatio(r.summary().Median),
				fmtRate(v1.Median), fmtRate(wr.always.rate[top].summary().Median), fmtRatio(rc.summary().Median)),
			note: note, over: r, per: "pair", limit: 1})
	} else {
		b.targetMissing(what, ratioVs("Redis appendfsync always"), "≥ 1.0×",
			fmt.Sprintf("redis-server missing; blnode measured %s (`/v1/blacklist`), %s (`/api/token/blacklist/`)", fmtRate(v1.Median), fmtRate(compat.Median)))
	}
	const vsOriginal = "HTTP blacklist vs the original (design: many times its throughput)"
	if sj != nil {
		r := ratios(writers[1].rate[top], sj.rate[top])
		b.judge(target{what: vsOriginal, basis: ratioVs("Simple JWT"), goal: "≥ 10×",
			figure: fmt.Sprintf("%s at %d clients (`/api/token/blacklist/`, durable on both sides; median of pairs)", fmtRatio(r.summary().Median), top),
			over:   r, per: "pair", limit: 10})
	} else {
		b.targetMissing(vsOriginal, ratioVs("Simple JWT"), "≥ 10×", "Simple JWT is not installed")
	}
	raw := []map[string]any{}
	for _, w := range writers {
		raw = append(raw, map[string]any{"name": w.name, "writes_per_s": w.rate, "p50_ns": w.p50, "p99_ns": w.p99})
	}
	b.raw["write"] = raw
	b.raw["write_metrics_scrape_ns"] = wr.scrapes.lat
}

func stripTicks(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r != '`' {
			out = append(out, r)
		}
	}
	return string(out)
}

// scrapeEvery is how often the write scenario scrapes the full node's
// /metrics while it writes.
const scrapeEvery = 100 * time.Millisecond

// scrapes is GET /metrics of the write scenario's full node at a steady
// interval, bounded by each of its measured phases: the writes are
// measured with a metrics scrape going on, as in production.
type scrapes struct {
	url string
	lat series // each scrape's latency, ns, every phase together
}

// start scrapes at once and then every scrapeEvery until the returned
// function is called; that function waits for the scraper and returns the
// first failed scrape's error, if any.
func (sc *scrapes) start(ctx context.Context, hc *http.Client) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(scrapeEvery)
		defer tick.Stop()
		for {
			t0 := time.Now()
			code, err := getJSON(ctx, hc, sc.url, nil)
			if ctx.Err() != nil {
				done <- nil // cut short by the phase's end: not counted
				return
			}
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("GET /metrics: %d", code)
			}
			if err != nil {
				done <- fmt.Errorf("metrics scrape: %w", err)
				return
			}
			sc.lat = append(sc.lat, float64(time.Since(t0)))
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-tick.C:
			}
		}
	}()
	return func() error {
		cancel()
		return <-done
	}
}
