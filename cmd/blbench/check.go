package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// checker is one contender of the check scenario.
type checker struct {
	name     string
	check    func(ctx context.Context, jti string) (bool, error)
	workers  int // parallel throughput goroutines
	parNote  string
	inproc   bool
	mean     series // single goroutine, ns/op (untimed loop)
	p50, p99 series // single goroutine, per-call timed
	rate     series // parallel, ops/s
	lat      *hist  // single goroutine latencies over every round
}

// inprocNode opens an in-process node on dir without NATS: the embedded
// validator a Go API server runs, minus the stream.
func inprocNode(dir string) (*node.Node, error) {
	return node.New(node.Config{
		DataDir: dir, Token: token.Config{HSSecret: []byte(benchSecret)}, NATS: node.NATSConfig{Disabled: true},
		FlushInterval: -1, Logger: slog.New(slog.DiscardHandler),
	})
}

// runCheck measures "is this jti revoked?": a Go map (the floor), blnode
// in-process and over HTTP, and Redis, over one Zipf workload in rounds.
func (b *bench) runCheck(ctx context.Context, s *section) error {
	cr, err := b.setUpCheck(ctx)
	if err != nil {
		return err
	}
	defer cr.stop.run()
	if err := cr.verify(ctx); err != nil {
		return err
	}
	if err := b.warmUpCheck(ctx, cr); err != nil {
		return err
	}
	if err := b.measureChecks(ctx, cr); err != nil {
		return err
	}
	if err := b.reportCheck(s, cr); err != nil {
		return err
	}
	b.checkTargets(cr)
	return nil
}

// checkRun is what the check scenario runs against.
type checkRun struct {
	n                int      // revoked ids
	revoked, unknown []string // n ids each
	w                workload
	mask             int        // len(w.keys) - 1
	nd               *node.Node // blnode in-process
	checkers         []*checker // the floor, blnode in-process, blnode HTTP, then Redis (1 connection, pool)
	stop             cleanups
}

// setUpCheck is the check scenario's set-up: the workload, a store filled
// with the revoked ids (opened in-process, and a copy served by a
// "blnode serve --no-nats"), Redis holding the same ids when installed,
// and a checker of each. On error it stops what it started.
func (b *bench) setUpCheck(ctx context.Context) (_ *checkRun, err error) {
	cfg := b.cfg
	cr := &checkRun{}
	defer func() {
		if err != nil {
			cr.stop.run()
		}
	}()
	n := cfg.sizes.check
	lookups := 1 << 20
	if n < 250_000 {
		lookups = 1 << 16
	}
	revoked := jtis(cfg.seed, 0, n)
	unknown := jtis(cfg.seed, n, n)
	w := newWorkload(cfg.seed+1, revoked, unknown, lookups, 0.01, cfg.zipfS, cfg.zipfV)
	cr.n, cr.revoked, cr.unknown, cr.w, cr.mask = n, revoked, unknown, w, len(w.keys)-1
	b.logf("check: %d revoked; %d lookups, %d distinct, %d of revoked keys", n, len(w.keys), w.distinct(), w.inCount)

	// The floor: a Go map holding the revoked ids.
	floor := make(map[string]struct{}, n)
	for _, k := range revoked {
		floor[k] = struct{}{}
	}

	exp := time.Now().Add(24 * time.Hour).Unix()
	dirA, err := b.dir("check-inproc")
	if err != nil {
		return nil, err
	}
	b.logf("check: filling a store with %d blacklisted entries", n)
	if err := fillStore(ctx, dirA, revoked, func(string) int64 { return exp }); err != nil {
		return nil, err
	}
	dirB, err := b.dir("check-proc")
	if err != nil {
		return nil, err
	}
	if err := copyStore(dirA, dirB); err != nil {
		return nil, err
	}
	nd, err := inprocNode(dirA)
	if err != nil {
		return nil, err
	}
	cr.nd = nd
	cr.stop.add(func() { nd.Close() })
	proc, err := b.startBlnode(ctx, "blnode (check)", dirB, "--no-nats")
	if err != nil {
		return nil, err
	}
	cr.stop.add(func() { _ = proc.Stop() })
	hc := newHTTPClient(cfg.clients)
	cr.stop.add(hc.CloseIdleConnections)
	checkURL := proc.url + "/v1/check"

	cr.checkers = []*checker{
		{name: "Go map (floor)", inproc: true, check: func(_ context.Context, k string) (bool, error) {
			_, ok := floor[k]
			return ok, nil
		}},
		{name: "blnode in-process `n.Check`", inproc: true, check: func(_ context.Context, k string) (bool, error) { return nd.Check(k) }},
		{name: "blnode HTTP `POST /v1/check`", check: func(ctx context.Context, k string) (bool, error) {
			var out struct {
				Blacklisted bool `json:"blacklisted"`
			}
			code, err := post(ctx, hc, checkURL, `{"jti":"`+k+`"}`, "", &out)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("POST /v1/check: %d", code)
			}
			return out.Blacklisted, err
		}},
	}
	if err := b.addRedisCheckers(ctx, cr, exp); err != nil {
		return nil, err
	}
	for _, c := range cr.checkers {
		c.lat = newHist()
		c.workers = cfg.clients
		if c.inproc {
			c.workers = runtime.GOMAXPROCS(0)
		}
	}
	return cr, nil
}

// addRedisCheckers starts Redis, when installed, fills it with the
// revoked ids (SET jti 1 EXAT exp) and adds its checkers to cr: EXISTS
// over one connection and over a pool.
func (b *bench) addRedisCheckers(ctx context.Context, cr *checkRun, exp int64) error {
	cfg, n, revoked := b.cfg, cr.n, cr.revoked
	if b.needsRedis("check: Redis EXISTS (1 connection, pool)") {
		rdir, err := b.dir("check-redis")
		if err != nil {
			return err
		}
		r, err := b.startRedis(ctx, "redis-server (check)", rdir)
		if err != nil {
			return err
		}
		cr.stop.add(func() { _ = r.Stop() })
		b.logf("check: filling Redis with %d keys (SET jti 1 EXAT exp, pipelined)", n)
		if err := fillRedis(ctx, r, revoked, exp); err != nil {
			return err
		}
		one := r.client(1)
		cr.stop.add(func() { one.Close() })
		pool := r.client(cfg.clients)
		cr.stop.add(func() { pool.Close() })
		exists := func(c *redis.Client) func(context.Context, string) (bool, error) {
			return func(ctx context.Context, k string) (bool, error) {
				v, err := c.Exists(ctx, k).Result()
				return v == 1, err
			}
		}
		cr.checkers = append(cr.checkers,
			&checker{name: "Redis `EXISTS`, 1 connection", check: exists(one),
				parNote: fmt.Sprintf("%d goroutines share the one connection", cfg.clients)},
			&checker{name: "Redis `EXISTS`, pool", check: exists(pool),
				parNote: fmt.Sprintf("pool of %d connections", cfg.clients)})
	}
	return nil
}

// verify checks that every contender gives the right answers before it is
// timed.
func (cr *checkRun) verify(ctx context.Context) error {
	n := cr.n
	for _, c := range cr.checkers {
		for i := range 200 {
			k, want := cr.revoked[i*7%n], true
			if i%2 == 1 {
				k, want = cr.unknown[i*13%n], false
			}
			got, err := c.check(ctx, k)
			if err != nil || got != want {
				return fmt.Errorf("%s: check %s = %v, %v; want %v", c.name, k, got, err, want)
			}
		}
	}
	return nil
}

// warmUpCheck warms the contenders up: the in-process cache over the
// whole workload, twice (ristretto admits on frequency); the HTTP node and
// Redis on a slice.
func (b *bench) warmUpCheck(ctx context.Context, cr *checkRun) error {
	cfg, w := b.cfg, cr.w
	b.logf("check: warming up")
	for range 2 {
		for _, k := range w.keys {
			if _, err := cr.nd.Check(k); err != nil {
				return err
			}
		}
	}
	warm := min(len(w.keys), 20_000)
	for _, c := range cr.checkers[2:] {
		res := closedLoop(ctx, cfg.clients, time.Minute, int64(warm), false, func(wk, i int) error {
			_, err := c.check(ctx, w.keys[(wk*warm/cfg.clients+i)%warm])
			return err
		})
		if res.errs > 0 {
			return fmt.Errorf("%s warm-up: %w", c.name, res.firstErr)
		}
	}
	return nil
}

// measureChecks is the check scenario's measurement: in each round, each
// contender in turn runs an untimed single-goroutine loop (the mean), a
// timed one (p50, p99) and a parallel one (throughput).
func (b *bench) measureChecks(ctx context.Context, cr *checkRun) error {
	cfg, w, mask := b.cfg, cr.w, cr.mask
	d := cfg.duration
	for round := range cfg.rounds {
		for _, c := range cr.checkers {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			single := func(wk, i int) error { _, err := c.check(ctx, w.keys[(round*7919+i)&mask]); return err }
			r1 := closedLoop(ctx, 1, d/2, 0, false, single)
			r2 := closedLoop(ctx, 1, d/2, 0, true, single)
			r3 := closedLoop(ctx, c.workers, d, 0, false, func(wk, i int) error {
				_, err := c.check(ctx, w.keys[(wk*len(w.keys)/c.workers+round*104729+i)&mask])
				return err
			})
			for _, r := range []loopResult{r1, r2, r3} {
				if r.errs > 0 {
					return fmt.Errorf("%s: %d of %d checks failed: %w", c.name, r.errs, r.ops, errors.Join(r.firstErr, errTooManyErrors))
				}
			}
			c.mean = append(c.mean, r1.nsPerOp(1))
			c.p50 = append(c.p50, r2.lat.quantile(0.50))
			c.p99 = append(c.p99, r2.lat.quantile(0.99))
			c.rate = append(c.rate, r3.rate())
			c.lat.merge(r2.lat)
			b.logf("check round %d %-32s mean %s p50 %s p99 %s parallel %s", round+1, c.name, fmtNs(r1.nsPerOp(1)),
				fmtNs(r2.lat.quantile(0.5)), fmtNs(r2.lat.quantile(0.99)), fmtRate(r3.rate()))
		}
	}
	return nil
}

// reportCheck writes the check scenario's section: the workload, how each
// contender was measured, its figures, the ratios and the latency chart.
func (b *bench) reportCheck(s *section, cr *checkRun) error {
	cfg, n, w, checkers := b.cfg, cr.n, cr.w, cr.checkers
	d := cfg.duration
	s.para("%d revoked token ids (32 hex characters, like Simple JWT's `uuid4().hex`) are held by each contender. "+
		"The workload is %d lookups generated with seed %d: each is, with probability 1%%, a revoked id, otherwise one of %d ids that are not revoked; "+
		"within each set the id's rank is Zipf-distributed (Go's `rand.Zipf`, s = %g, v = %g), so a few ids are hot, as the tokens of active users are. "+
		"%d of the lookups are of revoked ids; %d ids are distinct.",
		n, len(w.keys), cfg.seed+1, n, cfg.zipfS, cfg.zipfV, w.inCount, w.distinct())
	s.para("Contenders in each round, in this order: %s. blnode in-process is `node.Node.Check` on a node opened without NATS on a store "+
		"pre-filled with the entries (warmed by two passes over the workload: the store's in-memory filter answers unrevoked ids, the cache the revoked ones); blnode HTTP is a `blnode serve --no-nats` process with a copy of that store; "+
		"Redis holds `SET jti 1 EXAT exp` keys (no persistence) and is asked `EXISTS jti` through go-redis.", contenderNames(checkers))
	s.para("Single goroutine: the mean is the wall time of an untimed loop divided by the calls (%v per round); p50 and p99 time each call with `time.Now` "+
		"(%v per round; the timer itself costs about %s, included). Parallel: the calls per second of %d goroutines for in-process contenders "+
		"(GOMAXPROCS; more cannot add CPU-bound throughput) and %d concurrent clients for network contenders, %v per round.",
		d/2, d/2, fmtNs(b.timerNs), runtime.GOMAXPROCS(0), cfg.clients, d)
	t := s.table(fmt.Sprintf("Check latency and throughput, min / **median** / max over %d rounds", cfg.rounds),
		"contender", "mean, 1 goroutine", "p50, 1 goroutine", "p99, 1 goroutine", "parallel throughput", "parallel clients")
	for _, c := range checkers {
		par := strconv.Itoa(c.workers)
		if c.parNote != "" {
			par = c.parNote
		}
		t.row(c.name, c.mean.summary().format(fmtNs), c.p50.summary().format(fmtNs), c.p99.summary().format(fmtNs),
			c.rate.summary().format(fmtRate), par)
	}
	in := checkers[1]
	rt := s.table("Ratios, computed round by round (round i of one against round i of the other), min / **median** / max",
		"comparison", "single-goroutine latency (mean)", "parallel throughput")
	for _, c := range checkers {
		if c == in {
			continue
		}
		if c.inproc {
			rt.row("blnode in-process ÷ "+c.name+" (cost over the floor)", ratios(in.mean, c.mean).summary().format(fmtRatio),
				ratios(c.rate, in.rate).summary().format(fmtRatio)+" (floor ÷ blnode)")
			continue
		}
		rt.row(c.name+" ÷ blnode in-process (times slower)", ratios(c.mean, in.mean).summary().format(fmtRatio),
			ratios(in.rate, c.rate).summary().format(fmtRatio)+" (blnode ÷ contender)")
	}
	file := "check_latency.png"
	if err := b.cdfChart(file, "Check latency by contender (1 goroutine)", true, checkerCurves(checkers)); err != nil {
		return err
	}
	s.charts = append(s.charts, chartRef{file, "check latency CDF by contender"})
	return nil
}

// checkTargets judges the check targets (blnode in-process against the
// floor and against Redis) and keeps the figures for results.json.
func (b *bench) checkTargets(cr *checkRun) {
	cfg, checkers := b.cfg, cr.checkers
	in := checkers[1]
	floorRatio := ratios(in.mean, checkers[0].mean)
	b.judge(target{what: "in-process check within 5× of the Go map floor", basis: ratioVs("a Go map behind an RWMutex"), goal: "≤ 5×",
		figure: fmtRatio(floorRatio.summary().Median) + " (mean latency, median of pairs; " +
			fmtNs(in.mean.summary().Median) + " vs " + fmtNs(checkers[0].mean.summary().Median) + ")",
		over: floorRatio, per: "pair", limit: 5, atMost: true})
	const vsRedis = "in-process check vs Redis `EXISTS`"
	if len(checkers) > 3 {
		rr := ratios(checkers[3].mean, in.mean)
		pr := ratios(in.rate, checkers[4].rate)
		b.judge(target{what: vsRedis + ", latency", basis: ratioVs("Redis `EXISTS`, 1 connection"), goal: "≥ 20× faster",
			figure: fmtRatio(rr.summary().Median) + " (1-goroutine mean latency vs 1 connection, median of pairs)", over: rr, per: "pair", limit: 20})
		b.judge(target{what: vsRedis + ", throughput", basis: ratioVs("Redis `EXISTS`, a pool"), goal: "≥ 20×",
			figure: fmtRatio(pr.summary().Median) + " (parallel throughput vs a pool, median of pairs)", over: pr, per: "pair", limit: 20})
	} else {
		b.targetMissing(vsRedis, ratioVs("Redis `EXISTS`"), "≥ 20× faster", "redis-server missing")
	}
	b.raw["check"] = map[string]any{"size": cr.n, "lookups": len(cr.w.keys), "zipf_s": cfg.zipfS, "zipf_v": cfg.zipfV, "contenders": rawCheckers(checkers)}
}

func contenderNames(cs []*checker) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += ", "
		}
		s += c.name
	}
	return s
}

func rawCheckers(cs []*checker) []map[string]any {
	var out []map[string]any
	for _, c := range cs {
		out = append(out, map[string]any{"name": c.name, "mean_ns": c.mean, "p50_ns": c.p50, "p99_ns": c.p99, "ops_per_s": c.rate, "workers": c.workers})
	}
	return out
}

// fillRedis sets every id (SET id 1 EXAT exp), pipelined in batches.
func fillRedis(ctx context.Context, r *redisProc, ids []string, exp int64) error {
	c := r.client(4)
	defer c.Close()
	at := time.Unix(exp, 0)
	for i := 0; i < len(ids); i += 2000 {
		if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range ids[i:min(i+2000, len(ids))] {
				p.SetArgs(ctx, k, 1, redis.SetArgs{ExpireAt: at})
			}
			return nil
		}); err != nil {
			return fmt.Errorf("fill redis: %w", err)
		}
	}
	return nil
}
