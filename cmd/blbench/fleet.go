package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/observe"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// The fleet scenario: one full node and N validators in this process, each
// validator with its own data dir, NATS connection, subscription and
// replica, against a 3-server cluster on loopback (-fleet-servers).
const (
	fleetSlots  = 256                    // writes in flight at most
	fleetSettle = 10 * time.Second       // longest wait after the last write for every validator to see it
	fleetReady  = 10 * time.Minute       // longest wait for N validators to be ready
	fleetLive   = 2 * time.Minute        // longest wait, once ready, for them all to follow the live subject
	fleetQuiet  = 500 * time.Millisecond // pause before an idle window or a memory reading
)

// fleetGoals are the propagation targets: p99 ≤ limit ns with n
// validators at rate writes/s.
var fleetGoals = []fleetGoal{{200, 1000, 20e6}, {1000, 100, 50e6}}

// fleetMargin is how far the fleet's absolute figures must beat their
// goals: the fleet shares one process and one collector among its
// validators, and its p99 moves by about that much between quiet runs.
const fleetMargin = 0.10

// fleetP99Basis is how the fleet's propagation targets are judged: the
// transport floor beside them (fleet_floor.go) is reported, not divided
// by, since the goal is the validators' whole p99.
const fleetP99Basis = "absolute (margin 10%: ≤ 0.9 × the goal)"

type fleetGoal struct {
	n, rate int
	limit   float64
}

// fleetRate is what one fleet size measured at one write rate, one figure
// per round.
type fleetRate struct {
	rate                  int
	p50, p99, p999, max   series // ns, every write × validator of a round together
	missing               series // write × validator pairs not seen within fleetSettle
	achieved              series // writes/s the writer reached
	cpuPerEvent           series // ns of CPU per event per validator
	cpuPhase              series // ns of CPU of each round's cost phase, the whole process
	floorPhase            series // the same with bare subscribers instead of validators (floorFleet)
	floorPerEvent         series // ns of CPU per event per bare subscriber: the transport floor
	floorP50, floorP99    series // ns, the floor's live phase: write returned → message arrived
	floorMax, floorMiss   series
	gcCores, gcCycles     series  // the shared collector in each live phase: CPU (cores) and cycles completed
	floorGCCores          series  // the same in the floor's live phases
	ownPerEvent           series  // cpuPerEvent - floorPerEvent, round by round: blnode's own
	count                 int     // writes of one phase
	baseCPUPerEvent       float64 // the whole process without validators, before and after them (mean)
	baseBefore, baseAfter float64
	events, observations  int
}

// p99Ratio is the validators' p99 over the transport floor's, the median
// of the rounds' ratios (0 when the floor was not measured).
func (fr *fleetRate) p99Ratio() float64 {
	var r series
	for i, p := range fr.p99 {
		if i < len(fr.floorP99) && fr.floorP99[i] > 0 {
			r = append(r, p/fr.floorP99[i])
		}
	}
	if len(r) == 0 {
		return 0
	}
	return r.summary().Median
}

// cpuAt is the CPU per event per validator fs measured at rate (median of
// rounds), 0 when fs is nil or did not measure it.
func (fs *fleetSize) cpuAt(rate int) float64 {
	if fs == nil {
		return 0
	}
	for _, fr := range fs.rates {
		if fr.rate == rate {
			return max(fr.cpuPerEvent.summary().Median, 0)
		}
	}
	return 0
}

// watchMethod is how the fleet and regions scenarios see a write in force
// on a validator, for their reports.
const watchMethod = "each validator reports every blacklisting it puts in force (`node.Config.OnBlacklisted`: on arrival for an event " +
	"previewed from the live subject, at its batch's commit for one replayed from the stream), and blbench asks that validator's `Check` at " +
	"once and takes the time only if it answers true (`observe.Watch`; a report its check refutes fails the run). Nothing polls: the figures " +
	"hold no poll interval, and the observer costs one `Check` per write × validator whatever the latency. A write seen before its writer " +
	"had recorded the acknowledgement counts as 0."

// fleetSize is what one fleet size measured.
type fleetSize struct {
	n                    int
	readyIn              time.Duration
	heapReady, rssReady  float64 // bytes per validator, over the same process without validators
	heapEnd, rssEnd      float64 // bytes per validator, over the same process once they have closed
	idleCPU              float64 // ns of CPU per second per validator
	apiIdle, apiIdleBase float64 // JetStream API requests/s at idle, with and without the validators
	consumers            int     // the stream's consumers once the validators are ready
	consumersEnd         int     // the stream's consumers after the rounds, the validators still running
	live                 int     // validators following the live subject, not a consumer, once ready (of n)
	consumersBase        int     // and before they started
	rates                []*fleetRate
}

// fleet is what the scenario runs against.
type fleet struct {
	b       *bench
	servers natsServers
	js      jetstream.JetStream // blbench's own connection
	sc      events.StreamConfig // the stream of the fleet size measured
	stream  jetstream.Stream    // blbench's own view of it, for consumer counts
	full    *node.Node          // the full node writing it
	watch   observe.Watch       // validator i reports what is in force through watch.Hook(i)
	exp     int64
}

func (b *bench) runFleet(ctx context.Context, s *section) error {
	cfg := b.cfg
	root, err := b.dir("fleet")
	if err != nil {
		return err
	}
	var servers natsServers
	if cfg.fleetServers == 1 {
		b.logf("fleet: starting a NATS server")
		servers, err = startNATSServer(root + "/nats")
	} else {
		b.logf("fleet: starting a %d-server NATS cluster", cfg.fleetServers)
		servers, err = startNATSCluster(ctx, cfg.fleetServers, root+"/nats")
	}
	if err != nil {
		return err
	}
	defer servers.shutdown()
	f := &fleet{b: b, servers: servers, exp: time.Now().Add(24 * time.Hour).Unix()}

	nc, err := nats.Connect(servers[0].ClientURL(), nats.Name("blbench fleet observer"))
	if err != nil {
		return err
	}
	defer nc.Close()
	if f.js, err = jetstream.New(nc); err != nil {
		return err
	}

	var sizes []*fleetSize
	for _, n := range cfg.fleetSizes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Bounded in memory too: a size whose validators would not fit in
		// what the system has free, at the RSS per validator measured so
		// far (with half again for the heap they have not touched yet),
		// is left out and said so.
		if len(sizes) > 0 {
			last := sizes[len(sizes)-1]
			need := 1.5 * float64(n) * max(last.rssEnd, last.rssReady)
			if avail := memAvailable(); avail > 0 && need > 0.8*avail {
				s.note("%d validators not measured: at %s of RSS each (measured at %d) they would need about %s, and the system has %s available",
					n, fmtBytes(max(last.rssEnd, last.rssReady)), last.n, fmtBytes(need), fmtBytes(avail))
				b.logf("fleet: skipping %d validators: would need about %s, %s available", n, fmtBytes(need), fmtBytes(avail))
				continue
			}
		}
		stopFull, err := f.startFull(ctx, root, n)
		if err != nil {
			return fmt.Errorf("%d validators: %w", n, err)
		}
		fs, err := f.measure(ctx, root, n, sizes, func(note string) {
			s.note("%s", note)
			b.logf("fleet: %s", note)
		})
		stopFull()
		if err != nil {
			return fmt.Errorf("%d validators: %w", n, err)
		}
		sizes = append(sizes, fs)
	}
	return b.reportFleet(s, sizes)
}

// startFull starts the full node of the fleet of n validators, on a stream
// of its own (each size's validators join an empty stream and hold that
// size's writes alone: the join scenario measures joining a large set),
// warms it up and returns what stops it.
func (f *fleet) startFull(ctx context.Context, root string, n int) (stop func(), err error) {
	f.sc = events.StreamConfig{Name: fmt.Sprintf("BLBENCH_FLEET_%d", n), Prefix: fmt.Sprintf("blbench.fleet%d", n), Replicas: len(f.servers)}
	full, err := node.New(node.Config{
		DataDir: fmt.Sprintf("%s/n%d/full", root, n), Role: node.RoleFull, NodeID: fmt.Sprintf("fleet-%d-full", n),
		Token: token.Config{HSSecret: []byte(benchSecret)}, FlushInterval: -1,
		NATS:   node.NATSConfig{URLs: f.servers.urls()},
		Stream: f.sc, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("full node: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var running sync.WaitGroup
	running.Go(func() { full.Run(runCtx) })
	stop = func() {
		cancel()
		running.Wait()
		full.Close()
	}
	f.full = full
	if err := poll.Until(ctx, startTimeout, 5*time.Millisecond, func() error {
		if !full.Ready() {
			return errors.New("full node not ready")
		}
		return nil
	}); err != nil {
		stop()
		return nil, err
	}
	// Warm up the full node and the stream: a first write, published.
	if _, err := f.write(ctx, 20, 200, fmt.Sprintf("fleet-%d-warm", n), nil); err != nil {
		stop()
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if f.stream, err = f.js.Stream(ctx, f.sc.Name); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// measure starts n validators, measures them idle and live, and stops them.
// A rate that the CPU per event per validator measured at the largest
// size before (of measured) says would take more than the machine's cores
// is left out, and said so (skip), unless a goal names it.
func (f *fleet) measure(ctx context.Context, root string, n int, measured []*fleetSize, skip func(string)) (*fleetSize, error) {
	b, cfg := f.b, f.b.cfg
	fs := &fleetSize{n: n, rates: fleetRates(cfg, n, measured, skip)}
	// The same process without validators: memory, idle CPU and API
	// requests, and the CPU of each rate's writes (the full node, the
	// servers and the writer); measured again once they have gone, and
	// the two averaged, so that drift of a shared machine over the size's
	// rounds counts less.
	heap0, rss0 := settledMemory()
	idle0, err := f.baseline(ctx, fs, n, "before", func(fr *fleetRate, perEvent float64) { fr.baseBefore = perEvent })
	if err != nil {
		return nil, err
	}
	before, err := f.consumerNames(ctx)
	if err != nil {
		return nil, err
	}
	fs.consumersBase = len(before)

	b.logf("fleet: starting %d validators", n)
	vroot := root
	if cfg.fleetVDir != "" {
		if vroot, err = os.MkdirTemp(cfg.fleetVDir, "blbench-fleet-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(vroot)
	}
	vf, err := f.startValidators(ctx, vroot, fs)
	if err != nil {
		return nil, err
	}
	defer vf.close(ctx)
	idle, err := f.readReady(ctx, fs, vf, heap0, rss0, before)
	if err != nil {
		return nil, err
	}
	for round := range cfg.rounds {
		for _, fr := range fs.rates {
			if err := f.round(ctx, vf.validators, fr, fmt.Sprintf("fleet-n%d-r%d-%d", n, round, fr.rate)); err != nil {
				return nil, fmt.Errorf("round %d at %d writes/s: %w", round+1, fr.rate, err)
			}
		}
	}
	if err := f.readEnd(ctx, fs, vf); err != nil {
		return nil, err
	}
	idle1, err := f.baseline(ctx, fs, n, "after", func(fr *fleetRate, perEvent float64) { fr.baseAfter = perEvent })
	if err != nil {
		return nil, err
	}
	fs.idleCPU = (float64(idle) - float64(idle0+idle1)/2) / cfg.fleetIdle.Seconds() / float64(n)
	f.costs(fs)
	b.logf("fleet %d validators: idle CPU per validator %.1f µs/s", n, fs.idleCPU/1e3)
	return fs, nil
}

// fleetRates returns the rates of cfg.fleetRates measured at n validators:
// one that the CPU per event per validator measured at the largest size
// before (of measured) says would take more than the machine's cores is
// left out, and said so (skip), unless a goal names it.
func fleetRates(cfg config, n int, measured []*fleetSize, skip func(string)) []*fleetRate {
	var rates []*fleetRate
	for _, r := range cfg.fleetRates {
		goal := slices.ContainsFunc(fleetGoals, func(g fleetGoal) bool { return g.n == n && g.rate == r })
		var prev *fleetSize
		for _, m := range measured {
			if m.cpuAt(r) > 0 {
				prev = m
			}
		}
		if need := prev.cpuAt(r) * float64(n*r) / 1e9; need > float64(runtime.GOMAXPROCS(0)) && !goal {
			skip(fmt.Sprintf("%d validators at %d writes/s not measured: at %s of CPU per event per validator (measured at %d) they would take %.1f CPUs, and this process has %d",
				n, r, fmtNs(prev.cpuAt(r)), prev.n, need, runtime.GOMAXPROCS(0)))
			continue
		}
		rates = append(rates, &fleetRate{rate: r})
	}
	return rates
}

// validatorFleet is the validators of one size, running in this process.
type validatorFleet struct {
	f          *fleet
	validators []*node.Node // nil once closed
	stop       context.CancelFunc
	running    sync.WaitGroup
	theirs     []string // the consumers this fleet added
	closed     bool
}

// startValidators starts fs.n validators under vroot, spread over the
// servers, and waits until they are ready (fs.readyIn). On error it closes
// those it started.
func (f *fleet) startValidators(ctx context.Context, vroot string, fs *fleetSize) (_ *validatorFleet, err error) {
	n := fs.n
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	vf := &validatorFleet{f: f, validators: make([]*node.Node, 0, n), stop: stop}
	defer func() {
		if err != nil {
			vf.close(ctx)
		}
	}()
	t0 := time.Now()
	urls := f.servers.urls()
	for i := range n {
		var v *node.Node
		var err error
		// Labelled, as are the goroutines they start: -cpuprofile's
		// samples of the validators are `-tagfocus role=validator`.
		pprof.Do(runCtx, pprof.Labels("role", "validator"), func(runCtx context.Context) {
			v, err = node.New(node.Config{
				DataDir: fmt.Sprintf("%s/n%d/validator-%d", vroot, n, i+1), Role: node.RoleValidator, NodeID: fmt.Sprintf("fleet-%d-v%d", n, i+1),
				Token: token.Config{HSSecret: []byte(benchSecret)}, FlushInterval: -1,
				NATS:   node.NATSConfig{URLs: []string{urls[i%len(urls)]}},
				Stream: f.sc, Logger: slog.New(slog.DiscardHandler), OnBlacklisted: f.watch.Hook(i),
			})
			if err == nil {
				vf.running.Go(func() { v.Run(runCtx) })
			}
		})
		if err != nil {
			return nil, fmt.Errorf("validator %d: %w", i+1, err)
		}
		vf.validators = append(vf.validators, v)
	}
	if err := poll.Until(ctx, fleetReady, 10*time.Millisecond, func() error {
		for i, v := range vf.validators {
			if !v.Ready() {
				return fmt.Errorf("validator %d of %d not ready", i+1, n)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	fs.readyIn = time.Since(t0)
	return vf, nil
}

// close stops and closes the validators, lets them go, and removes the
// consumers they added. It is idempotent.
func (vf *validatorFleet) close(ctx context.Context) {
	if vf.closed {
		return
	}
	vf.closed = true
	vf.stop()
	vf.running.Wait()
	for _, v := range vf.validators {
		v.Close()
	}
	// Let them go: the floor and the end readings must not carry
	// the closed validators' heap (the collector would mark it).
	vf.validators = nil
	// A closed validator's consumer would stay on the servers until
	// its inactivity threshold (minutes): remove them, as the next
	// fleet would otherwise be measured beside them.
	for _, name := range vf.theirs {
		if err := vf.f.stream.DeleteConsumer(context.WithoutCancel(ctx), name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			vf.f.b.logf("fleet: removing consumer %s: %v", name, err)
		}
	}
}

// readReady takes the readings of a ready fleet: how many follow the live
// subject, the memory per validator over the process before them
// (heap0, rss0), the consumers they added (over before), and their idle
// CPU and API requests. It returns the idle CPU.
func (f *fleet) readReady(ctx context.Context, fs *fleetSize, vf *validatorFleet, heap0, rss0 float64, before map[string]bool) (time.Duration, error) {
	b, cfg, n := f.b, f.b.cfg, fs.n
	// A ready validator hands its consumer over to the live subject (and
	// deletes it) a moment later: wait for that, but measure whatever it
	// comes to.
	_ = poll.Until(ctx, fleetLive, 10*time.Millisecond, func() error {
		fs.live = 0
		for _, v := range vf.validators {
			if v.FleetStatus().Live {
				fs.live++
			}
		}
		if fs.live < n {
			return fmt.Errorf("%d of %d validators follow the live subject", fs.live, n)
		}
		return nil
	})
	heap, rss := settledMemory()
	fs.heapReady, fs.rssReady = (heap-heap0)/float64(n), (rss-rss0)/float64(n)
	if cfg.fleetHeap != "" {
		if err := writeHeapProfile(fmt.Sprintf("%s-%d.pprof", cfg.fleetHeap, n)); err != nil {
			return 0, err
		}
	}
	after, err := f.consumerNames(ctx)
	if err != nil {
		return 0, err
	}
	fs.consumers = len(after)
	for name := range after {
		if !before[name] {
			vf.theirs = append(vf.theirs, name)
		}
	}
	idle, api, err := f.idle(ctx, cfg.fleetIdle)
	if err != nil {
		return 0, err
	}
	fs.apiIdle = api
	b.logf("fleet %d validators: ready in %v; per validator heap %s, RSS %s; %.1f JetStream API requests/s idle (%.1f without them); %d consumers; %d following the live subject",
		n, fs.readyIn.Round(time.Millisecond), fmtBytes(fs.heapReady), fmtBytes(fs.rssReady), fs.apiIdle, fs.apiIdleBase, fs.consumers, fs.live)
	return idle, nil
}

// readEnd takes the readings after the rounds: the consumers left, the
// memory per validator (over the process once they have closed), and
// closes the fleet before the transport floor is measured.
func (f *fleet) readEnd(ctx context.Context, fs *fleetSize, vf *validatorFleet) error {
	b, n := f.b, fs.n
	// Consumers handed over to the live subject are gone by now (deleted,
	// or expired 30 s after their last pull).
	afterRounds, err := f.consumerNames(ctx)
	if err != nil {
		return err
	}
	fs.consumersEnd = len(afterRounds)
	b.logf("fleet %d validators: %d consumers after the rounds", n, fs.consumersEnd)
	heapEnd, rssEnd := settledMemory()
	// The full node and the servers now hold the rounds' writes too: the
	// validators' share at the end is over the process once they have
	// closed.
	vf.close(ctx)
	heap1, rss1 := settledMemory()
	fs.heapEnd, fs.rssEnd = (heapEnd-heap1)/float64(n), (rssEnd-rss1)/float64(n)
	return f.measureFloor(ctx, fs, n)
}

// costs works out each rate's CPU per event per validator, the transport
// floor's and blnode's own, from the phases' CPU over the process without
// validators.
func (f *fleet) costs(fs *fleetSize) {
	n := fs.n
	for _, fr := range fs.rates {
		fr.baseCPUPerEvent = (fr.baseBefore + fr.baseAfter) / 2
		perEvent := func(cpu float64) float64 { return (cpu - fr.baseCPUPerEvent*float64(fr.count)) / float64(fr.count*n) }
		for i, cpu := range fr.cpuPhase {
			fr.cpuPerEvent = append(fr.cpuPerEvent, perEvent(cpu))
			floor := perEvent(fr.floorPhase[i])
			fr.floorPerEvent = append(fr.floorPerEvent, floor)
			fr.ownPerEvent = append(fr.ownPerEvent, fr.cpuPerEvent[i]-floor)
		}
		f.b.logf("fleet %d validators at %d writes/s: CPU per event per validator %s, transport floor %s, blnode's own %s (medians of rounds; the process without them %s per event)",
			n, fr.rate, fmtNs(fr.cpuPerEvent.summary().Median), fmtNs(fr.floorPerEvent.summary().Median),
			fmtNs(fr.ownPerEvent.summary().Median), fmtNs(fr.baseCPUPerEvent))
	}
}

// measureFloor runs, for every round and rate, the cost phase again with n
// bare subscribers in place of the validators (floorFleet): the transport
// floor of fr.floorPhase.
func (f *fleet) measureFloor(ctx context.Context, fs *fleetSize, n int) error {
	cfg := f.b.cfg
	ff, err := f.startFloor(ctx, n)
	if err != nil {
		return err
	}
	defer ff.close()
	for round := range cfg.rounds {
		for _, fr := range fs.rates {
			tag := fmt.Sprintf("fleet-n%d-r%d-%d-floor", n, round, fr.rate)
			resume := pauseGC(cfg.fleetGCOff, memAvailable()/2)
			gc0 := gcNow()
			lat, missing, err := f.floorLive(ctx, ff, fr.count, fr.rate, tag+"-live")
			gcCores, _ := gc0.since()
			resume()
			if err != nil {
				return fmt.Errorf("transport floor, round %d at %d writes/s: %w", round+1, fr.rate, err)
			}
			fr.floorGCCores = append(fr.floorGCCores, gcCores)
			fr.floorP50, fr.floorP99 = append(fr.floorP50, pct(lat, 0.5)), append(fr.floorP99, pct(lat, 0.99))
			fr.floorMax, fr.floorMiss = append(fr.floorMax, pct(lat, 1)), append(fr.floorMiss, float64(missing))
			cpu, err := f.floorPhase(ctx, ff, fr.count, fr.rate, tag+"-cost")
			if err != nil {
				return fmt.Errorf("transport floor, round %d at %d writes/s: %w", round+1, fr.rate, err)
			}
			fr.floorPhase = append(fr.floorPhase, float64(cpu))
			f.b.logf("fleet %d bare subscribers at %d writes/s: p50 %s p99 %s max %s, %d missing; the process's CPU %s per event; the collector %.2f cores",
				n, fr.rate, fmtNs(pct(lat, 0.5)), fmtNs(pct(lat, 0.99)), fmtNs(pct(lat, 1)), missing, fmtNs(float64(cpu)/float64(fr.count)), gcCores)
		}
	}
	return nil
}

// baseline measures the process without validators: its idle CPU over
// the idle window (returned), the JetStream API requests/s then (kept
// from the first baseline of a size), and for each rate the CPU per write
// of a cost phase (handed to set).
func (f *fleet) baseline(ctx context.Context, fs *fleetSize, n int, when string, set func(*fleetRate, float64)) (time.Duration, error) {
	cfg := f.b.cfg
	idle, api, err := f.idle(ctx, cfg.fleetIdle)
	if err != nil {
		return 0, err
	}
	if when == "before" {
		fs.apiIdleBase = api
	}
	for _, fr := range fs.rates {
		count := max(int(float64(fr.rate)*cfg.fleetDur.Seconds()), 20)
		cpu, err := f.costPhase(ctx, nil, count, fr.rate, fmt.Sprintf("fleet-n%d-base-%s-%d", n, when, fr.rate))
		if err != nil {
			return 0, fmt.Errorf("baseline %s the validators at %d writes/s: %w", when, fr.rate, err)
		}
		set(fr, float64(cpu)/float64(count))
	}
	return idle, nil
}

// round is one live phase (latency, timed by f.watch) and one cost phase
// (CPU, nothing timed) at fr.rate.
func (f *fleet) round(ctx context.Context, validators []*node.Node, fr *fleetRate, tag string) error {
	cfg := f.b.cfg
	n := len(validators)
	count := max(int(float64(fr.rate)*cfg.fleetDur.Seconds()), 20)

	checks := make([]func(string) (bool, error), n)
	for i, v := range validators {
		checks[i] = v.Check
	}
	base := time.Now()
	live := tag + "-live"
	phase := f.watch.Start(base, checks, observe.Source{Prefix: writePrefix(live), Count: count})
	defer f.watch.Stop()
	resume := pauseGC(cfg.fleetGCOff, memAvailable()/2)
	defer resume()
	gc0 := gcNow()
	achieved, err := f.write(ctx, count, fr.rate, live, func(k int, _ string) { phase.Acked(0, k) })
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, fleetSettle)
	err = phase.Wait(wctx)
	cancel()
	gcCores, gcCycles := gc0.since()
	resume()
	f.watch.Stop()
	if err != nil {
		return err
	}
	var all []time.Duration
	for i := range validators {
		lat, err := phase.Latencies(i, 0)
		if err != nil {
			return err
		}
		all = append(all, lat...)
	}
	slices.Sort(all)
	missing := count*n - len(all)
	fr.events += count
	fr.observations += len(all)
	fr.p50 = append(fr.p50, pct(all, 0.5))
	fr.p99 = append(fr.p99, pct(all, 0.99))
	fr.p999 = append(fr.p999, pct(all, 0.999))
	fr.max = append(fr.max, pct(all, 1))
	fr.missing = append(fr.missing, float64(missing))
	fr.achieved = append(fr.achieved, achieved)
	fr.gcCores, fr.gcCycles = append(fr.gcCores, gcCores), append(fr.gcCycles, float64(gcCycles))
	all = nil

	cpu, err := f.costPhase(ctx, validators, count, fr.rate, tag+"-cost")
	if err != nil {
		return err
	}
	fr.cpuPhase = append(fr.cpuPhase, float64(cpu))
	fr.count = count
	f.b.logf("fleet %d validators at %d writes/s: p50 %s p99 %s p99.9 %s max %s, %d missing, %.0f writes/s; the process's CPU %s per event; the collector %.2f cores, %d cycles",
		n, fr.rate, fmtNs(fr.p50[len(fr.p50)-1]), fmtNs(fr.p99[len(fr.p99)-1]), fmtNs(fr.p999[len(fr.p999)-1]), fmtNs(fr.max[len(fr.max)-1]),
		missing, achieved, fmtNs(float64(cpu)/float64(count)), gcCores, gcCycles)
	return nil
}

// costPhase writes count blacklistings at rate with nothing polling and
// returns this process's CPU time from the first write until the full node
// has published them all and every node (the full node and each
// validator) has applied them all.
func (f *fleet) costPhase(ctx context.Context, validators []*node.Node, count, rate int, tag string) (time.Duration, error) {
	nodes := append([]*node.Node{f.full}, validators...)
	published := f.full.FleetStatus().Published
	applied := make([]uint64, len(nodes))
	for i, v := range nodes {
		applied[i] = v.FleetStatus().Applied
	}
	cpu0 := selfCPU()
	if _, err := f.write(ctx, count, rate, tag, nil); err != nil {
		return 0, err
	}
	done := 0
	err := poll.Until(ctx, fleetSettle, 5*time.Millisecond, func() error {
		if f.full.FleetStatus().Published < published+uint64(count) {
			return errors.New("the full node has not published every write")
		}
		for done < len(nodes) {
			if got := nodes[done].FleetStatus().Applied - applied[done]; got < uint64(count) {
				return fmt.Errorf("%s has applied %d of %d events (FleetStatus().Applied)", nodes[done].ID(), got, count)
			}
			done++
		}
		return nil
	})
	return selfCPU() - cpu0, err
}

// write blacklists count new ids through the full node at rate per second,
// open loop: write i is due at start + i/rate whether or not earlier ones
// have returned (at most fleetSlots in flight). acked, if not nil, is
// called with each write's number and id once it has returned. It returns
// the rate achieved.
func (f *fleet) write(ctx context.Context, count, rate int, tag string, acked func(k int, jti string)) (float64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		writers  sync.WaitGroup
		slots    = make(chan struct{}, fleetSlots)
		interval = time.Second / time.Duration(rate)
		start    = time.Now()
	)
	for i := range count {
		if !waitDue(ctx, start, i, interval) {
			break
		}
		slots <- struct{}{}
		jti := writePrefix(tag) + strconv.Itoa(i)
		writers.Go(func() {
			defer func() { <-slots }()
			if _, err := f.full.Blacklist(ctx, persist.Record{JTI: jti, ExpiresAt: f.exp, User: "bench", Reason: "bench"}); err != nil {
				cancel(fmt.Errorf("blacklist %s: %w", jti, err))
				return
			}
			if acked != nil {
				acked(i, jti)
			}
		})
	}
	writers.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return 0, err
	}
	return float64(count) / time.Since(start).Seconds(), ctx.Err()
}

// writePrefix is what the ids of write's blacklistings with tag start
// with: write k's id is the prefix and k in decimal.
func writePrefix(tag string) string { return tag + "-" }

// consumerNames are the stream's consumers.
func (f *fleet) consumerNames(ctx context.Context) (map[string]bool, error) {
	names := map[string]bool{}
	l := f.stream.ConsumerNames(ctx)
	for name := range l.Name() {
		names[name] = true
	}
	return names, l.Err()
}

// idle waits fleetQuiet, then returns this process's CPU time over window
// and the JetStream API requests per second the servers received in it.
func (f *fleet) idle(ctx context.Context, window time.Duration) (time.Duration, float64, error) {
	select {
	case <-time.After(fleetQuiet):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	api0, err := f.apiTotal()
	if err != nil {
		return 0, 0, err
	}
	cpu0 := selfCPU()
	t0 := time.Now()
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	cpu := selfCPU() - cpu0
	took := time.Since(t0)
	api, err := f.apiTotal()
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(float64(cpu) * window.Seconds() / took.Seconds()), float64(api-api0) / took.Seconds(), nil
}

// apiTotal sums the JetStream API requests every server has received.
func (f *fleet) apiTotal() (uint64, error) {
	var total uint64
	for _, s := range f.servers {
		jsz, err := s.Jsz(&server.JSzOptions{Accounts: true})
		if err != nil {
			return 0, fmt.Errorf("jsz %s: %w", s.Name(), err)
		}
		total += jsz.API.Total
	}
	return total, nil
}

// memAvailable is MemAvailable from /proc/meminfo in bytes, 0 if unknown.
func memAvailable() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// settledMemory collects garbage, returns what it can to the system, and
// reads the Go heap in use and this process's RSS, in bytes.
func settledMemory() (heap, rss float64) {
	time.Sleep(fleetQuiet) // let what the last phase started finish
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st, _ := readProcStat(os.Getpid())
	return float64(ms.HeapInuse), float64(st.rss)
}

// validatorDisk says where the fleet's validators kept their stores.
func validatorDisk(dir string) string {
	if dir == "" {
		return "The validators' data dirs are on the disk of the full node and the NATS servers (`-fleet-validator-dir \"\"`): " +
			"their once-a-second fsyncs (one per validator, `Config.ValidatorSyncEvery`) share it with the full node's durable writes, " +
			"which separate machines would not."
	}
	return fmt.Sprintf("The validators' data dirs are on a tmpfs (%s, `-fleet-validator-dir`), standing for each validator's own disk: "+
		"on one shared disk their once-a-second fsyncs (one per validator, `Config.ValidatorSyncEvery`: 1,000/s at 1,000 validators) "+
		"queue with the full node's durable writes, which separate machines would not (docs/scaling.md has the two measured side by side). Their commits' CPU is counted either way; the full node "+
		"and the servers keep theirs on the disk.", dir)
}

// reportFleet writes the fleet scenario's section (how it was measured,
// the figures by size and rate, the floor's, the cost of a validator, the
// chart), judges its targets and keeps the figures for results.json.
func (b *bench) reportFleet(s *section, sizes []*fleetSize) error {
	b.fleetMethod(s)
	b.fleetTables(s, sizes)
	if err := b.fleetChart(s, sizes); err != nil {
		return err
	}
	b.fleetTargets(sizes)
	b.raw["fleet"] = rawFleet(sizes)
	return nil
}

// fleetMethod says how the fleet scenario measures.
func (b *bench) fleetMethod(s *section) {
	cfg := b.cfg
	where := fmt.Sprintf("a %d-server NATS cluster (in-process nats-servers, routes on loopback, the stream with %d replicas)", cfg.fleetServers, cfg.fleetServers)
	if cfg.fleetServers == 1 {
		where = "one NATS server with JetStream (in-process, the stream with 1 replica)"
	}
	s.para("One process holds %s and, for each fleet size, a stream of its own (the size's validators join it empty and hold that size's "+
		"writes alone; the join scenario measures joining a large set), one full node "+
		"(`node.New`, role full, connected to every server, writing the stream) and N validators (`node.New`, role validator), each with its own data dir, its own NATS "+
		"connection (made by the node), subscription and replica, spread over the servers: nothing is shared between validators that would not be "+
		"shared between machines. The writer calls the full node's `Blacklist` (durable, with its outbox entry) open loop at a steady rate, at most %d "+
		"in flight; it never waits for propagation. Sizes %s; rates %s writes/s; %d rounds, each a live and a cost phase of %v of writes per rate. %s",
		where, fleetSlots, joinInts(cfg.fleetSizes), joinInts(cfg.fleetRates), cfg.rounds, cfg.fleetDur, validatorDisk(cfg.fleetVDir))
	if cfg.fleetGCOff {
		s.para("**An experiment, not the benchmark (`-fleet-gc-off`)**: this process's garbage collector was paused during every live phase " +
			"(the validators' and the floor's; it still collects at a memory limit of half the memory available), to show the propagation figures " +
			"without the one collector that every simulated machine shares here. The propagation targets are not judged on this run.")
	}
	s.para("**Propagation** (live phase): for every write × validator, the time from `Blacklist` returning to that validator's in-process `Check` "+
		"answering true: "+watchMethod+" A pair not seen %v after the last write is **missing**. "+
		"Percentiles are over every pair of a round; the table gives min / median / max over rounds.", fleetSettle)
	s.para("**CPU per event per validator** (cost phase, nothing timed): this process's user + system CPU (getrusage) from the first write " +
		"until the full node has published every write and it and every validator have applied them all (the subscriber's applied count), minus the CPU per write of the same phase measured " +
		"without the validators (the full node, the servers and the writer alone; the mean of a measurement before they start and one after " +
		"they have closed, so that drift over the rounds counts less), divided by writes × N. It includes what the servers " +
		"spend delivering to each validator. **Transport floor**: the same cost phases, round for round, with N bare nats.go subscribers in place of " +
		"the validators (each its own connection, spread over the servers the same way, one subscription to the live subject of blacklistings, a " +
		"callback that only counts; measured once the validators have closed), divided the same way: what the servers, the kernel's loopback TCP " +
		"and the NATS client spend on a message for one subscriber, which any validator pays. **blnode's own** is CPU per event per validator minus " +
		"the floor, round by round (median of the differences). Each floor round also has a live phase: for every write × subscriber, the time " +
		"from `Blacklist` returning to the callback receiving the message that holds it (by its stream sequence). **Idle CPU per validator**: the same over an idle window with the validators and without them (before and after, the mean), ÷ N ÷ seconds. " +
		"**Memory per validator**: Go heap in use (`runtime.MemStats.HeapInuse`) and VmRSS after a GC that returns freed memory to the system " +
		"(`debug.FreeOSMemory`), ÷ N: once all are ready (idle), over the readings before the validators started; after the last round, over the " +
		"readings once they have closed (the full node and the servers then hold the rounds' writes too); " +
		"it includes the servers' state for each connection and consumer. **JetStream API requests/s at idle**: the servers' API request " +
		"counters (`Jsz`, summed over the servers) over the idle window; **consumers**: the stream's consumer count once the validators are ready, and before they started " +
		"(blbench removes a fleet's consumers once it has closed its validators: the server would keep each for minutes, until its inactivity threshold).")
	s.para("Heap in use counts every span allocated, also large buffers no page of which has been touched yet (they take no RSS until written): " +
		"RSS is what a validator costs a machine; heap is what it could grow to. CPU and idle CPU are differences " +
		"of whole-process figures divided by N: at small N they are within the noise of the machine (a negative figure says so). " +
		"`-fleet-heapprofile PREFIX` writes a heap profile once each fleet is ready.")
	s.para("**The collector** column is this process's garbage collector during each live phase (`runtime/metrics` " +
		"`/cpu/classes/gc/total:cpu-seconds` ÷ the phase's seconds, median of rounds; and the cycles it completed). Every validator, " +
		"the servers and the full node share that one collector, and each cycle marks all of their heaps at once (gigabytes at 1,000 " +
		"validators), where each machine of a fleet would mark its own few megabytes: on 2 cores its cycles take CPU from every " +
		"validator together, which a fleet of machines never sees. The floor's phases run once the validators have closed and been " +
		"let go, over the small heap of the servers and the full node.")
}

// fleetTables adds the fleet's figures: propagation and CPU by size and
// rate, the transport floor's, and the cost of a validator by size.
func (b *bench) fleetTables(s *section, sizes []*fleetSize) {
	cfg := b.cfg
	t := s.table(fmt.Sprintf("Propagation and CPU by fleet size and rate, min / **median** / max over %d rounds", cfg.rounds),
		"validators", "writes/s", "p50", "p99", "p99.9", "max", "missing", "writes/s achieved", "CPU per event per validator",
		"transport floor per event per subscriber", "blnode's own per event per validator", "collector in the live phase (cores; cycles)")
	for _, fs := range sizes {
		for _, fr := range fs.rates {
			t.row(strconv.Itoa(fs.n), strconv.Itoa(fr.rate), fr.p50.summary().format(fmtNs), fr.p99.summary().format(fmtNs),
				fr.p999.summary().format(fmtNs), fr.max.summary().format(fmtNs), fr.missing.summary().format(fmtFloat(0, "")),
				fr.achieved.summary().format(fmtFloat(0, "")), fr.cpuPerEvent.summary().format(fmtNs),
				fr.floorPerEvent.summary().format(fmtNs), fr.ownPerEvent.summary().format(fmtNs),
				fmt.Sprintf("%s; %s", fmtFloat(2, "")(fr.gcCores.summary().Median), fmtFloat(0, "")(fr.gcCycles.summary().Median)))
		}
	}
	fl := s.table(fmt.Sprintf("Transport floor: N bare subscribers in place of the validators, min / **median** / max over %d rounds", cfg.rounds),
		"validators", "writes/s", "p50", "p99", "max", "missing", "validators' p99 ÷ the floor's (median of rounds)", "collector in the live phase (cores)")
	for _, fs := range sizes {
		for _, fr := range fs.rates {
			fl.row(strconv.Itoa(fs.n), strconv.Itoa(fr.rate), fr.floorP50.summary().format(fmtNs), fr.floorP99.summary().format(fmtNs),
				fr.floorMax.summary().format(fmtNs), fr.floorMiss.summary().format(fmtFloat(0, "")), fmtFloat(1, "×")(fr.p99Ratio()),
				fmtFloat(2, "")(fr.floorGCCores.summary().Median))
		}
	}
	m := s.table("Cost of a validator by fleet size (one measurement per size)", "validators", "ready in", "heap per validator (ready)",
		"RSS per validator (ready)", "heap per validator (end)", "RSS per validator (end)", "idle CPU per validator",
		"JetStream API requests/s idle (without validators)", "consumers on the server once ready (before the fleet)", "consumers after the rounds", "following the live subject")
	for _, fs := range sizes {
		m.row(strconv.Itoa(fs.n), fs.readyIn.Round(time.Millisecond).String(), fmtBytes(fs.heapReady), fmtBytes(fs.rssReady),
			fmtBytes(fs.heapEnd), fmtBytes(fs.rssEnd), fmtFloat(1, " µs/s")(fs.idleCPU/1e3),
			fmt.Sprintf("%.1f (%.1f)", fs.apiIdle, fs.apiIdleBase), fmt.Sprintf("%d (%d)", fs.consumers, fs.consumersBase),
			strconv.Itoa(fs.consumersEnd), fmt.Sprintf("%d of %d", fs.live, fs.n))
	}
}

// fleetChart charts the propagation p99 against the number of validators,
// one curve per rate, with the goals.
func (b *bench) fleetChart(s *section, sizes []*fleetSize) error {
	cfg := b.cfg
	var curves []curve
	for _, rate := range cfg.fleetRates {
		c := curve{name: fmt.Sprintf("%d writes/s (median of rounds)", rate)}
		for _, fs := range sizes {
			for _, fr := range fs.rates {
				if fr.rate == rate {
					c.xs = append(c.xs, float64(fs.n))
					c.ys = append(c.ys, fr.p99.summary().Median/1e6)
				}
			}
		}
		curves = append(curves, c)
	}
	// The goals, for the eye: the p99 limits across the sizes shown.
	if len(sizes) > 1 {
		lo, hi := float64(sizes[0].n), float64(sizes[len(sizes)-1].n)
		for _, g := range fleetGoals {
			if slices.Contains(cfg.fleetRates, g.rate) {
				curves = append(curves, curve{name: fmt.Sprintf("goal: %s at %d writes/s, %d validators", fmtNs(g.limit), g.rate, g.n),
					xs: []float64{lo, hi}, ys: []float64{g.limit / 1e6, g.limit / 1e6}})
			}
		}
	}
	file := "fleet_p99.png"
	if err := b.lineChart(file, "Fleet: propagation p99 against validators", "validators (N)", "p99 (ms)", len(sizes) > 1, false, curves); err != nil {
		return err
	}
	s.charts = append(s.charts, chartRef{file, "fleet propagation p99 against the number of validators"})
	return nil
}

// rawFleet is the fleet's figures for results.json.
func rawFleet(sizes []*fleetSize) []map[string]any {
	raw := []map[string]any{}
	for _, fs := range sizes {
		rates := []map[string]any{}
		for _, fr := range fs.rates {
			rates = append(rates, map[string]any{"rate": fr.rate, "p50_ns": fr.p50, "p99_ns": fr.p99, "p999_ns": fr.p999, "max_ns": fr.max,
				"missing": fr.missing, "writes_per_s": fr.achieved, "cpu_ns_per_event_per_validator": fr.cpuPerEvent,
				"floor_cpu_ns_per_event_per_subscriber": fr.floorPerEvent, "own_cpu_ns_per_event_per_validator": fr.ownPerEvent,
				"cpu_ns_per_floor_phase": fr.floorPhase, "floor_p50_ns": fr.floorP50, "floor_p99_ns": fr.floorP99,
				"floor_max_ns": fr.floorMax, "floor_missing": fr.floorMiss,
				"gc_cores_live": fr.gcCores, "gc_cycles_live": fr.gcCycles, "floor_gc_cores_live": fr.floorGCCores,
				"base_cpu_ns_per_event": fr.baseCPUPerEvent, "base_cpu_ns_per_event_before": fr.baseBefore,
				"base_cpu_ns_per_event_after": fr.baseAfter, "cpu_ns_per_cost_phase": fr.cpuPhase, "events": fr.events, "observations": fr.observations})
		}
		raw = append(raw, map[string]any{"validators": fs.n, "ready_s": fs.readyIn.Seconds(), "heap_per_validator_ready": fs.heapReady,
			"rss_per_validator_ready": fs.rssReady, "heap_per_validator_end": fs.heapEnd, "rss_per_validator_end": fs.rssEnd,
			"idle_cpu_ns_per_s_per_validator": fs.idleCPU, "js_api_per_s_idle": fs.apiIdle, "js_api_per_s_idle_without": fs.apiIdleBase,
			"consumers": fs.consumers, "consumers_before": fs.consumersBase, "live": fs.live, "consumers_end": fs.consumersEnd, "rates": rates})
	}
	return raw
}

// fleetTargets adds the fleet targets, each judged on the medians
// measured at the size and rate it names, or at the nearest measured (said
// in the note).
func (b *bench) fleetTargets(sizes []*fleetSize) {
	at := func(n, rate int) (*fleetSize, *fleetRate) {
		var best *fleetSize
		var bestRate *fleetRate
		for _, fs := range sizes {
			for _, fr := range fs.rates {
				if fr.rate != rate {
					continue
				}
				if best == nil || abs(fs.n-n) < abs(best.n-n) {
					best, bestRate = fs, fr
				}
			}
		}
		return best, bestRate
	}
	for _, goal := range fleetGoals {
		what := fmt.Sprintf("fleet propagation p99, %d validators at %d writes/s", goal.n, goal.rate)
		want := "≤ " + fmtNs(goal.limit)
		fs, fr := at(goal.n, goal.rate)
		if fs == nil {
			b.targetMissing(what, fleetP99Basis, want, fmt.Sprintf("no fleet was measured at %d writes/s", goal.rate))
			continue
		}
		note := ""
		if fs.n != goal.n {
			note = fmt.Sprintf("measured at %d validators; ", fs.n)
		}
		note += fmt.Sprintf("the transport floor's p99 there %s; the validators' %.1f× it", fmtNs(fr.floorP99.summary().Median), fr.p99Ratio())
		p99 := fr.p99.summary()
		if b.cfg.fleetGCOff {
			b.targetMissing(what, fleetP99Basis, want, fmt.Sprintf("-fleet-gc-off, an experiment: with the collector paused the validators measured %s (median of rounds); %s",
				fmtNs(p99.Median), note))
			continue
		}
		b.judge(target{what: what, basis: fleetP99Basis, goal: want, figure: fmtNs(p99.Median) + " (median of rounds; max over rounds " + fmtNs(p99.Max) + ")",
			note: note, over: fr.p99, per: "round", limit: goal.limit * (1 - fleetMargin), atMost: true})
	}
	var missing float64
	var pairs int
	for _, fs := range sizes {
		for _, fr := range fs.rates {
			for _, m := range fr.missing {
				missing += m
			}
			pairs += fr.events * fs.n
		}
	}
	if len(sizes) > 0 {
		b.judge(target{what: "fleet: write × validator pairs missing", basis: "absolute (exact)", goal: "0", figure: fmt.Sprintf("%.0f of %d", missing, pairs), met: missing == 0})
		big := sizes[len(sizes)-1]
		note := fmt.Sprintf("at %d validators", big.n)
		b.judge(target{what: "validator RSS, idle", basis: absolute("10%: ≤ 1.8 MB"), goal: "≤ 2 MB",
			figure: fmtBytes(big.rssReady) + " per validator (heap " + fmtBytes(big.heapReady) + ")", note: note, met: big.rssReady <= 2e6*(1-fleetMargin)})
		// CPU at the highest rate, at the largest size that measured it.
		var fr *fleetRate
		for _, fs := range sizes {
			for _, r := range fs.rates {
				if fr == nil || r.rate >= fr.rate {
					fr, big = r, fs
				}
			}
		}
		if fr == nil {
			return
		}
		note = fmt.Sprintf("at %d validators", big.n)
		// Judged on blnode's own: the transport floor alone, what the
		// servers and the kernel spend per subscriber, is above 2 µs
		// on this kind of machine.
		cpu, own, floor := fr.cpuPerEvent.summary(), fr.ownPerEvent.summary(), fr.floorPerEvent.summary()
		got := fmt.Sprintf("%s over the transport floor (median of rounds; %s in all, the floor %s)", fmtNs(own.Median), fmtNs(cpu.Median), fmtNs(floor.Median))
		if cpu.Median < 0 || floor.Median < 0 {
			b.targetMissing("validator CPU per live event, over the transport floor", absolute("10%: ≤ 1.8 µs"), "≤ 2 µs", fmt.Sprintf("%s, %d writes/s: %s, below the noise of the whole process's CPU",
				note, fr.rate, got))
			return
		}
		b.judge(target{what: "validator CPU per live event, over the transport floor", basis: absolute("10%: ≤ 1.8 µs"), goal: "≤ 2 µs", figure: got,
			note: fmt.Sprintf("%s, %d writes/s", note, fr.rate), over: fr.ownPerEvent, per: "round", limit: 2e3 * (1 - fleetMargin), atMost: true})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
