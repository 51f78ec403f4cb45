package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/observe"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// The regions scenario: a multi-region fleet in one process, laid out as
// deploy/multi-region lays out a real one. Each region is one in-process
// nats-server with JetStream and a domain of its own; region 0 is the hub,
// every other region's server is joined to it by a leaf node connection in
// the same account, which, as in deploy/multi-region, lets no event subject
// (blnode.ev.>) cross. A region's full node writes to the region's stream
// BLNODE_<R>, and every node follows the region's aggregate BLNODE_ALL,
// which sources every region's write stream (those of other regions
// through their domain's API, $JS.<domain>.API) and republishes what it
// stores on a subject of its region's own (regionsLive), for validators
// that follow the republished copy rather than a consumer.
const (
	regionsAggregate = "BLNODE_ALL"
	regionsLive      = "blnode.ev_live" // BLNODE_ALL of region r republishes blnode.ev.> to regionsLive.<r>.>
)

// regionName is region i's name: the events' subject region and its
// JetStream domain.
func regionName(i int) string { return "r" + strconv.Itoa(i) }

// regionStream is region i's write stream.
func regionStream(i int) string { return "BLNODE_R" + strconv.Itoa(i) }

// regionSite is one simulated region.
type regionSite struct {
	name       string // r0, r1, …
	stream     string // BLNODE_R0, …
	server     *server.Server
	nc         *nats.Conn          // blbench's own connection, for stream set-up and counts
	js         jetstream.JetStream // on nc
	full       *node.Node
	writer     *fleet // blacklists through full as the fleet scenario's writer does
	validators []*node.Node

	rate, count              int    // a live phase's writes/s and writes
	achieved                 series // writes/s the writer reached, per round
	consumersBase, consumers int    // on the region's server: before the validators, once they are ready
	onAggregate, onWrite     int    // consumers on BLNODE_ALL and on the write stream once the validators are ready
	aggregate, written       uint64 // messages in the region's BLNODE_ALL and write stream at the end
	liveMsgs                 uint64 // messages its write stream took during the live phases
	republished              int64  // messages on the region's live subject during the live phases
}

// regionFigures are the figures of one kind of write × validator pairs (a
// from → to cell, same-region, cross-region, all), one per round.
type regionFigures struct {
	p50, p99, p999, max series // ns
	missing             series // pairs not seen within fleetSettle
	pairs               int    // pairs of one round
}

// record adds a round's figures: lat, sorted, of want pairs.
func (f *regionFigures) record(lat []time.Duration, want int) {
	f.p50 = append(f.p50, pct(lat, 0.5))
	f.p99 = append(f.p99, pct(lat, 0.99))
	f.p999 = append(f.p999, pct(lat, 0.999))
	f.max = append(f.max, pct(lat, 1))
	f.missing = append(f.missing, float64(want-len(lat)))
	f.pairs = want
}

func (f *regionFigures) missed() float64 {
	var m float64
	for _, x := range f.missing {
		m += x
	}
	return m
}

func (f *regionFigures) raw() map[string]any {
	return map[string]any{"pairs_per_round": f.pairs, "p50_ns": f.p50, "p99_ns": f.p99, "p999_ns": f.p999, "max_ns": f.max, "missing": f.missing}
}

// regionsRun is what the scenario measured.
type regionsRun struct {
	sites               []*regionSite
	perRegion           int // validators per region
	readyIn             time.Duration
	heapReady, rssReady float64 // bytes per validator, over the process before they started
	heapEnd, rssEnd     float64 // bytes per validator after the last round, over the process once they have closed
	cells               [][]*regionFigures
	same, cross, all    regionFigures
	watch               observe.Watch // validator i (of every region, in order) reports through watch.Hook(i)
	cpu                 series        // this process's CPU over a live phase, in CPUs (CPU time ÷ wall time), per round
	writes              int           // writes of one round
	observations        int
}

// runRegions measures a multi-region fleet in one process: a hub and leaf
// servers, a full node and validators per region, writes in every region
// at once, and the latency from each region to every other.
func (b *bench) runRegions(ctx context.Context, s *section) error {
	rr, rs, err := b.setUpRegions(ctx)
	if err != nil {
		return err
	}
	defer rs.stop.run()
	if err := b.startRegionFulls(ctx, rr, rs); err != nil {
		return err
	}
	if err := b.startRegionValidators(ctx, rr, rs); err != nil {
		return err
	}
	for round := range b.cfg.rounds {
		if err := rr.live(ctx, b, rs.all, round); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
	}
	if err := rr.readEnd(ctx, rs); err != nil {
		return err
	}
	return b.reportRegions(s, rr)
}

// regionsSetUp is what the regions scenario started, stopped by its
// clean-ups.
type regionsSetUp struct {
	root   string
	runCtx context.Context // the nodes run until the clean-up ends it
	fulls  []*node.Node    // one per region
	// all are the validators, region-major: validator j of region i is
	// all[i*perRegion+j].
	all             []*node.Node
	closeValidators func() // idempotent; the clean-up calls it too
	stop            cleanups
}

// setUpRegions is the regions scenario's set-up: the servers (a hub and
// leaf nodes, a JetStream domain each), a connection to each, every
// region's rate and the streams. On error it stops what it started.
func (b *bench) setUpRegions(ctx context.Context) (_ *regionsRun, _ *regionsSetUp, err error) {
	cfg := b.cfg
	rs := &regionsSetUp{}
	defer func() {
		if err != nil {
			rs.stop.run()
		}
	}()
	if rs.root, err = b.dir("regions"); err != nil {
		return nil, nil, err
	}
	b.logf("regions: starting %d NATS servers (a hub and %d leaf nodes, a JetStream domain each)", cfg.regionsCount, cfg.regionsCount-1)
	servers, err := startRegionServers(ctx, cfg.regionsCount, filepath.Join(rs.root, "nats"))
	if err != nil {
		return nil, nil, err
	}
	rs.stop.add(servers.shutdown)
	rr := &regionsRun{perRegion: cfg.regionsValidators}
	rr.cells = make([][]*regionFigures, cfg.regionsCount)
	for from := range rr.cells {
		rr.cells[from] = make([]*regionFigures, cfg.regionsCount)
		for to := range rr.cells[from] {
			rr.cells[from][to] = &regionFigures{}
		}
	}
	for i, srv := range servers {
		site := &regionSite{name: regionName(i), stream: regionStream(i), server: srv}
		rr.sites = append(rr.sites, site)
		if site.nc, err = nats.Connect(srv.ClientURL(), nats.Name("blbench regions "+site.name)); err != nil {
			return nil, nil, err
		}
		rs.stop.add(site.nc.Close)
		if site.js, err = jetstream.New(site.nc); err != nil {
			return nil, nil, err
		}
	}
	// Rates: the total spread evenly over the regions, the remainder one
	// write/s each to the first regions.
	for i, site := range rr.sites {
		site.rate = cfg.regionsRate / len(rr.sites)
		if i < cfg.regionsRate%len(rr.sites) {
			site.rate++
		}
		site.count = max(int(float64(site.rate)*cfg.regionsDur.Seconds()), 1)
		rr.writes += site.count
	}
	if err := provisionRegions(ctx, rr.sites); err != nil {
		return nil, nil, err
	}
	return rr, rs, nil
}

// startRegionFulls starts one full node per region (each region's writer),
// waits until they are ready, and warms up: one write in each region, seen
// by every region's full node, so that every source of every aggregate is
// flowing before anything is measured. It notes the consumers on each
// server before the validators.
func (b *bench) startRegionFulls(ctx context.Context, rr *regionsRun, rs *regionsSetUp) error {
	exp := time.Now().Add(24 * time.Hour).Unix()
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	rs.runCtx = runCtx
	rs.stop.add(stop)
	var running sync.WaitGroup
	rs.stop.add(func() {
		stop()
		running.Wait()
		for _, n := range rs.fulls {
			n.Close()
		}
	})
	for _, site := range rr.sites {
		var err error
		site.full, err = node.New(node.Config{
			DataDir: filepath.Join(rs.root, site.name, "full"), Role: node.RoleFull, NodeID: "regions-" + site.name + "-full", Region: site.name,
			Token: token.Config{HSSecret: []byte(benchSecret)}, FlushInterval: -1,
			NATS:   node.NATSConfig{URLs: []string{site.server.ClientURL()}},
			Stream: events.StreamConfig{Name: site.stream}, ReadStream: regionsAggregate, NoProvisionStream: true,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return fmt.Errorf("full node of %s: %w", site.name, err)
		}
		rs.fulls = append(rs.fulls, site.full)
		running.Go(func() { site.full.Run(runCtx) })
		site.writer = &fleet{b: b, full: site.full, exp: exp}
	}
	fulls := rs.fulls
	if err := poll.Until(ctx, startTimeout, 10*time.Millisecond, func() error { return allReady(fulls, "full node") }); err != nil {
		return err
	}
	var warm []string
	for _, site := range rr.sites {
		if _, err := site.writer.write(ctx, 1, 1, "regions-warm-"+site.name, nil); err != nil {
			return fmt.Errorf("warm-up in %s: %w", site.name, err)
		}
		warm = append(warm, "regions-warm-"+site.name+"-0")
	}
	if err := poll.Until(ctx, startTimeout, 10*time.Millisecond, func() error { return haveAll(fulls, warm) }); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for _, site := range rr.sites {
		var err error
		if site.consumersBase, err = serverConsumers(site.server); err != nil {
			return err
		}
	}
	return nil
}

// startRegionValidators starts V validators per region, each with its own
// data dir, connection, subscription and replica, waits until they are
// ready, and takes the readings of a ready fleet: memory per validator
// over the process before them, and the consumers on each server and
// stream.
func (b *bench) startRegionValidators(ctx context.Context, rr *regionsRun, rs *regionsSetUp) error {
	n := len(rr.sites) * rr.perRegion
	heap0, rss0 := settledMemory()
	b.logf("regions: starting %d validators (%d per region)", n, rr.perRegion)
	vctx, vstop := context.WithCancel(rs.runCtx)
	var vrunning sync.WaitGroup
	closed := false
	rs.closeValidators = func() {
		if closed {
			return
		}
		closed = true
		vstop()
		vrunning.Wait()
		for _, v := range rs.all {
			v.Close()
		}
	}
	rs.stop.add(rs.closeValidators)
	t0 := time.Now()
	for _, site := range rr.sites {
		for j := range rr.perRegion {
			v, err := node.New(node.Config{
				DataDir: filepath.Join(rs.root, site.name, fmt.Sprintf("validator-%d", j+1)), Role: node.RoleValidator,
				NodeID: fmt.Sprintf("regions-%s-v%d", site.name, j+1), Region: site.name,
				Token: token.Config{HSSecret: []byte(benchSecret)}, FlushInterval: -1,
				NATS:       node.NATSConfig{URLs: []string{site.server.ClientURL()}},
				ReadStream: regionsAggregate, Logger: slog.New(slog.DiscardHandler), OnBlacklisted: rr.watch.Hook(len(rs.all)),
			})
			if err != nil {
				return fmt.Errorf("validator %d of %s: %w", j+1, site.name, err)
			}
			site.validators = append(site.validators, v)
			rs.all = append(rs.all, v)
			vrunning.Go(func() { v.Run(vctx) })
		}
	}
	all := rs.all
	if err := poll.Until(ctx, fleetReady, 10*time.Millisecond, func() error { return allReady(all, "validator") }); err != nil {
		return err
	}
	rr.readyIn = time.Since(t0)
	heap, rss := settledMemory()
	rr.heapReady, rr.rssReady = (heap-heap0)/float64(n), (rss-rss0)/float64(n)
	for _, site := range rr.sites {
		var err error
		if site.consumers, err = serverConsumers(site.server); err != nil {
			return err
		}
		if site.onAggregate, err = streamConsumers(ctx, site.js, regionsAggregate); err != nil {
			return err
		}
		if site.onWrite, err = streamConsumers(ctx, site.js, site.stream); err != nil {
			return err
		}
	}
	b.logf("regions: %d validators ready in %v; per validator heap %s, RSS %s", n, rr.readyIn.Round(time.Millisecond),
		fmtBytes(rr.heapReady), fmtBytes(rr.rssReady))
	return nil
}

// readEnd takes the readings after the rounds: the messages in each
// region's stream and aggregate, and the memory per validator, over the
// process once they have closed (it closes them).
func (rr *regionsRun) readEnd(ctx context.Context, rs *regionsSetUp) error {
	n := len(rs.all)
	for _, site := range rr.sites {
		var err error
		if site.written, err = streamMsgs(ctx, site.js, site.stream); err != nil {
			return err
		}
		if site.aggregate, err = streamMsgs(ctx, site.js, regionsAggregate); err != nil {
			return err
		}
	}
	heapEnd, rssEnd := settledMemory()
	rs.closeValidators()
	heap1, rss1 := settledMemory()
	rr.heapEnd, rr.rssEnd = (heapEnd-heap1)/float64(n), (rssEnd-rss1)/float64(n)
	return nil
}

// live is one round: writes in every region at once, each region's share
// of the rate through its full node, open loop, while every validator
// reports what comes in force (rr.watch); that is sorted into from → to
// cells.
func (rr *regionsRun) live(ctx context.Context, b *bench, all []*node.Node, round int) error {
	checks := make([]func(string) (bool, error), len(all))
	for i, v := range all {
		checks[i] = v.Check
	}
	written0 := make([]uint64, len(rr.sites))
	for i, site := range rr.sites {
		var err error
		if written0[i], err = streamMsgs(ctx, site.js, site.stream); err != nil {
			return err
		}
	}
	// What each region's aggregate republishes, counted on the region's
	// own live subject by a core subscription on blbench's connection.
	counts := make([]atomic.Int64, len(rr.sites))
	for i, site := range rr.sites {
		sub, err := site.nc.Subscribe(regionsLive+"."+site.name+".>", func(*nats.Msg) { counts[i].Add(1) })
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		if err := site.nc.Flush(); err != nil {
			return err
		}
	}
	// One source per writing region: a validator's latencies then come
	// sorted by the region the write came from.
	tags := make([]string, len(rr.sites))
	sources := make([]observe.Source, len(rr.sites))
	for i, site := range rr.sites {
		tags[i] = fmt.Sprintf("regions-live-%d-%s", round, site.name)
		sources[i] = observe.Source{Prefix: writePrefix(tags[i]), Count: site.count}
	}
	base := time.Now()
	cpu0 := selfCPU()
	phase := rr.watch.Start(base, checks, sources...)
	defer rr.watch.Stop()
	var writing sync.WaitGroup
	errs := make([]error, len(rr.sites))
	achieved := make([]float64, len(rr.sites))
	for i, site := range rr.sites {
		writing.Go(func() {
			achieved[i], errs[i] = site.writer.write(ctx, site.count, site.rate, tags[i], func(k int, _ string) { phase.Acked(i, k) })
		})
	}
	writing.Wait()
	wctx, cancel := context.WithTimeout(ctx, fleetSettle)
	werr := phase.Wait(wctx)
	cancel()
	rr.watch.Stop()
	cpu := float64(selfCPU()-cpu0) / float64(time.Since(base))
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("writes in %s: %w", rr.sites[i].name, err)
		}
	}
	if werr != nil {
		return werr
	}
	for i, site := range rr.sites {
		written, err := streamMsgs(ctx, site.js, site.stream)
		if err != nil {
			return err
		}
		site.liveMsgs += written - written0[i]
		site.republished += counts[i].Load()
		site.achieved = append(site.achieved, achieved[i])
	}
	return rr.record(b, phase, all, round, cpu)
}

// record sorts a round's latencies (phase's, of every validator of all)
// into from → to cells and the same-region, cross-region and overall
// figures, with the process's CPU over the phase, and logs the round.
func (rr *regionsRun) record(b *bench, phase *observe.Phase, all []*node.Node, round int, cpu float64) error {
	cells := make([][][]time.Duration, len(rr.sites))
	for from := range rr.sites {
		cells[from] = make([][]time.Duration, len(rr.sites))
		for i := range all {
			lat, err := phase.Latencies(i, from)
			if err != nil {
				return fmt.Errorf("validator %s: %w", all[i].ID(), err)
			}
			to := i / rr.perRegion
			cells[from][to] = append(cells[from][to], lat...)
		}
	}
	var same, cross []time.Duration
	var sameWant, crossWant int
	for from, row := range cells {
		for to, lat := range row {
			slices.Sort(lat)
			want := rr.sites[from].count * rr.perRegion
			rr.cells[from][to].record(lat, want)
			if from == to {
				same, sameWant = append(same, lat...), sameWant+want
			} else {
				cross, crossWant = append(cross, lat...), crossWant+want
			}
		}
	}
	slices.Sort(same)
	slices.Sort(cross)
	rr.same.record(same, sameWant)
	rr.cross.record(cross, crossWant)
	both := append(same, cross...)
	slices.Sort(both)
	rr.all.record(both, sameWant+crossWant)
	rr.observations += len(both)
	rr.cpu = append(rr.cpu, cpu)
	last := func(s series) string { return fmtNs(s[len(s)-1]) }
	b.logf("regions round %d: same-region p50 %s p99 %s max %s, %.0f missing; cross-region p50 %s p99 %s max %s, %.0f missing; the process used %.2f CPUs",
		round+1, last(rr.same.p50), last(rr.same.p99), last(rr.same.max), rr.same.missing[len(rr.same.missing)-1],
		last(rr.cross.p50), last(rr.cross.p99), last(rr.cross.max), rr.cross.missing[len(rr.cross.missing)-1], cpu)
	return nil
}

// startRegionServers starts n servers under dir, server i with JetStream
// in domain regionName(i); server 0 is the hub and listens for leaf nodes,
// every other one connects to it as a leaf node (the same account, the
// global one), denying event subjects both ways as deploy/multi-region's
// leaf remotes do. It waits until every leaf connection is up.
func startRegionServers(ctx context.Context, n int, dir string) (natsServers, error) {
	leafPort, err := freePort()
	if err != nil {
		return nil, err
	}
	hubURL, err := url.Parse(fmt.Sprintf("nats-leaf://127.0.0.1:%d", leafPort))
	if err != nil {
		return nil, err
	}
	deny := []string{events.DefaultPrefix + ".>"}
	var ns natsServers
	for i := range n {
		opts := &server.Options{
			ServerName: "region-" + regionName(i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, JetStreamDomain: regionName(i), StoreDir: filepath.Join(dir, regionName(i)), NoLog: true, NoSigs: true,
		}
		if i == 0 {
			opts.LeafNode = server.LeafNodeOpts{Host: "127.0.0.1", Port: leafPort}
		} else {
			opts.LeafNode = server.LeafNodeOpts{ReconnectInterval: time.Second, Remotes: []*server.RemoteLeafOpts{{
				URLs: []*url.URL{hubURL}, DenyImports: deny, DenyExports: deny,
			}}}
		}
		s, err := startNATS(opts)
		if err != nil {
			ns.shutdown()
			return nil, err
		}
		ns = append(ns, s)
	}
	err = poll.Until(ctx, startTimeout, 20*time.Millisecond, func() error {
		if got := ns[0].NumLeafNodes(); got != n-1 {
			return fmt.Errorf("the hub has %d leaf connections of %d", got, n-1)
		}
		for _, s := range ns[1:] {
			if s.NumLeafNodes() != 1 {
				return fmt.Errorf("%s is not connected to the hub", s.Name())
			}
		}
		return nil
	})
	if err != nil {
		ns.shutdown()
		return nil, fmt.Errorf("leaf nodes: %w", err)
	}
	return ns, nil
}

// provisionRegions creates, in every region, the write stream (as
// deploy/multi-region/streams/*/BLNODE_<R>.json) and the aggregate that
// sources every region's write stream, allows direct gets and republishes
// what it stores to the region's own live subject.
func provisionRegions(ctx context.Context, sites []*regionSite) error {
	for _, site := range sites {
		if _, err := events.EnsureStream(ctx, site.js, events.StreamConfig{Name: site.stream,
			Subjects: []string{events.DefaultPrefix + "." + site.name + ".>"}}); err != nil {
			return fmt.Errorf("%s: %w", site.name, err)
		}
	}
	for _, site := range sites {
		var sources []*jetstream.StreamSource
		for _, other := range sites {
			src := &jetstream.StreamSource{Name: other.stream}
			if other != site {
				src.External = &jetstream.ExternalStream{APIPrefix: "$JS." + other.name + ".API"}
			}
			sources = append(sources, src)
		}
		sc := jetstream.StreamConfig{
			Name:        regionsAggregate,
			Description: "every region's blnode events, as the nodes of region " + site.name + " follow them",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld,
			MaxAge: events.DefaultMaxAge, Duplicates: events.DefaultDuplicates, MaxMsgSize: events.MaxEventSize + 4096,
			AllowMsgTTL: true, AllowDirect: true, Sources: sources,
			RePublish: &jetstream.RePublish{Source: events.DefaultPrefix + ".>", Destination: regionsLive + "." + site.name + ".>"},
		}
		// The leaf links have only just come up: the first creation may
		// still fail on the way to another domain; retried, bounded.
		err := poll.Until(ctx, startTimeout, 100*time.Millisecond, func() error {
			_, err := site.js.CreateOrUpdateStream(ctx, sc)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s %s: %w", site.name, regionsAggregate, err)
		}
	}
	return nil
}

// allReady reports the first of nodes that is not ready.
func allReady(nodes []*node.Node, what string) error {
	for i, n := range nodes {
		if !n.Ready() {
			return fmt.Errorf("%s %d of %d (%s) not ready", what, i+1, len(nodes), n.ID())
		}
	}
	return nil
}

// haveAll reports the first node that does not hold one of jtis as
// blacklisted.
func haveAll(nodes []*node.Node, jtis []string) error {
	for _, n := range nodes {
		for _, jti := range jtis {
			ok, err := n.Check(jti)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s has not seen %s", n.ID(), jti)
			}
		}
	}
	return nil
}

// serverConsumers is the number of consumers s holds, over every stream.
func serverConsumers(s *server.Server) (int, error) {
	jsz, err := s.Jsz(&server.JSzOptions{})
	if err != nil {
		return 0, fmt.Errorf("jsz %s: %w", s.Name(), err)
	}
	return jsz.Consumers, nil
}

// streamMsgs is the number of messages in the stream name.
func streamMsgs(ctx context.Context, js jetstream.JetStream, name string) (uint64, error) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	return st.CachedInfo().State.Msgs, nil
}

// streamConsumers is the number of consumers on the stream name.
func streamConsumers(ctx context.Context, js jetstream.JetStream, name string) (int, error) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	return st.CachedInfo().State.Consumers, nil
}

// reportRegions writes the regions scenario's section: the layout, how
// propagation was measured, the figures by pairs, by region and per
// validator; regionsTargets judges the target.
func (b *bench) reportRegions(s *section, rr *regionsRun) error {
	cfg := b.cfg
	n := len(rr.sites) * rr.perRegion
	s.para("One process holds %d regions laid out as `deploy/multi-region` lays out two: each region is one in-process nats-server with "+
		"JetStream and a JetStream domain of its own (one server per region, not a 3-server cluster: this machine has %d CPUs), region r0 "+
		"the hub and every other region's server a leaf node of it (the same account; the leaf links deny `blnode.ev.>` both ways, as "+
		"deploy/multi-region's do), all on loopback. Each region has its write stream `BLNODE_<R>` (`blnode.ev.<r>.>`) and its aggregate "+
		"`BLNODE_ALL`, which sources every region's write stream (another region's through `$JS.<domain>.API`, over the leaf links), "+
		"allows direct gets and republishes what it stores to `%s.<r>.>`, a subject of the region's own. Per region: one full node "+
		"(`node.New`, role full, writing `BLNODE_<R>`, following `BLNODE_ALL`, not provisioning) and %d validators (`node.New`, role "+
		"validator, following `BLNODE_ALL`), each with its own data dir, NATS connection to its region's server, subscription and replica: "+
		"%d validators in all.",
		len(rr.sites), runtime.NumCPU(), regionsLive, rr.perRegion, n)
	s.para("**Writes**: %d blacklistings/s in total, spread over the regions and made at once in every region, each region's through "+
		"its full node's `Blacklist` (durable, with its outbox entry), open loop, at most %d in flight per region, as the fleet scenario writes; "+
		"%d rounds, each a live phase of %v. **Propagation**: for every write × validator, the time from `Blacklist` returning to that "+
		"validator's in-process `Check` answering true: "+watchMethod+" "+
		"A pair not seen %v after a round's last write is **missing**. Same-region pairs are a write and a validator of the same region "+
		"(through the region's own write stream and aggregate); cross-region pairs go through the leaf links (the aggregate of the "+
		"validator's region sourcing the writer's region's stream). Percentiles are over every pair of a round; the tables give min / "+
		"median / max over rounds. This process (every server, node and writer) used %s of the machine's %d CPUs over a live "+
		"phase and its settling (getrusage, min / median / max over rounds); the load average in the machine section says what else ran.",
		cfg.regionsRate, fleetSlots, cfg.rounds, cfg.regionsDur, fleetSettle,
		rr.cpu.summary().format(fmtFloat(2, "")), runtime.NumCPU())
	t := s.table(fmt.Sprintf("Propagation, write acknowledged → validator's check true, min / **median** / max over %d rounds", cfg.rounds),
		"pairs", "write × validator pairs per round", "p50", "p99", "p99.9", "max", "missing (all rounds)")
	for _, row := range []struct {
		name string
		f    *regionFigures
	}{{"same region", &rr.same}, {"cross region", &rr.cross}, {"all", &rr.all}} {
		t.row(row.name, strconv.Itoa(row.f.pairs), row.f.p50.summary().format(fmtNs), row.f.p99.summary().format(fmtNs),
			row.f.p999.summary().format(fmtNs), row.f.max.summary().format(fmtNs), fmt.Sprintf("%.0f", row.f.missed()))
	}
	header := []string{"from ↓ to →"}
	for _, site := range rr.sites {
		header = append(header, site.name)
	}
	m := s.table("p99 by the writer's region (rows) and the validator's region (columns), median of rounds; missing pairs (all rounds) in brackets where any", header...)
	for from, row := range rr.cells {
		cells := []string{rr.sites[from].name}
		for _, c := range row {
			cell := fmtNs(c.p99.summary().Median)
			if c.missed() > 0 {
				cell += fmt.Sprintf(" (%.0f missing)", c.missed())
			}
			cells = append(cells, cell)
		}
		m.row(cells...)
	}
	var total, live uint64
	for _, site := range rr.sites {
		total, live = total+site.written, live+site.liveMsgs
	}
	r := s.table("Regions", "region", "role", "writes/s (achieved, median of rounds)", "writes per round", "messages in BLNODE_<R> (live phases)",
		"consumers on its server (before the validators)", "consumers on BLNODE_ALL", "consumers on BLNODE_<R>", "messages in its BLNODE_ALL at the end",
		"republished on its live subject (live phases)")
	for i, site := range rr.sites {
		role := "leaf node of r0"
		if i == 0 {
			role = "hub"
		}
		r.row(site.name, role, fmt.Sprintf("%d (%.0f)", site.rate, site.achieved.summary().Median), strconv.Itoa(site.count),
			fmt.Sprintf("%d (%d)", site.written, site.liveMsgs), fmt.Sprintf("%d (%d)", site.consumers, site.consumersBase),
			strconv.Itoa(site.onAggregate), strconv.Itoa(site.onWrite), strconv.FormatUint(site.aggregate, 10), strconv.FormatInt(site.republished, 10))
	}
	c := s.table("Cost of a validator", "validators", "ready in", "heap per validator (ready)", "RSS per validator (ready)",
		"heap per validator (end)", "RSS per validator (end)")
	c.row(strconv.Itoa(n), rr.readyIn.Round(time.Millisecond).String(), fmtBytes(rr.heapReady), fmtBytes(rr.rssReady),
		fmtBytes(rr.heapEnd), fmtBytes(rr.rssEnd))
	s.para("**Memory per validator** as in the fleet scenario: Go heap in use and VmRSS after `debug.FreeOSMemory`, ÷ %d: once all are "+
		"ready, over the readings before they started; after the last round, over the readings once they have closed (at a few "+
		"validators within the noise of the process). **Consumers**: every consumer the region's server reports (`Jsz`), once the "+
		"validators are ready and before they started, and the consumer counts of the region's two streams (stream info) once they are "+
		"ready. A full node publishes the events of one commit in one message (`EventsPerMessage`), so messages are at most writes (a "+
		"write stream's count in brackets is what it took during the live phases). Every region's aggregate should end with every "+
		"message of every write stream, %d; and each region's live subject `%s.<r>.>` (counted by a core subscription in that region "+
		"during the live phases) should carry every message the write streams took in the live phases once, %d: the copies "+
		"republished in other regions do not reach it.", n, total, regionsLive, live)

	b.regionsTargets(rr)
	return nil
}

// regionsTargets judges the regions target (no pair missing) and keeps
// the figures for results.json.
func (b *bench) regionsTargets(rr *regionsRun) {
	cfg := b.cfg
	b.judge(target{what: "regions: write × validator pairs missing", basis: "absolute (exact)", goal: "0",
		figure: fmt.Sprintf("%.0f of %d", rr.all.missed(), rr.all.pairs*len(rr.all.missing)),
		note:   fmt.Sprintf("%d regions × %d validators", len(rr.sites), rr.perRegion), met: rr.all.missed() == 0})
	var cells []map[string]any
	for from, row := range rr.cells {
		for to, c := range row {
			f := c.raw()
			f["from"], f["to"] = rr.sites[from].name, rr.sites[to].name
			cells = append(cells, f)
		}
	}
	var sites []map[string]any
	for _, site := range rr.sites {
		sites = append(sites, map[string]any{"region": site.name, "rate": site.rate, "writes_per_round": site.count, "writes_per_s": site.achieved,
			"consumers": site.consumers, "consumers_before": site.consumersBase, "consumers_aggregate": site.onAggregate,
			"consumers_write_stream": site.onWrite, "aggregate_msgs": site.aggregate, "write_stream_msgs": site.written,
			"write_stream_msgs_live": site.liveMsgs, "republished": site.republished})
	}
	b.raw["regions"] = map[string]any{"regions": len(rr.sites), "validators_per_region": rr.perRegion, "rate": cfg.regionsRate,
		"duration_s": cfg.regionsDur.Seconds(), "rounds": cfg.rounds, "writes_per_round": rr.writes, "ready_s": rr.readyIn.Seconds(), "cpus_live": rr.cpu,
		"heap_per_validator_ready": rr.heapReady, "rss_per_validator_ready": rr.rssReady,
		"heap_per_validator_end": rr.heapEnd, "rss_per_validator_end": rr.rssEnd, "observations": rr.observations,
		"same": rr.same.raw(), "cross": rr.cross.raw(), "all": rr.all.raw(), "cells": cells, "sites": sites}
}
