package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blnode/blnode/events"
)

// Bounds and fixed sizes of the feed scenario.
const (
	feedBurstWriters = 64                       // concurrent writers of a throughput burst
	feedSlots        = 256                      // latency-round writes in flight at most
	feedSettle       = 30 * time.Second         // longest wait for every client to get every write of a phase
	feedConnecting   = 32                       // SSE connections being opened at once
	feedSession      = 10 * time.Minute         // longest life of one set of clients
	feedLineMax      = events.MaxEventSize + 64 // an SSE line: "data: " and one event
)

// runFeed measures GET /v1/feed: one full node (a `blnode serve` process
// with its embedded NATS server) and, for each client count C, C SSE
// clients in this process, each on its own TCP connection. Each round, for
// each C: open the clients, one warm-up write every client must get, a
// latency phase (open-loop writes at a steady rate; delay from each
// write's acknowledgement to each client's receipt) and a throughput burst
// (writes as fast as feedBurstWriters writers get them acknowledged;
// events/s each client receives), then close the clients and open C new
// ones that resume from the sequence before the burst (Last-Event-ID), so
// that they read the burst as fast as the feed hands it out, with no
// writer in front. Every client must receive every write of a phase
// exactly once, or the scenario fails.
func (b *bench) runFeed(ctx context.Context, s *section) error {
	dir, err := b.dir("feed")
	if err != nil {
		return err
	}
	// A full node as "blnode serve" runs by default: the embedded NATS
	// server, the outbox publisher, and the feed reading the stream.
	proc, err := b.startBlnode(ctx, "blnode (feed)", dir)
	if err != nil {
		return err
	}
	defer func() { _ = proc.Stop() }()
	if err := waitHTTP(ctx, proc.url+"/readyz", startTimeout, proc.Done()); err != nil {
		return proc.Failed(err.Error())
	}
	hc := newHTTPClient(max(feedSlots, feedBurstWriters))
	defer hc.CloseIdleConnections()
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	blURL := proc.url + "/v1/blacklist"
	fr := &feedRun{b: b, url: proc.url + "/v1/feed", write: func(ctx context.Context, jti string) error {
		code, err := post(ctx, hc, blURL, `{"jti":"`+jti+`","exp":`+exp+`,"user":"bench","reason":"bench"}`, benchAdmin, nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("POST /v1/blacklist: %d", code)
		}
		return err
	}}
	for _, c := range b.cfg.sizes.feed {
		fr.levels = append(fr.levels, &feedLevel{clients: c})
	}
	for round := range b.cfg.rounds {
		for _, l := range fr.levels {
			if err := fr.round(ctx, l, round); err != nil {
				return fmt.Errorf("%d clients, round %d: %w", l.clients, round+1, err)
			}
		}
	}
	fr.report(s)
	return nil
}

// feedRun is what the feed scenario runs against and what it found.
type feedRun struct {
	b      *bench
	url    string                                      // GET /v1/feed, from now
	write  func(ctx context.Context, jti string) error // one blacklist write, admin token
	levels []*feedLevel
}

// feedLevel is the figures of one client count, one per round.
type feedLevel struct {
	clients int
	connect series // from the first connection opened to every client holding the warm-up event, ns

	// Latency phase.
	p50, p99, max series  // write acknowledged → client received, over every (client, write), ns
	early         series  // share of receipts before the write's acknowledgement, %
	rate          series  // writes/s achieved
	wp99          series  // write latency p99 (sent → 200), ns
	count         []int   // writes per latency round
	received      []int64 // receipts checked per latency round

	// Throughput burst.
	writerRate series // writes acknowledged per second
	perClient  series // events/s of the median client: writes ÷ (its last receipt − its first)
	slowest    series // events/s of the slowest client
	aggregate  series // C × writes ÷ (last receipt of any client − first of any)
	drain      series // burst start → the last client's last receipt, ns

	// Catch-up: C new clients read the burst again from the sequence before it.
	catchClient  series // events/s of the median client
	catchSlowest series // events/s of the slowest client
	catchAll     series // C × writes ÷ (open → the last receipt of any)
	catchTook    series // open → the last client's last receipt, ns
}

// round runs one round of l: open the clients, warm up, the latency phase,
// the burst, the catch-up (with its last write), close.
func (fr *feedRun) round(ctx context.Context, l *feedLevel, round int) error {
	b, cfg := fr.b, fr.b.cfg
	ctx, cancel := context.WithTimeout(ctx, feedSession)
	defer cancel()
	tag := fmt.Sprintf("feed-r%d-c%d", round+1, l.clients)
	t0 := time.Now()
	fc, err := openFeedClients(ctx, fr.url, l.clients, 0, "", 0)
	if err != nil {
		return err
	}
	defer fc.close()
	// The warm-up: each client's reader is placed when its answer's headers
	// come, so one write every client gets shows that all are following.
	if _, err := fr.phase(ctx, fc, tag+"-warm", 1, 1); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	l.connect = append(l.connect, float64(time.Since(t0)))

	count := max(int(float64(cfg.feedRate)*cfg.feedDur.Seconds()), 20)
	lat, err := fr.phase(ctx, fc, tag+"-lat", count, cfg.feedRate)
	if err != nil {
		return fmt.Errorf("latency phase: %w", err)
	}
	delays, early := lat.delays()
	l.p50 = append(l.p50, pct(delays, 0.5))
	l.p99 = append(l.p99, pct(delays, 0.99))
	l.max = append(l.max, pct(delays, 1))
	l.early = append(l.early, 100*float64(early)/float64(len(delays)))
	l.rate = append(l.rate, lat.achieved)
	l.wp99 = append(l.wp99, pct(lat.writeLat, 0.99))
	l.count = append(l.count, count)
	l.received = append(l.received, int64(len(delays)))

	before := fc.seq.Load() // every client has had every event up to here
	if before == 0 {
		return errors.New("no client read an id: line")
	}
	burst, err := fr.phase(ctx, fc, tag+"-burst", cfg.feedBurst, 0)
	if err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	per, slowest, aggregate, drain := burst.throughput()
	l.writerRate = append(l.writerRate, burst.achieved)
	l.perClient = append(l.perClient, per)
	l.slowest = append(l.slowest, slowest)
	l.aggregate = append(l.aggregate, aggregate)
	l.drain = append(l.drain, float64(drain))

	catch, err := fr.catchUp(ctx, fc, before, tag+"-burst", cfg.feedBurst)
	if err != nil {
		return fmt.Errorf("catch-up from sequence %d: %w", before, err)
	}
	cPer, cSlowest, _, cTook := catch.throughput()
	l.catchClient = append(l.catchClient, cPer)
	l.catchSlowest = append(l.catchSlowest, cSlowest)
	l.catchAll = append(l.catchAll, float64(l.clients*cfg.feedBurst)/cTook.Seconds())
	l.catchTook = append(l.catchTook, float64(cTook))
	b.logf("feed round %d, %3d clients: delay p50 %s p99 %s max %s (%.0f writes/s); burst: writer %s, per client %s (slowest %s), all clients %s; catch-up: per client %s, all clients %s",
		round+1, l.clients, fmtNs(pct(delays, 0.5)), fmtNs(pct(delays, 0.99)), fmtNs(pct(delays, 1)), lat.achieved,
		fmtRate(burst.achieved), fmtRate(per), fmtRate(slowest), fmtRate(aggregate), fmtRate(cPer), fmtRate(l.catchAll[len(l.catchAll)-1]))
	return nil
}

// catchUp opens as many clients as live has, resuming after sequence
// since, expecting the count writes named tag-0 … that followed it (the
// burst live has just received, idle meanwhile), and waits until each has
// all of them. Then one more write, which both sets of clients must get
// next, shows that no client got a write of the burst twice.
func (fr *feedRun) catchUp(ctx context.Context, live *feedClients, since uint64, tag string, count int) (*phaseResult, error) {
	start := time.Now()
	fc, err := openFeedClients(ctx, fr.url, live.n, since, tag, count)
	if err != nil {
		return nil, err
	}
	defer fc.close()
	res := &phaseResult{p: fc.phaseP.Load(), acked: make([]int64, count), start: int64(start.Sub(fc.base))}
	if err := fc.await(ctx, res.p, feedSettle); err != nil {
		return nil, err
	}
	if err := fr.marker(ctx, tag+"-end", live, fc); err != nil {
		return nil, fmt.Errorf("after the catch-up: %w", err)
	}
	return res, nil
}

// marker writes one blacklist, jti tag-0, that every client of sets must
// receive next. The stream is in order, so a duplicate of an earlier write
// would come before it, as an event of no write of the marker's phase
// (await fails on it).
func (fr *feedRun) marker(ctx context.Context, tag string, sets ...*feedClients) error {
	phases := make([]*feedPhase, len(sets))
	for i, fc := range sets {
		phases[i] = fc.begin(tag, 1)
	}
	if err := fr.write(ctx, tag+"-0"); err != nil {
		return err
	}
	for i, fc := range sets {
		if err := fc.await(ctx, phases[i], feedSettle); err != nil {
			return err
		}
	}
	return nil
}

// phaseResult is one phase's writes and every client's receipts of them,
// in ns since the clients' base.
type phaseResult struct {
	p        *feedPhase
	acked    []int64         // by write: its 200 arriving
	writeLat []time.Duration // sent → 200, sorted
	start    int64           // the first write sent
	achieved float64         // writes acknowledged per second
}

// phase writes count blacklists, jtis tag-0 … tag-(count-1), and waits
// until every client has received each of them once. With rate > 0 the
// writes are open loop at rate per second (at most feedSlots in flight);
// with rate 0, feedBurstWriters writers write as fast as they are
// answered.
func (fr *feedRun) phase(ctx context.Context, fc *feedClients, tag string, count, rate int) (*phaseResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p := fc.begin(tag, count)
	res := &phaseResult{p: p, acked: make([]int64, count), writeLat: make([]time.Duration, count)}
	var writeErr atomic.Pointer[error]
	one := func(i int) {
		sent := fc.since()
		if err := fr.write(ctx, tag+"-"+strconv.Itoa(i)); err != nil {
			err = fmt.Errorf("write %d: %w", i, err)
			writeErr.CompareAndSwap(nil, &err)
			cancel(err)
			return
		}
		res.acked[i] = fc.since()
		res.writeLat[i] = time.Duration(res.acked[i] - sent)
	}
	res.start = fc.since()
	var writers sync.WaitGroup
	if rate > 0 {
		slots := make(chan struct{}, feedSlots)
		start, interval := time.Now(), time.Second/time.Duration(rate)
		for i := range count {
			if !waitDue(ctx, start, i, interval) {
				break
			}
			slots <- struct{}{}
			writers.Go(func() {
				defer func() { <-slots }()
				one(i)
			})
		}
	} else {
		var next atomic.Int64
		for range min(feedBurstWriters, count) {
			writers.Go(func() {
				for ctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= count {
						return
					}
					one(i)
				}
			})
		}
	}
	writers.Wait()
	if e := writeErr.Load(); e != nil {
		return nil, *e
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	res.achieved = float64(count) / (time.Duration(slices.Max(res.acked) - res.start)).Seconds()
	slices.Sort(res.writeLat)
	if err := fc.await(ctx, p, feedSettle); err != nil {
		return nil, err
	}
	return res, nil
}

// delays are every (client, write) pair's delay from the write's
// acknowledgement to the client's receipt, sorted, and how many of them
// are negative (the event came before the 200).
func (r *phaseResult) delays() (all []time.Duration, early int) {
	all = make([]time.Duration, 0, len(r.p.recv)*len(r.acked))
	for _, recv := range r.p.recv {
		for i, t := range recv {
			d := time.Duration(t - r.acked[i])
			if d < 0 {
				early++
			}
			all = append(all, d)
		}
	}
	slices.Sort(all)
	return all, early
}

// throughput is the burst's events per second: of the median client and
// of the slowest (each: writes ÷ its last receipt − its first), of every
// client together (C × writes ÷ the last receipt of any − the first of
// any), and the time from the burst's first write to the last receipt.
func (r *phaseResult) throughput() (median, slowest, aggregate float64, drain time.Duration) {
	n := float64(len(r.acked))
	rates := make([]float64, 0, len(r.p.recv))
	first, last := int64(1<<62), int64(0)
	for _, recv := range r.p.recv {
		lo, hi := slices.Min(recv), slices.Max(recv)
		rates = append(rates, n/time.Duration(hi-lo).Seconds())
		first, last = min(first, lo), max(last, hi)
	}
	slices.Sort(rates)
	aggregate = n * float64(len(r.p.recv)) / time.Duration(last-first).Seconds()
	return rates[len(rates)/2], rates[0], aggregate, time.Duration(last - r.start)
}

// feedPhase is one phase's writes as the clients receive them: jtis
// prefix0 … prefix(count-1).
type feedPhase struct {
	prefix string
	count  int
	recv   [][]int64 // by client, by write: receipt in ns since the base; 0 not yet (each client writes its own row)
	want   int64
	got    atomic.Int64 // first receipts, every client together
	dups   atomic.Int64 // a write a client had already received
	done   chan struct{}
}

// feedClients are the SSE clients of one round, each on its own TCP
// connection, each read by its own goroutine.
type feedClients struct {
	base    time.Time
	phaseP  atomic.Pointer[feedPhase]
	strays  atomic.Int64  // blacklist events of no write of the current phase
	seq     atomic.Uint64 // the highest id (stream sequence) a client has read
	n       int
	cancel  context.CancelFunc
	readers sync.WaitGroup
	bodies  []io.Closer
	trs     []*http.Transport
	failed  chan struct{} // closed with the first reader's failure
	failErr error
	failing sync.Once
}

// openFeedClients opens n event streams of url, feedConnecting at a time,
// and starts a reader of each. With since > 0 they resume after that
// sequence (Last-Event-ID), else they follow from now. With count > 0 the
// clients expect writes tag-0 … tag-(count-1) from the start (begin).
func openFeedClients(ctx context.Context, url string, n int, since uint64, tag string, count int) (_ *feedClients, err error) {
	ctx, cancel := context.WithCancel(ctx)
	fc := &feedClients{base: time.Now(), cancel: cancel, failed: make(chan struct{}), n: n}
	defer func() {
		if err != nil {
			fc.close()
		}
	}()
	bodies := make([]io.ReadCloser, n)
	trs := make([]*http.Transport, n)
	errs := make([]error, n)
	if count > 0 {
		fc.begin(tag, count)
	}
	sem := make(chan struct{}, feedConnecting)
	var opening sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		opening.Go(func() {
			defer func() { <-sem }()
			trs[i] = &http.Transport{DisableKeepAlives: true, DisableCompression: true}
			bodies[i], errs[i] = openSSE(ctx, trs[i], url, since)
		})
	}
	opening.Wait()
	for i := range n {
		if trs[i] != nil {
			fc.trs = append(fc.trs, trs[i])
		}
		if bodies[i] != nil {
			fc.bodies = append(fc.bodies, bodies[i])
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("open %d event streams: %w", n, err)
	}
	for i, body := range bodies {
		fc.readers.Go(func() {
			if err := fc.read(i, body); err != nil && ctx.Err() == nil {
				fc.fail(fmt.Errorf("client %d: %w", i+1, err))
			}
		})
	}
	return fc, nil
}

// openSSE asks for url as an event stream with the admin token, after
// sequence since when it is not 0, and returns the answer's body.
func openSSE(ctx context.Context, tr *http.Transport, url string, since uint64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdmin)
	req.Header.Set("Accept", "text/event-stream")
	if since > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(since, 10))
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("GET /v1/feed: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /v1/feed: Content-Type %q", ct)
	}
	return resp.Body, nil
}

// since is the time since the clients' base, in ns (always > 0).
func (fc *feedClients) since() int64 { return int64(time.Since(fc.base)) + 1 }

// read reads client i's stream until it fails or is closed: each data
// line is decoded as a wire event, and a blacklist event's receipt is
// recorded by its jti.
func (fc *feedClients) read(i int, body io.Reader) error {
	br := bufio.NewReaderSize(body, feedLineMax)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		line = line[:len(line)-1]
		switch {
		case len(line) == 0, line[0] == ':', bytes.HasPrefix(line, []byte("retry: ")):
		case bytes.HasPrefix(line, []byte("id: ")):
			seq, err := strconv.ParseUint(string(line[len("id: "):]), 10, 64)
			if err != nil {
				return fmt.Errorf("id: %w", err)
			}
			for old := fc.seq.Load(); seq > old && !fc.seq.CompareAndSwap(old, seq); old = fc.seq.Load() {
			}
		case bytes.HasPrefix(line, []byte("data: ")):
			t := fc.since()
			ev, err := events.Decode(line[len("data: "):])
			if err != nil {
				return fmt.Errorf("decode: %w", err)
			}
			if ev.Kind != events.KindBlacklist || ev.Token == nil {
				continue // the bench writes only blacklists; a node's own events are not its
			}
			fc.receive(i, ev.Token.JTI, t)
		default:
			// "event: gone" (the reader fell behind what the stream holds)
			// or anything else: a broken feed.
			return fmt.Errorf("unexpected line %.80q", line)
		}
	}
}

// receive records client i's receipt of jti at t.
func (fc *feedClients) receive(i int, jti string, t int64) {
	p := fc.phaseP.Load()
	if p == nil || !strings.HasPrefix(jti, p.prefix) {
		fc.strays.Add(1)
		return
	}
	n, err := strconv.Atoi(jti[len(p.prefix):])
	if err != nil || n < 0 || n >= p.count {
		fc.strays.Add(1)
		return
	}
	if atomic.LoadInt64(&p.recv[i][n]) != 0 {
		p.dups.Add(1)
		return
	}
	atomic.StoreInt64(&p.recv[i][n], t)
	if p.got.Add(1) == p.want {
		close(p.done)
	}
}

// begin makes a phase of count writes named tag-0 … the current one.
func (fc *feedClients) begin(tag string, count int) *feedPhase {
	n := fc.n
	p := &feedPhase{prefix: tag + "-", count: count, recv: make([][]int64, n), want: int64(n) * int64(count), done: make(chan struct{})}
	for i := range p.recv {
		p.recv[i] = make([]int64, count)
	}
	fc.phaseP.Store(p)
	return p
}

// await waits until every client has received every write of p, within
// limit, and fails on a client's failure, a duplicate or a stray event.
func (fc *feedClients) await(ctx context.Context, p *feedPhase, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-fc.failed:
		return fc.failErr
	case <-ctx.Done():
		return fmt.Errorf("%w; %s", context.Cause(ctx), p.missing())
	case <-timer.C:
		return fmt.Errorf("not every client received every write within %v: %s", limit, p.missing())
	}
	if d, s := p.dups.Load(), fc.strays.Load(); d > 0 || s > 0 {
		return fmt.Errorf("%d duplicate receipts and %d events of no write of the phase", d, s)
	}
	return nil
}

// missing says how many clients lack writes of p (read while the readers
// may still write: an estimate for an error message).
func (p *feedPhase) missing() string {
	short, least := 0, p.count
	for _, row := range p.recv {
		got := 0
		for i := range row {
			if atomic.LoadInt64(&row[i]) != 0 {
				got++
			}
		}
		if got < p.count {
			short++
		}
		least = min(least, got)
	}
	return fmt.Sprintf("%d of %d clients lack writes (the worst got %d of %d)", short, len(p.recv), least, p.count)
}

// fail records the first reader's failure.
func (fc *feedClients) fail(err error) {
	fc.failing.Do(func() {
		fc.failErr = err
		close(fc.failed)
	})
}

// close ends every stream and waits for the readers; it may be called
// again.
func (fc *feedClients) close() {
	fc.cancel()
	for _, body := range fc.bodies {
		body.Close()
	}
	fc.readers.Wait()
	for _, tr := range fc.trs {
		tr.CloseIdleConnections()
	}
	fc.bodies, fc.trs = nil, nil
}

// report writes the feed scenario's section and keeps its figures for
// results.json.
func (fr *feedRun) report(s *section) {
	cfg := fr.b.cfg
	s.para("One full node, a `blnode serve` process with its embedded NATS server (JetStream on the run's temp dir), and C Server-Sent Events " +
		"clients of `GET /v1/feed` (admin token), each its own TCP connection (own `http.Transport`, no keep-alive) read by its own goroutine, " +
		"which decodes every `data:` line with `events.Decode` and records, per blacklist event, the time it read it. " +
		"Each round, for each C: open the C clients, one warm-up write every client must get (so all are following), then the three phases below, " +
		"one last write every client must get next, then close them. Every client must receive every write of a phase exactly once (the stream is in order: " +
		"a duplicate would come before the next phase's write), or the scenario fails: the figures below are of a feed that lost and repeated nothing.")
	s.para("Latency: blacklist writes (`POST /v1/blacklist`, admin, jti) open loop at a steady %d/s for %v (at most %d in flight); the delay is from the writer's 200 "+
		"arriving at the client to each SSE client reading that write's event, over every (client, write) pair of the round. An event may reach a client "+
		"before the writer has read its 200 (the two race on this machine): those pairs have a negative delay, and their share is given.",
		cfg.feedRate, cfg.feedDur, feedSlots)
	s.para("Throughput: a burst of %d writes by %d writers at once, each writing again as soon as it is answered. A client's events/s is the writes over the time "+
		"from its first receipt to its last; all clients is C × the writes over the time from the first receipt of any client to the last of any. "+
		"The writer's own rate stands beside it: where the clients' rate is about the writer's, the writer is the bound, not the feed. "+
		"On a machine of few cores the writer's rate falls as C grows: handing out C copies of each event (the node writing them, the clients reading "+
		"and decoding them) takes the CPU the writer would have had; the catch-up below is the feed's rate without a writer.",
		cfg.feedBurst, feedBurstWriters)
	s.para("Catch-up: after the burst, C more clients open with `Last-Event-ID` = the sequence before the burst (the burst's clients stay connected, idle), " +
		"so that each reads the whole burst again from the feed's in-memory ring of recent events, as fast as the node hands it out and the client reads it: " +
		"no writer in front. A client's events/s is the writes over its first receipt to its last; all clients is C × the writes over the time from opening " +
		"the clients to the last receipt of any.")
	s.para("The clients run in the bench process, on the same cores as the node (and its NATS server): at 500 clients decoding every event, " +
		"the client side is part of what is measured.")
	ov := s.table(fmt.Sprintf("Overview, median over %d rounds", cfg.rounds),
		"SSE clients", "delay p50", "delay p99", "burst: writer writes/s", "burst: events/s per client", "burst: events/s, all clients",
		"catch-up: events/s per client", "catch-up: events/s, all clients")
	for _, l := range fr.levels {
		ov.row(strconv.Itoa(l.clients), fmtNs(l.p50.summary().Median), fmtNs(l.p99.summary().Median), fmtRate(l.writerRate.summary().Median),
			fmtRate(l.perClient.summary().Median), fmtRate(l.aggregate.summary().Median),
			fmtRate(l.catchClient.summary().Median), fmtRate(l.catchAll.summary().Median))
	}
	var raw []map[string]any
	for _, l := range fr.levels {
		t := s.table(fmt.Sprintf("SSE clients: %d, min / **median** / max over %d rounds", l.clients, cfg.rounds), "figure", "value")
		t.row(fmt.Sprintf("latency: writes/s achieved (of %d)", cfg.feedRate), l.rate.summary().format(fmtFloat(0, "")))
		t.row("latency: write p99 (sent → 200)", l.wp99.summary().format(fmtNs))
		t.row("delay p50 (200 → client reads the event)", l.p50.summary().format(fmtNs))
		t.row("delay p99", l.p99.summary().format(fmtNs))
		t.row("delay max", l.max.summary().format(fmtNs))
		t.row("receipts before the 200", l.early.summary().format(fmtFloat(1, " %")))
		t.row("burst: writer writes/s", l.writerRate.summary().format(fmtRate))
		t.row("burst: events/s of the median client", l.perClient.summary().format(fmtRate))
		t.row("burst: events/s of the slowest client", l.slowest.summary().format(fmtRate))
		t.row("burst: events/s, all clients together", l.aggregate.summary().format(fmtRate))
		t.row("burst: first write → last client's last event", l.drain.summary().format(fmtNs))
		t.row("catch-up: events/s of the median client", l.catchClient.summary().format(fmtRate))
		t.row("catch-up: events/s of the slowest client", l.catchSlowest.summary().format(fmtRate))
		t.row("catch-up: events/s, all clients together", l.catchAll.summary().format(fmtRate))
		t.row("catch-up: open → last client's last event", l.catchTook.summary().format(fmtNs))
		t.row("open C clients → all hold the warm-up event", l.connect.summary().format(fmtNs))
		raw = append(raw, map[string]any{"clients": l.clients, "rate": cfg.feedRate, "writes": l.count, "receipts": l.received,
			"delay_p50_ns": l.p50, "delay_p99_ns": l.p99, "delay_max_ns": l.max, "early_pct": l.early, "writes_per_s": l.rate, "write_p99_ns": l.wp99,
			"burst": cfg.feedBurst, "burst_writer_per_s": l.writerRate, "burst_client_per_s": l.perClient, "burst_slowest_per_s": l.slowest,
			"burst_all_per_s": l.aggregate, "burst_drain_ns": l.drain, "catchup_client_per_s": l.catchClient, "catchup_slowest_per_s": l.catchSlowest,
			"catchup_all_per_s": l.catchAll, "catchup_ns": l.catchTook, "connect_ns": l.connect})
	}
	fr.b.raw["feed"] = raw
}
