package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// The join scenario: one NATS server, one full node holding N revocations,
// its snapshot, a tail of events after it; then validators join from empty
// data dirs: one alone (with the snapshot, and a peer without it), and
// -join-validators at once; and the memory a validator holding the set
// costs.
const (
	joinTailPercent = 1                // events published after the snapshot, % of N (at least 2)
	joinFillLimit   = 15 * time.Minute // longest publish of the events
	joinReadyLimit  = 10 * time.Minute // longest wait for a node or the validators to be ready
	joinPoll        = 5 * time.Millisecond
	joinMemShare    = 0.7                  // of the memory available, the most the validators started together may take
	joinMemFloor    = 1 << 30              // stop them when less than this is left available
	joinEmptyStream = "BLBENCH_JOIN_EMPTY" // the stream the empty validator follows
	joinEmptyPrefix = "blbench.joinempty"
	joinSettle      = 45 * time.Second // longest wait for the process's memory to settle before a reading
	joinCacheExpiry = 12 * time.Second // nats-server's filestore drops a block's cache 10 s after its last use
)

// The join targets.
const (
	joinGoalOne     = time.Second      // one empty validator at 1M
	joinGoalFleet   = 60 * time.Second // all of 100 started together at 1M
	joinGoalBytes   = 100.0            // memory per live revocation at 1M
	joinGoalEvents  = 1_000_000
	joinGoalFleetOf = 100
)

// joinMem is what one validator adds to the process: heap in use and RSS
// (anonymous and file-backed) after a GC, over the reading before it
// started.
type joinMem struct {
	heap, rss, anon, file float64
}

// fmtSignedBytes is fmtBytes of a difference, which may be negative (a
// small one is within the noise of a whole process's figures).
func fmtSignedBytes(v float64) string {
	if v < 0 {
		return "−" + fmtBytes(-v)
	}
	return fmtBytes(v)
}

// memStable is memReading after -mem-expiry (joinCacheExpiry by
// default), once two readings a second apart agree within 1 MiB of heap
// and 2 MiB of RSS, or the last after -mem-settle (joinSettle): the in-process NATS
// server keeps the blocks of a stream it has just written or read cached
// for up to 10 s, and nodes merge their journals in the background.
// -quick waits less: its memory figures are not asserted.
func (b *bench) memStable() joinMem {
	time.Sleep(b.cfg.memExpiry)
	prev := memReading()
	for deadline := time.Now().Add(b.cfg.memSettle); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		cur := memReading()
		if math.Abs(cur.heap-prev.heap) < 1<<20 && math.Abs(cur.rss-prev.rss) < 2<<20 {
			return cur
		}
		prev = cur
	}
	return prev
}

func memReading() joinMem {
	heap, _ := settledMemory()
	st, _ := readProcStat(os.Getpid())
	return joinMem{heap: heap, rss: float64(st.rss), anon: float64(st.rssAnon), file: float64(st.rssFile)}
}

func (m joinMem) sub(o joinMem) joinMem {
	return joinMem{heap: m.heap - o.heap, rss: m.rss - o.rss, anon: m.anon - o.anon, file: m.file - o.file}
}

func (m joinMem) per(n int) joinMem {
	d := float64(max(n, 1))
	return joinMem{heap: m.heap / d, rss: m.rss / d, anon: m.anon / d, file: m.file / d}
}

// tail is from the snapshot loaded to Ready; 0 if it did not join from
// one.
func (o *joinOne) tail() time.Duration {
	if !o.snapshot {
		return 0
	}
	return o.ready - o.newTook - o.log.snapshotPhase()
}

// joinOne is one validator joining alone.
type joinOne struct {
	ready    time.Duration // node.New until Ready
	newTook  time.Duration // node.New
	applied  uint64        // events the subscriber applied (the tail, after a snapshot)
	log      *joinLog
	snapshot bool // it joined from the snapshot
}

// joinFleet is -join-validators started together.
type joinFleet struct {
	n, wanted       int
	all             time.Duration // the first node.New until the last Ready
	each            []float64     // ns from each one's node.New to its Ready, sorted
	fromSnapshot    int           // that joined from the snapshot
	why             map[string]int
	mem             joinMem // per validator, over the process before they started
	memNote         string
	memLimit        int64
	newSpread       time.Duration // the last node.New returning, after the first started
	storeBytesTotal int64
}

// joinRun is everything the scenario measured.
type joinRun struct {
	n, tail                    int
	fillTook, tailTook         time.Duration
	streamBytes, streamMsgs    uint64
	fullReady                  time.Duration
	snapTook                   time.Duration
	snapBytes                  uint64
	snapSeq                    uint64
	one, peer                  joinOne
	empty                      joinMem // the empty validator, over the process before it
	atReady, merged, afterLive joinMem // the validator holding the set, over the process with the empty one
	storeBytes                 int64
	peak                       float64 // the process's peak RSS while the validator joined alone, over the RSS before it (0: unknown)
	fleet                      *joinFleet
}

// runJoin measures empty validators joining a stream that holds a large
// revocation set: from the snapshot, without it, and many together, with
// the memory each holds.
func (b *bench) runJoin(ctx context.Context, s *section) error {
	cfg := b.cfg
	r := &joinRun{n: cfg.joinEvents, tail: max(cfg.joinEvents*joinTailPercent/100, 2)}
	st, err := b.setUpJoin(ctx)
	if err != nil {
		return err
	}
	defer st.stop.run()
	// 1. The stream: N events, the snapshot, the tail.
	if err := b.fillJoin(ctx, st, r); err != nil {
		return err
	}
	if err := b.joinTail(ctx, st, r); err != nil {
		return err
	}
	// 2. One validator at a time: empty, without the snapshot, from it.
	vs := &joinValidators{b: b, root: st.root, url: st.url}
	defer vs.close()
	if err := b.joinEmpty(ctx, st, vs, r); err != nil {
		return err
	}
	if err := b.joinPeer(ctx, st, vs, r); err != nil {
		return err
	}
	if err := b.joinFromSnapshot(ctx, s, st, vs, r); err != nil {
		return err
	}
	vs.close()

	// 3. -join-validators started together.
	r.fleet, err = vs.joinMany(ctx, cfg.joinVals, r, st.probes)
	if rerr := b.reportJoin(s, r); rerr != nil {
		return rerr
	}
	if err != nil {
		return fmt.Errorf("validators started together: %w", err)
	}
	return nil
}

// joinStream is the join scenario's stream, and the full node that follows
// it and writes its snapshot.
type joinStream struct {
	root, url string
	seed      uint64
	js        jetstream.JetStream
	stream    jetstream.Stream
	full      *node.Node
	snap      []byte   // the snapshot, until put back after the peer joined (joinPeer)
	total     int      // events in the stream: the set and the tail
	probes    []string // in the snapshot, its last, the tail's last
	stop      cleanups
}

// setUpJoin is the join scenario's set-up: a NATS server, a publisher's
// connection and the stream. On error it stops what it started.
func (b *bench) setUpJoin(ctx context.Context) (_ *joinStream, err error) {
	st := &joinStream{seed: b.cfg.seed + 9}
	defer func() {
		if err != nil {
			st.stop.run()
		}
	}()
	if st.root, err = b.dir("join"); err != nil {
		return nil, err
	}
	ns, err := startNATSServer(st.root + "/nats")
	if err != nil {
		return nil, err
	}
	st.stop.add(ns.shutdown)
	st.url = ns.urls()[0]
	nc, err := nats.Connect(st.url, nats.Name("blbench join publisher"))
	if err != nil {
		return nil, err
	}
	st.stop.add(nc.Close)
	if st.js, err = jetstream.New(nc); err != nil {
		return nil, err
	}
	if st.stream, err = events.EnsureStream(ctx, st.js, events.StreamConfig{}); err != nil {
		return nil, err
	}
	return st, nil
}

// fillJoin publishes the revocation set (N blacklist events through the
// events publisher), has a full node follow the stream (it runs until the
// scenario's clean-up), and has it write the snapshot, which holds every
// event.
func (b *bench) fillJoin(ctx context.Context, st *joinStream, r *joinRun) error {
	b.logf("join: publishing %d events", r.n)
	t0 := time.Now()
	if err := publishBlacklist(ctx, st.js, st.seed, 0, r.n); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	r.fillTook = time.Since(t0)
	b.logf("join: %d events published in %v (%s)", r.n, r.fillTook.Round(time.Millisecond), fmtRate(float64(r.n)/r.fillTook.Seconds()))

	// The full node follows the stream; its snapshot holds every event.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	st.stop.add(stop)
	t0 = time.Now()
	full, err := node.New(joinNodeConfig(st.root+"/full", node.RoleFull, "join-full", st.url, slog.New(slog.DiscardHandler)))
	if err != nil {
		return fmt.Errorf("full node: %w", err)
	}
	st.full = full
	var fullRun sync.WaitGroup
	fullRun.Go(func() { full.Run(runCtx) })
	st.stop.add(func() {
		stop()
		fullRun.Wait()
		full.Close()
	})
	if err := waitApplied(ctx, full, uint64(r.n)); err != nil {
		return fmt.Errorf("full node: %w", err)
	}
	r.fullReady = time.Since(t0)
	b.logf("join: the full node has applied the %d events in %v", r.n, r.fullReady.Round(time.Millisecond))
	t0 = time.Now()
	h, err := full.WriteSnapshot(ctx)
	if err != nil {
		return err
	}
	r.snapTook, r.snapSeq = time.Since(t0), h.Seq
	if h.Tokens != uint64(r.n) {
		return fmt.Errorf("the snapshot holds %d tokens, the stream %d events", h.Tokens, r.n)
	}
	if st.snap, err = events.GetSnapshot(ctx, st.js, events.DefaultStreamName); err != nil {
		return err
	}
	r.snapBytes = uint64(len(st.snap))
	b.logf("join: snapshot of %d tokens at seq %d, %s, written in %v", h.Tokens, h.Seq, fmtBytes(float64(r.snapBytes)), r.snapTook.Round(time.Millisecond))
	return nil
}

// joinTail publishes the tail after the snapshot, waits for the full node
// to hold everything (its journal merged), and notes the stream's size.
func (b *bench) joinTail(ctx context.Context, st *joinStream, r *joinRun) error {
	js, seed, full := st.js, st.seed, st.full
	t0 := time.Now()
	// Its last event goes alone: the full node lets go of the apply
	// buffers its catch-up grew at the first small batch (scratch.Reuse),
	// which would otherwise happen in the middle of the memory readings.
	if err := publishBlacklist(ctx, js, seed, r.n, r.tail-1); err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	if err := waitApplied(ctx, full, uint64(r.n+r.tail-1)); err != nil {
		return fmt.Errorf("full node: %w", err)
	}
	if err := publishBlacklist(ctx, js, seed, r.n+r.tail-1, 1); err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	r.tailTook = time.Since(t0)
	total := r.n + r.tail
	st.total = total
	if err := waitApplied(ctx, full, uint64(total)); err != nil {
		return fmt.Errorf("full node: %w", err)
	}
	// Counts waits for the full node's journal to be merged into its
	// record trees: the merge would otherwise free memory in the middle of
	// the validators' readings.
	if c, err := full.Store().Counts(); err != nil || c.Blacklisted != uint64(total) {
		return fmt.Errorf("the full node holds %d of %d revocations (%v)", c.Blacklisted, total, err)
	}
	info, err := st.stream.Info(ctx)
	if err != nil {
		return err
	}
	r.streamBytes, r.streamMsgs = info.State.Bytes, info.State.Msgs
	b.logf("join: stream of %d events in %d messages, %s; tail of %d events after seq %d", total, r.streamMsgs,
		fmtBytes(float64(r.streamBytes)), r.tail, r.snapSeq)
	st.probes = []string{jtiOf(seed, 0), jtiOf(seed, r.n-1), jtiOf(seed, total-1)} // in the snapshot, its last, the tail's last
	return nil
}

// joinEmpty measures the empty validator (the memory baseline), on a
// stream of its own that holds nothing.
func (b *bench) joinEmpty(ctx context.Context, st *joinStream, vs *joinValidators, r *joinRun) error {
	if _, err := events.EnsureStream(ctx, st.js, events.StreamConfig{Name: joinEmptyStream, Prefix: joinEmptyPrefix}); err != nil {
		return err
	}
	m0 := b.memStable()
	ecfg := joinNodeConfig(st.root+"/empty", node.RoleValidator, "join-empty", st.url, slog.New(slog.DiscardHandler))
	ecfg.Stream = events.StreamConfig{Name: joinEmptyStream, Prefix: joinEmptyPrefix}
	if _, err := vs.joinOne(ctx, ecfg, nil); err != nil {
		return fmt.Errorf("empty validator: %w", err)
	}
	r.empty = b.memStable().sub(m0)
	b.logf("join: an empty validator: heap %s, RSS %s", fmtSignedBytes(r.empty.heap), fmtSignedBytes(r.empty.rss))
	return nil
}

// joinPeer measures the peer that joins without a snapshot: the object is
// set aside while it joins, then put back and let go of.
func (b *bench) joinPeer(ctx context.Context, st *joinStream, vs *joinValidators, r *joinRun) error {
	obs, err := st.js.ObjectStore(ctx, events.SnapshotBucket)
	if err != nil {
		return err
	}
	if err := obs.Delete(ctx, events.DefaultStreamName); err != nil {
		return fmt.Errorf("set the snapshot aside: %w", err)
	}
	pcfg := joinNodeConfig(st.root+"/peer", node.RoleValidator, "join-peer", st.url, nil)
	peer, err := vs.joinOne(ctx, pcfg, st.probes)
	if err != nil {
		return fmt.Errorf("validator without a snapshot: %w", err)
	}
	r.peer = *peer
	vs.closeLast()
	if err := events.PutSnapshot(ctx, st.js, events.DefaultStreamName, st.snap, 1); err != nil {
		return fmt.Errorf("put the snapshot back: %w", err)
	}
	st.snap = nil
	b.logf("join: a validator without the snapshot ready in %v (%d events replayed)", r.peer.ready.Round(time.Millisecond), r.peer.applied)
	return nil
}

// joinFromSnapshot measures one validator joining from the snapshot: how
// long it takes, the memory it holds when ready, once its journal is
// merged and after a live event, and the process's peak meanwhile.
func (b *bench) joinFromSnapshot(ctx context.Context, s *section, st *joinStream, vs *joinValidators, r *joinRun) error {
	cfg, total := b.cfg, st.total
	m1 := b.memStable()
	peakReset := resetPeakRSS()
	one, err := vs.joinOne(ctx, joinNodeConfig(st.root+"/one", node.RoleValidator, "join-one", st.url, nil), st.probes)
	if err != nil {
		return fmt.Errorf("validator with the snapshot: %w", err)
	}
	r.one = *one
	if !one.snapshot {
		s.note("the validator meant to join from the snapshot did not: %s", one.log.notJoined)
	}
	v := vs.last()
	if ps, err := readProcStat(os.Getpid()); err == nil && peakReset {
		r.peak = float64(ps.hwm) - m1.rss
	}
	r.atReady = b.memStable().sub(m1)
	if cfg.joinHeap != "" {
		if err := writeHeapProfile(cfg.joinHeap); err != nil {
			return err
		}
	}
	d, err := v.Store().RecomputeDigest() // merges the journal into the record trees
	if err != nil {
		return err
	}
	if d.Count != uint64(total) {
		return fmt.Errorf("the validator that joined from the snapshot holds %d of %d revocations", d.Count, total)
	}
	r.merged = b.memStable().sub(m1)
	applied := v.FleetStatus().Applied
	if err := publishBlacklist(ctx, st.js, st.seed, total, 1); err != nil {
		return fmt.Errorf("live event: %w", err)
	}
	if err := waitApplied(ctx, v, applied+1); err != nil {
		return err
	}
	r.afterLive = b.memStable().sub(m1)
	r.storeBytes = v.Store().Size()
	b.logf("join: a validator from the snapshot ready in %v (New %v, snapshot %v, tail %v of %d events); per revocation heap %.1f B, RSS %.1f B (anonymous %.1f B, file %.1f B) after the merge and a live event",
		r.one.ready.Round(time.Millisecond), r.one.newTook.Round(time.Millisecond), r.one.log.snapshotPhase().Round(time.Millisecond),
		r.one.tail().Round(time.Millisecond), r.one.applied, r.perRevocation().heap, r.perRevocation().rss,
		r.perRevocation().anon, r.perRevocation().file)
	return nil
}

// perRevocation is the memory the validator holding the set costs per
// revocation, over the empty validator's, once its journal is merged and a
// live event has arrived.
func (r *joinRun) perRevocation() joinMem {
	return r.afterLive.sub(r.empty).per(r.n + r.tail)
}

// joinNodeConfig is a node of the scenario: no scheduled flush or
// snapshot, the stream on url.
func joinNodeConfig(dir string, role node.Role, id, url string, log *slog.Logger) node.Config {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return node.Config{
		DataDir: dir, Role: role, NodeID: id,
		Token: token.Config{HSSecret: []byte(benchSecret)}, FlushInterval: -1, SnapshotInterval: -1,
		NATS: node.NATSConfig{URLs: []string{url}}, Logger: log,
	}
}

// waitApplied waits until n has applied at least want events of the stream
// and is ready.
func waitApplied(ctx context.Context, n *node.Node, want uint64) error {
	return poll.Until(ctx, joinReadyLimit, joinPoll, func() error {
		if st := n.FleetStatus(); !st.Ready || st.Applied < want {
			return fmt.Errorf("%s: ready %v, %d of %d events applied", n.ID(), st.Ready, st.Applied, want)
		}
		return nil
	})
}

// joinValidators are the validators of the scenario running at a time.
type joinValidators struct {
	b       *bench
	root    string
	url     string
	mu      sync.Mutex
	nodes   []*node.Node
	dirs    []string
	stops   []context.CancelFunc
	running []*sync.WaitGroup
}

func (vs *joinValidators) add(v *node.Node, dir string) {
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { v.Run(ctx) })
	vs.mu.Lock()
	vs.nodes, vs.dirs, vs.stops, vs.running = append(vs.nodes, v), append(vs.dirs, dir), append(vs.stops, stop), append(vs.running, &wg)
	vs.mu.Unlock()
}

func (vs *joinValidators) last() *node.Node { return vs.nodes[len(vs.nodes)-1] }

// closeLast stops the last validator started and removes its data dir.
func (vs *joinValidators) closeLast() {
	i := len(vs.nodes) - 1
	vs.stopAt(i)
	// Cleared, not only cut off: the arrays would keep the closed node,
	// and its filter, alive until the next add overwrote it.
	vs.nodes[i], vs.dirs[i], vs.stops[i], vs.running[i] = nil, "", nil, nil
	vs.nodes, vs.dirs, vs.stops, vs.running = vs.nodes[:i], vs.dirs[:i], vs.stops[:i], vs.running[:i]
}

func (vs *joinValidators) stopAt(i int) {
	vs.stops[i]()
	vs.running[i].Wait()
	vs.nodes[i].Close()
	os.RemoveAll(vs.dirs[i])
}

// close stops them all (at once) and removes their data dirs.
func (vs *joinValidators) close() {
	for _, stop := range vs.stops {
		stop()
	}
	for i := range vs.nodes {
		vs.stopAt(i)
	}
	vs.nodes, vs.dirs, vs.stops, vs.running = nil, nil, nil, nil
}

// joinOne starts a validator alone and times it from node.New to Ready;
// probes are jtis it must then hold.
func (vs *joinValidators) joinOne(ctx context.Context, cfg node.Config, probes []string) (*joinOne, error) {
	jl := &joinLog{}
	if probes != nil {
		cfg.Logger = slog.New(jl)
	}
	start := time.Now()
	v, err := node.New(cfg)
	if err != nil {
		return nil, err
	}
	newTook := time.Since(start)
	jl.mu.Lock()
	jl.run = time.Now()
	jl.mu.Unlock()
	vs.add(v, cfg.DataDir)
	var ready time.Duration
	if err := poll.Until(ctx, joinReadyLimit, time.Millisecond, func() error {
		if !v.Ready() {
			return fmt.Errorf("%s not ready", cfg.NodeID)
		}
		ready = time.Since(start)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := checkHolds(v, probes); err != nil {
		return nil, err
	}
	jl.mu.Lock()
	joined := !jl.joined.IsZero()
	jl.mu.Unlock()
	return &joinOne{ready: ready, newTook: newTook, applied: v.FleetStatus().Applied, log: jl, snapshot: joined}, nil
}

// checkHolds checks that v answers revoked for every probe.
func checkHolds(v *node.Node, probes []string) error {
	for _, jti := range probes {
		if ok, err := v.Check(jti); err != nil || !ok {
			return fmt.Errorf("%s ready but does not hold %s (%v)", v.ID(), jti, err)
		}
	}
	return nil
}

// joinMany starts n validators at once, each from its own goroutine (its
// own node.New, data dir and NATS connection), and times each from its
// node.New to its Ready. n is lowered, and said so, when that many would
// not fit in the memory or the disk the machine has free at the cost of
// the validator measured alone.
func (vs *joinValidators) joinMany(ctx context.Context, n int, r *joinRun, probes []string) (*joinFleet, error) {
	b := vs.b
	jf := vs.fleetOf(n, r)
	// A soft limit makes the collector work harder rather than let n
	// loads in flight at once double the heap.
	if avail := memAvailable(); avail > 0 {
		jf.memLimit = int64(0.8 * avail)
		old := debug.SetMemoryLimit(jf.memLimit)
		defer debug.SetMemoryLimit(old)
	}
	m0 := b.memStable()
	b.logf("join: starting %d validators together", jf.n)
	started, t0, err := vs.startTogether(jf)
	if err != nil {
		return nil, err
	}
	readyAt, err := waitAllReady(ctx, jf, started)
	if err != nil {
		return nil, err
	}
	if err := vs.readFleet(jf, started, readyAt, t0, probes, m0); err != nil {
		return nil, err
	}
	vs.close()
	return jf, nil
}

// fleetOf returns the fleet of joinMany: n validators, fewer (and said so
// in memNote) when that many would not fit in the memory or the disk the
// machine has free at the cost of the validator measured alone (r).
func (vs *joinValidators) fleetOf(n int, r *joinRun) *joinFleet {
	jf := &joinFleet{n: n, wanted: n, why: map[string]int{}}
	// A joining validator streams the snapshot (node.loadSnapshot): at
	// its peak it holds the NATS client's buffers of the object as it
	// arrives and the load's own batches besides what it keeps, about
	// 1.23 times the snapshot in live heap (116 MiB at a 94 MiB snapshot
	// of 1M revocations, BenchmarkJoin's peak heap); a quarter of the
	// snapshot more is left for the collector's slack under the memory
	// limit set below.
	kept := r.afterLive.sub(r.empty)
	perMem := max(kept.heap, kept.anon, 0) + 1.5*float64(r.snapBytes)
	if avail := memAvailable(); avail > 0 && float64(n)*perMem > joinMemShare*avail {
		jf.n = max(int(joinMemShare*avail/perMem), 1)
		jf.memNote = fmt.Sprintf("%d validators would need about %s of memory while they join (%s each: what the one alone kept, and 1.5 times the snapshot it streams in); "+
			"the machine has %s available, of which blbench lets them take %.0f%%: %d were started together",
			n, fmtBytes(float64(n)*perMem), fmtBytes(perMem), fmtBytes(avail), joinMemShare*100, jf.n)
	}
	if free := diskFree(vs.root); free > 0 && r.storeBytes > 0 && float64(jf.n)*float64(r.storeBytes) > 0.8*float64(free) {
		k := max(int(0.8*float64(free)/float64(r.storeBytes)), 1)
		jf.memNote = strings.TrimSpace(jf.memNote + fmt.Sprintf(" %d stores of %s would not fit in the %s of free disk: %d were started",
			jf.n, fmtBytes(float64(r.storeBytes)), fmtBytes(float64(free)), k))
		jf.n = k
	}
	if jf.memNote != "" {
		vs.b.logf("join: %s", jf.memNote)
	}
	return jf
}

// joinStarted is one of the validators joinMany started together.
type joinStarted struct {
	v     *node.Node
	start time.Time
	log   *joinLog
	err   error
}

// startTogether starts jf.n validators at once, each from its own
// goroutine, notes how long until every node.New had returned, and
// returns them with the time they were started.
func (vs *joinValidators) startTogether(jf *joinFleet) (_ []joinStarted, t0 time.Time, _ error) {
	started := make([]joinStarted, jf.n)
	t0 = time.Now()
	var wg sync.WaitGroup
	for i := range jf.n {
		wg.Go(func() {
			jl := &joinLog{infoOnly: true}
			cfg := joinNodeConfig(fmt.Sprintf("%s/v%d", vs.root, i+1), node.RoleValidator, fmt.Sprintf("join-v%d", i+1), vs.url, slog.New(jl))
			start := time.Now()
			v, err := node.New(cfg)
			if err == nil {
				vs.add(v, cfg.DataDir)
			}
			started[i] = joinStarted{v: v, start: start, log: jl, err: err}
		})
	}
	wg.Wait()
	jf.newSpread = time.Since(t0)
	for i, o := range started {
		if o.err != nil {
			return nil, t0, fmt.Errorf("validator %d: %w", i+1, o.err)
		}
	}
	return started, t0, nil
}

// waitAllReady polls the validators started together until all are ready,
// and returns when each was first seen ready. It stops early when the
// machine's available memory falls below joinMemFloor.
func waitAllReady(ctx context.Context, jf *joinFleet, started []joinStarted) ([]time.Time, error) {
	readyAt := make([]time.Time, jf.n)
	left := jf.n
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := poll.Until(wctx, joinReadyLimit, 10*time.Millisecond, func() error {
		if avail := memAvailable(); avail > 0 && avail < joinMemFloor {
			err := fmt.Errorf("stopped: %s of memory left available, %d of %d validators ready", fmtBytes(avail), jf.n-left, jf.n)
			cancel(err)
			return err
		}
		now := time.Now()
		for i, o := range started {
			if readyAt[i].IsZero() && o.v.Ready() {
				readyAt[i] = now
				left--
			}
		}
		if left > 0 {
			return fmt.Errorf("%d of %d validators not ready", left, jf.n)
		}
		return nil
	}); err != nil {
		if c := context.Cause(wctx); c != nil && ctx.Err() == nil {
			err = c
		}
		return nil, err
	}
	return readyAt, nil
}

// readFleet takes the readings of the validators started together (at t0)
// once all are ready: when each was, that each holds the probes, which
// joined from the snapshot, their stores, and their memory over the
// process before them (m0).
func (vs *joinValidators) readFleet(jf *joinFleet, started []joinStarted, readyAt []time.Time, t0 time.Time, probes []string, m0 joinMem) error {
	b := vs.b
	last := t0
	for i, o := range started {
		last = later(last, readyAt[i])
		jf.each = append(jf.each, float64(readyAt[i].Sub(o.start)))
		if err := checkHolds(o.v, probes); err != nil {
			return err
		}
		o.log.mu.Lock()
		if !o.log.joined.IsZero() {
			jf.fromSnapshot++
		} else {
			jf.why[o.log.notJoined]++
		}
		o.log.mu.Unlock()
		jf.storeBytesTotal += o.v.Store().Size()
	}
	jf.all = last.Sub(t0)
	slices.Sort(jf.each)
	jf.mem = b.memStable().sub(m0).per(jf.n)
	b.logf("join: %d validators all ready in %v (each: p50 %s, p99 %s, max %s); %d from the snapshot; per validator heap %s, RSS %s",
		jf.n, jf.all.Round(time.Millisecond), fmtNs(jf.pct(0.5)), fmtNs(jf.pct(0.99)), fmtNs(jf.pct(1)), jf.fromSnapshot,
		fmtBytes(jf.mem.heap), fmtBytes(jf.mem.rss))
	return nil
}

func (jf *joinFleet) pct(q float64) float64 {
	d := make([]time.Duration, len(jf.each))
	for i, x := range jf.each {
		d[i] = time.Duration(x)
	}
	return pct(d, q)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// resetPeakRSS resets this process's VmHWM to its RSS now, and reports
// whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// diskFree is the space free to this user on the file system of dir, 0 if
// unknown.
func diskFree(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Bavail) * st.Bsize
}

// joinLog is a validator's log handler that keeps what the node says of
// its join: when it had loaded the snapshot, and the durations it logs of
// the load (at debug level; infoOnly leaves those out), or why it did not
// join from one. Everything else is dropped.
type joinLog struct {
	infoOnly bool

	mu                 sync.Mutex
	run                time.Time // Run called
	joined             time.Time // "joined from a snapshot" logged
	notJoined          string
	open, load, commit time.Duration
	tokens             int64
}

func (h *joinLog) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || !h.infoOnly && l >= slog.LevelDebug
}

func (h *joinLog) Handle(_ context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "joined from a snapshot"):
		h.mu.Lock()
		h.joined = r.Time
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "tokens" {
				h.tokens = int64(a.Value.Uint64())
			}
			return true
		})
		h.mu.Unlock()
	case strings.HasPrefix(r.Message, "not joining from a snapshot"):
		h.mu.Lock()
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "why" {
				h.notJoined = a.Value.String()
			}
			return true
		})
		h.mu.Unlock()
	case r.Message == "snapshot loaded":
		h.mu.Lock()
		r.Attrs(func(a slog.Attr) bool {
			if a.Value.Kind() == slog.KindDuration {
				switch a.Key {
				case "open":
					h.open = a.Value.Duration()
				case "load":
					h.load = a.Value.Duration()
				case "commit":
					h.commit = a.Value.Duration()
				}
			}
			return true
		})
		h.mu.Unlock()
	}
	return nil
}

func (h *joinLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *joinLog) WithGroup(string) slog.Handler      { return h }

// snapshotPhase is from Run to the snapshot loaded and its sequence
// recorded; 0 if it did not join from one.
func (h *joinLog) snapshotPhase() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.joined.IsZero() {
		return 0
	}
	return h.joined.Sub(h.run)
}

// publishBlacklist publishes blacklist events for the generated ids from,
// …, from+n−1 (jtiOf(seed, i)) through events.Publisher's outbox drain, as
// a full node publishes its writes: one event an outbox entry (a write),
// the entries of a backlog joined up to the publisher's events per
// message, with the node's headers (Nats-Msg-Id, Nats-Expected-Stream,
// Nats-TTL). It returns once the stream has acknowledged every event.
func publishBlacklist(ctx context.Context, js jetstream.JetStream, seed uint64, from, n int) error {
	p, err := events.NewPublisher(js, events.PublisherConfig{Region: "local"})
	if err != nil {
		return err
	}
	now := time.Now()
	exp := now.Add(24 * time.Hour).Unix()
	ob := &genOutbox{end: n, removed: map[uint64]bool{}, gen: func(i int) ([]byte, error) {
		jti := jtiOf(seed, from+i)
		return events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "blbench-publisher", Region: "local", Time: now,
			Token: &events.Token{JTI: jti, User: userOf(jti), Type: "refresh", IssuedAt: now.Unix(), ExpiresAt: exp, Reason: "bench"}}.Encode()
	}}
	dctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- p.Drain(dctx, ob, nil) }()
	err = poll.Until(ctx, joinFillLimit, joinPoll, func() error {
		if left, err := ob.left(); err != nil || left > 0 {
			st := p.Stats()
			return errors.Join(err, fmt.Errorf("%d of %d events not acknowledged (publisher: %d failures, last %q)", left, n, st.Failures, st.LastError))
		}
		return nil
	})
	cancel()
	return errors.Join(err, <-errc)
}

// genOutbox is an events.Outbox (and OutboxSeeker) of end entries of one
// event each, made by gen when first read, so that a million events are
// never all in memory; an entry read stays until removed, so that a
// retry publishes the same bytes (the same event ids).
type genOutbox struct {
	gen func(i int) ([]byte, error)
	end int

	mu      sync.Mutex
	next    int                  // entries made so far; entry i has Seq i+1
	live    []events.OutboxEntry // made and not removed, by Seq (removed ones at the head until dropped)
	removed map[uint64]bool
	err     error
}

func (o *genOutbox) Pending(ctx context.Context, max int) ([]events.OutboxEntry, error) {
	return o.PendingAfter(ctx, 0, max)
}

func (o *genOutbox) PendingAfter(_ context.Context, after uint64, max int) ([]events.OutboxEntry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []events.OutboxEntry
	i := sort.Search(len(o.live), func(i int) bool { return o.live[i].Seq > after })
	for ; i < len(o.live) && len(out) < max; i++ {
		if !o.removed[o.live[i].Seq] {
			out = append(out, o.live[i])
		}
	}
	for len(out) < max && o.next < o.end {
		data, err := o.gen(o.next)
		if err != nil {
			o.err = fmt.Errorf("encode event %d: %w", o.next, err)
			return nil, o.err
		}
		o.next++
		en := events.OutboxEntry{Seq: uint64(o.next), Events: [][]byte{data}}
		o.live = append(o.live, en)
		if en.Seq > after {
			out = append(out, en)
		}
	}
	return out, nil
}

func (o *genOutbox) Remove(_ context.Context, seqs []uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range seqs {
		if len(o.live) > 0 && s >= o.live[0].Seq && s <= uint64(o.next) {
			o.removed[s] = true
		}
	}
	n := 0
	for n < len(o.live) && o.removed[o.live[n].Seq] {
		delete(o.removed, o.live[n].Seq)
		n++
	}
	o.live = slices.Delete(o.live, 0, n)
	return nil
}

// left is the number of entries not yet removed.
func (o *genOutbox) left() (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.end - o.next + len(o.live) - len(o.removed), o.err
}

// reportJoin writes the join scenario's section (the stream and the
// snapshot, one validator, many together, the memory) and judges its
// targets.
func (b *bench) reportJoin(s *section, r *joinRun) error {
	jf := r.fleet
	if jf == nil {
		jf = &joinFleet{} // failed: the error says why
	}
	b.reportJoinOne(s, r)
	reportJoinFleet(s, jf)
	b.reportJoinMemory(s, r)
	b.joinTargets(r, jf)
	return nil
}

// reportJoinOne reports the stream, the snapshot, and one validator
// joining from the snapshot and without it.
func (b *bench) reportJoinOne(s *section, r *joinRun) {
	cfg := b.cfg
	total := r.n + r.tail
	s.para("One nats-server (in-process, JetStream file storage in a temp dir, loopback) and one full node (`node.New`, role full). "+
		"blbench publishes %d blacklist events (random 32-hex jtis, seed %d) through the events package's publisher, as a full node publishes its "+
		"outbox: one event an outbox entry, a backlog's entries joined into messages (%d stream messages here), with the node's headers. "+
		"The full node follows the stream and applies them all; then `WriteSnapshot` (what its snapshot loop calls every `SnapshotInterval`) writes its "+
		"revocation set to the object store; then a tail of %d more events (%d%%) is published after the snapshot.",
		r.n, cfg.seed+9, r.streamMsgs, r.tail, joinTailPercent)
	s.para("Validators (`node.New` + `Run`, role validator, each with its own empty data dir and NATS connection) are timed from `node.New` to `Ready` " +
		"(caught up with the stream as of its start; polled every millisecond alone, every 10 ms together), then asked through `Check` for a jti of the " +
		"snapshot and the last of the tail. The node logs when it has loaded the snapshot and, at debug level, how long it took to open it (until its " +
		"header arrived), to load it (read, check and write its entries in one pass, as they arrive) and to commit the load: blbench reads those from its log handler. The validator **without a snapshot** joins while the snapshot object is set aside (deleted, " +
		"then put back byte for byte): it replays the whole stream, as a validator did before snapshots.")
	t := s.table("The stream and the snapshot", "figure", "value")
	t.row("events published (N), then the tail", fmt.Sprintf("%d, then %d", r.n, r.tail))
	t.row("publish of N events", fmt.Sprintf("%v (%s)", r.fillTook.Round(time.Millisecond), fmtRate(float64(r.n)/r.fillTook.Seconds())))
	t.row("stream after the tail", fmt.Sprintf("%d messages, %s", r.streamMsgs, fmtBytes(float64(r.streamBytes))))
	t.row("full node: node.New until it has applied N", fmt.Sprintf("%v (%s)", r.fullReady.Round(time.Millisecond), fmtRate(float64(r.n)/r.fullReady.Seconds())))
	t.row("`WriteSnapshot` (read the store, encode, put to the object store)", r.snapTook.Round(time.Millisecond).String())
	t.row("snapshot", fmt.Sprintf("%s, at stream sequence %d", fmtBytes(float64(r.snapBytes)), r.snapSeq))

	o := s.table(fmt.Sprintf("One empty validator joining a stream of %d revocations", total), "validator", "node.New → Ready", "node.New",
		"Run → snapshot loaded (open / load / commit)", "snapshot loaded → Ready (tail)", "events replayed")
	l := r.one.log
	snapCell, tailCell := "did not join from the snapshot: "+l.notJoined, "—"
	if r.one.snapshot {
		snapCell = fmt.Sprintf("%v (%v / %v / %v)", l.snapshotPhase().Round(time.Millisecond), l.open.Round(time.Millisecond),
			l.load.Round(time.Millisecond), l.commit.Round(time.Millisecond))
		tailCell = r.one.tail().Round(time.Millisecond).String()
	}
	o.row("from the snapshot", r.one.ready.Round(time.Millisecond).String(), r.one.newTook.Round(time.Millisecond).String(), snapCell, tailCell,
		strconv.FormatUint(r.one.applied, 10))
	o.row("without a snapshot (the whole stream)", r.peer.ready.Round(time.Millisecond).String(), r.peer.newTook.Round(time.Millisecond).String(), "—", "—",
		strconv.FormatUint(r.peer.applied, 10))
}

// reportJoinFleet reports the validators started together (jf).
func reportJoinFleet(s *section, jf *joinFleet) {
	s.para("**Together**: %d validators, each started by its own goroutine (`node.New`, then `Run`), at once; each is timed from its own `node.New` "+
		"to its `Ready`, and *all ready* is from the first `node.New` to the last `Ready`. All of them share this process's 2 cores with the NATS "+
		"server and the full node: on separate machines each would have its own. The Go memory limit is set to %s (80%% of the memory available) "+
		"while they start, so that the collector works harder rather than let the loads in flight double the heap.", jf.n, fmtBytes(float64(jf.memLimit)))
	f := s.table(fmt.Sprintf("%d validators started together", jf.n), "figure", "value")
	f.row("all ready (first node.New → last Ready)", jf.all.Round(time.Millisecond).String())
	f.row("per validator, node.New → Ready: p50 / p99 / max", fmt.Sprintf("%s / %s / %s", fmtNs(jf.pct(0.5)), fmtNs(jf.pct(0.99)), fmtNs(jf.pct(1))))
	f.row("every node.New returned after", jf.newSpread.Round(time.Millisecond).String())
	why := ""
	for w, c := range jf.why {
		why += fmt.Sprintf("; %d: %s", c, w)
	}
	f.row("joined from the snapshot", fmt.Sprintf("%d of %d%s", jf.fromSnapshot, jf.n, why))
	f.row("heap / RSS per validator, all ready (over the process before they started)", fmt.Sprintf("%s / %s", fmtBytes(jf.mem.heap), fmtBytes(jf.mem.rss)))
	f.row("their stores on disk", fmtBytes(float64(jf.storeBytesTotal)))
	if jf.memNote != "" {
		s.note("%s", jf.memNote)
	}
}

// reportJoinMemory reports the memory of a validator holding the set, per
// revocation, over the empty validator's.
func (b *bench) reportJoinMemory(s *section, r *joinRun) {
	cfg := b.cfg
	total := r.n + r.tail
	s.para("**Memory per live revocation**: this process's Go heap in use (`runtime.MemStats.HeapInuse`) and RSS (VmRSS, split into anonymous and "+
		"file-backed: RssAnon, RssFile from /proc/self/status) after a GC that returns freed memory to the system (`debug.FreeOSMemory`), %v after the last activity "+
		"(the in-process NATS server keeps the blocks it has just written or read cached for 10 s), then every second until two readings agree "+
		"within 1 MiB of heap and 2 MiB of RSS (at most %v more), before and after a validator started. An **empty validator** (following a stream of its own that holds nothing) is measured first; the validator "+
		"that joined from the snapshot is measured over the process with the empty one running, and the empty one's figures are subtracted, ÷ %d "+
		"revocations. bbolt maps its file: the pages a validator has touched count in RSS as file-backed memory, which the kernel can drop and read "+
		"again (page cache), not as heap. Three readings: settled after Ready; after the store's journal is merged into the record trees (`Counts`, which "+
		"waits for the merge: the journal's in-memory index holds the snapshot's ops until then); and after one live event has been applied. "+
		"The validators started together are measured the same way, all at once, ÷ their number: what is left of the process's noise is divided "+
		"by them too.", cfg.memExpiry, cfg.memSettle, total)
	m := s.table(fmt.Sprintf("Memory of a validator holding %d revocations", total), "reading", "heap", "RSS", "RSS anonymous", "RSS file-backed",
		"heap per revocation", "RSS per revocation", "anonymous RSS per revocation")
	m.row("an empty validator (over the process before it)", fmtSignedBytes(r.empty.heap), fmtSignedBytes(r.empty.rss),
		fmtSignedBytes(r.empty.anon), fmtSignedBytes(r.empty.file), "", "", "")
	for _, row := range []struct {
		name string
		mem  joinMem
	}{{"settled after Ready", r.atReady}, {"journal merged", r.merged}, {"after a live event", r.afterLive}} {
		p := row.mem.sub(r.empty).per(total)
		m.row(row.name+" (over the empty validator)", fmtSignedBytes(row.mem.heap-r.empty.heap), fmtSignedBytes(row.mem.rss-r.empty.rss),
			fmtSignedBytes(row.mem.anon-r.empty.anon), fmtSignedBytes(row.mem.file-r.empty.file),
			fmt.Sprintf("%.1f B", p.heap), fmt.Sprintf("%.1f B", p.rss), fmt.Sprintf("%.1f B", p.anon))
	}
	if r.peak > 0 {
		m.row("peak while it joined alone (VmHWM over the RSS before it)", "", fmtBytes(r.peak), "", "", "", "", "")
	}
	m.row("its bbolt file", fmtBytes(float64(r.storeBytes)), "", "", "", fmt.Sprintf("%.1f B on disk", float64(r.storeBytes)/float64(total)), "", "")
	if cfg.joinHeap != "" {
		s.note("a heap profile of the process with the validator ready (the full node and the NATS server are in it too) was written to %s: "+
			"`go tool pprof -sample_index=inuse_space -top` names what holds the heap", cfg.joinHeap)
	}
}

// joinMargin is how far the join scenario's figures, measured once per
// run, must beat their goals so that a quiet rerun does not flip them.
const joinMargin = 0.10

// joinTargets judges the join targets (one validator from the snapshot,
// many together, memory per revocation) and keeps the figures for
// results.json.
func (b *bench) joinTargets(r *joinRun, jf *joinFleet) {
	total := r.n + r.tail
	l := r.one.log
	scaled := func(what string) string {
		if r.n == joinGoalEvents {
			return what
		}
		return strings.TrimPrefix(what+fmt.Sprintf("; measured at %d revocations, the goal is at %d", total, joinGoalEvents), "; ")
	}
	b.judge(target{what: "an empty validator ready, joining from a snapshot", basis: absolute("10%: ≤ 0.9 s"), goal: "≤ 1 s at 1M",
		figure: r.one.ready.Round(time.Millisecond).String(), note: scaled(fmt.Sprintf("without a snapshot %v", r.peer.ready.Round(time.Millisecond))),
		met: float64(r.one.ready) <= float64(joinGoalOne)*(1-joinMargin) && r.one.snapshot})
	fleetNote := ""
	if jf.n != joinGoalFleetOf {
		fleetNote = fmt.Sprintf("%d validators, the goal is at %d", jf.n, joinGoalFleetOf)
	}
	if r.fleet == nil {
		b.targetMissing("validators started together all ready", absolute("10%: ≤ 54 s"), "≤ 60 s at 1M, 100 validators", "the scenario failed before they were all ready")
	} else {
		b.judge(target{what: fmt.Sprintf("%d validators started together all ready", jf.n), basis: absolute("10%: ≤ 54 s"), goal: "≤ 60 s at 1M, 100 validators",
			figure: fmt.Sprintf("%v (each: p50 %s, p99 %s)", jf.all.Round(time.Millisecond), fmtNs(jf.pct(0.5)), fmtNs(jf.pct(0.99))),
			note:   scaled(fleetNote), met: float64(jf.all) <= float64(joinGoalFleet)*(1-joinMargin)})
	}
	p := r.perRevocation()
	worst := max(p.heap, p.anon)
	figure := fmt.Sprintf("heap %.1f B, RSS %.1f B (anonymous %.1f B, file-backed %.1f B)", p.heap, p.rss, p.anon, p.file)
	if r.fleet != nil {
		figure += fmt.Sprintf("; %d validators together: heap %.1f B, RSS %.1f B each", jf.n, jf.mem.heap/float64(total), jf.mem.rss/float64(total))
	}
	if p.heap < 0 || p.anon < 0 {
		b.targetMissing("validator memory per live revocation", absolute("10%: ≤ 90 B"), "≤ 100 B at 1M",
			scaled(figure+": below the noise of the whole process's figures"))
	} else {
		b.judge(target{what: "validator memory per live revocation", basis: absolute("10%: ≤ 90 B"), goal: "≤ 100 B at 1M", figure: figure,
			note: scaled("judged on the larger of heap and anonymous RSS, after the merge and a live event"), met: worst <= joinGoalBytes*(1-joinMargin)})
	}

	b.raw["join"] = map[string]any{
		"events": r.n, "tail": r.tail, "stream_msgs": r.streamMsgs, "stream_bytes": r.streamBytes, "fill_s": r.fillTook.Seconds(),
		"full_ready_s": r.fullReady.Seconds(), "snapshot_write_s": r.snapTook.Seconds(), "snapshot_bytes": r.snapBytes, "snapshot_seq": r.snapSeq,
		"one_ready_s": r.one.ready.Seconds(), "one_new_s": r.one.newTook.Seconds(), "one_snapshot_phase_s": l.snapshotPhase().Seconds(),
		"one_open_s": l.open.Seconds(), "one_load_s": l.load.Seconds(), "one_commit_s": l.commit.Seconds(), "one_tail_events": r.one.applied,
		"one_from_snapshot": r.one.snapshot, "peer_ready_s": r.peer.ready.Seconds(), "peer_events": r.peer.applied,
		"validators": jf.n, "validators_wanted": jf.wanted, "all_ready_s": jf.all.Seconds(), "each_ready_ns": jf.each, "from_snapshot": jf.fromSnapshot,
		"fleet_heap_per_validator": jf.mem.heap, "fleet_rss_per_validator": jf.mem.rss,
		"empty_heap": r.empty.heap, "empty_rss": r.empty.rss,
		"per_revocation_heap": p.heap, "per_revocation_rss": p.rss, "per_revocation_rss_anon": p.anon, "per_revocation_rss_file": p.file,
		"at_ready_heap": r.atReady.heap, "at_ready_rss": r.atReady.rss, "merged_heap": r.merged.heap, "merged_rss": r.merged.rss,
		"store_bytes": r.storeBytes, "peak_rss_joining": r.peak,
	}
}
