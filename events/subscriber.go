package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// Subscriber defaults.
const (
	DefaultMaxBatch = 1024
	DefaultMaxWait  = 5 * time.Millisecond
	// burst is the pending count from which a batch is gathered for MaxWait
	// before it is applied; below it the batch is applied at once (events
	// that arrive meanwhile make the next batch), so a steady trickle of
	// events is applied with no added delay.
	burst = 64
	// backlog is the pending count from which a batch is gathered for
	// CatchUpWait instead of MaxWait.
	backlog = 1024
)

// Consumer tuning: pull in large batches for replay, and notice a lost
// consumer (server restart, cluster member gone) within a few seconds.
const (
	pullExpiry    = 10 * time.Second
	pullHeartbeat = 2 * time.Second
	refreshEvery  = time.Second
	infoTimeout   = 5 * time.Second
	stopTimeout   = 5 * time.Second
	stallCheck    = 15 * time.Second
	minRetry      = 100 * time.Millisecond
	maxRetry      = 5 * time.Second
)

// ErrRunning is returned by Run when the subscriber is already running.
var ErrRunning = errors.New("events: subscriber already running")

// Delivered is one decoded event with its place in the stream.
type Delivered struct {
	Seq     uint64
	Event   Event
	Subject string
	// Stored is when the stream stored the message, by the NATS server's
	// clock: the same on every node and in every replay, and not set by
	// the publisher (zero when unknown).
	Stored time.Time
	// Previewed says the event was passed to Previewer.Preview on arrival.
	Previewed bool
}

// Previewer may be implemented by an Applier that puts events in force as
// they arrive, before their batch commits (the node answers checks for them
// from memory). Preview is called from the subscriber's goroutine with each
// event as it is received while the subscriber is caught up; the event then
// reaches Apply, marked Previewed, in a batch gathered for up to
// PreviewWait, since the commit no longer holds the event back. Events of a replay
// backlog are not previewed.
type Previewer interface {
	Preview(ev Event)
}

// Applier is the replica a Subscriber keeps in step with the stream; the
// node implements it over its store. The contract, which
// eventstest.TestApplier checks (run it against every implementation, test
// doubles included):
//
//   - The recorded sequence is the last stream sequence the replica holds
//     everything up to (everything of the kinds consumed, with
//     SubscriberConfig.Kinds). It starts at 0, and it survives a restart (a crash
//     may lose the last few Apply calls' sequence, never their effect:
//     that only replays idempotent events).
//   - Apply records lastSeq when it is above the recorded sequence and
//     never moves it back: a replay of applied events leaves it.
//   - Only ResetApplied moves it back, when the stream has been recreated
//     or pruned and the Subscriber replays it from its first sequence.
//   - The recorded stream is the identity of the stream the recorded
//     sequence counts in: zero for a replica that has none recorded (a
//     new one, or one kept before identities were). Only ResetApplied sets
//     it, durably and together with the sequence, so that after a crash
//     the two still belong together; Apply leaves it, and it survives a
//     restart.
type Applier interface {
	// LastApplied returns the recorded sequence (0 for an empty replica).
	LastApplied() (uint64, error)
	// AppliedStream returns the recorded stream (the zero StreamIdentity
	// when none is recorded).
	AppliedStream() (StreamIdentity, error)
	// Apply applies the decoded events of a batch and records lastSeq, in
	// one transaction. lastSeq is the highest sequence of the batch,
	// counting skipped (undecodable) messages, so batch may be empty. Apply
	// must be idempotent and accept events in any order: after a failure the
	// same batch is offered again, and a replay may deliver events already
	// applied. Apply must not keep batch: the subscriber reuses it for the
	// next one.
	Apply(ctx context.Context, batch []Delivered, lastSeq uint64) error
	// ResetApplied durably records seq as the recorded sequence, even when
	// it is lower, and stream as the recorded stream, in one step (it
	// leaves the replica's entries alone). The Subscriber calls it before
	// it replays a stream from its first sequence (the stream is not the
	// recorded one, or no longer holds the sequence after the recorded
	// one), so that a restart resumes in the stream being replayed, not
	// after the old, higher sequence; and, with the recorded sequence, to
	// record the stream it follows when none or another is recorded,
	// before it applies any of that stream's events.
	ResetApplied(seq uint64, stream StreamIdentity) error
}

// SubscriberConfig configures a Subscriber. Zero values mean the defaults
// written beside the fields.
type SubscriberConfig struct {
	Stream   StreamConfig  // the stream to follow
	Logger   *slog.Logger  // default: discard
	MaxBatch int           // default 1024: most events per Apply (a batched message is never split, so a batch may exceed it by one message)
	MaxWait  time.Duration // default 5ms: how long to gather a batch while a burst (64+ events) is on its way
	// PreviewWait is how long to gather a batch of previewed events (the
	// Applier is a Previewer): they are in force already, so a longer wait
	// only saves commits; default 50ms.
	PreviewWait time.Duration
	// CatchUpWait is how long to gather a batch while a backlog of at least
	// 1024 events is pending (a replay); default 250ms.
	CatchUpWait time.Duration
	// Kinds are the kinds of events consumed; default (empty) every kind.
	// The consumer filters on their subjects, <prefix>.*.<kind>
	// (nats-server 2.10 or later), so the server never sends the others: a
	// validator that keeps only what checks need consumes
	// RevocationKinds. With a filter, the recorded sequence is that of the
	// last event of these kinds (the stream may hold others after it), and
	// readiness and Lag count events of these kinds only.
	Kinds []Kind
	Now   func() time.Time
}

// SubscriberStatus is a snapshot for metrics and health.
type SubscriberStatus struct {
	LastApplied uint64    // stream sequence recorded by the last Apply
	StreamFirst uint64    // first sequence in the stream, refreshed about once a second
	StreamLast  uint64    // last sequence in the stream, from the same refresh or deliveries
	Lag         uint64    // StreamLast - LastApplied, or 0; with Kinds, see lag
	Applied     uint64    // events handed to Apply successfully
	Skipped     uint64    // messages that did not decode
	Batches     uint64    // successful Apply calls
	ApplyErrors uint64    // failed Apply calls (each retried)
	Restarts    uint64    // consumers recreated after an error
	Rebuilds    uint64    // starts from the first sequence because the stream no longer held the next one, or is not the one the Applier's sequence counts in
	LastApplyAt time.Time // time of the last successful Apply
	Connected   bool      // the NATS connection is up
	Ready       bool      // see Subscriber.Ready
}

// Subscriber keeps an Applier in step with the stream: an ordered consumer
// from the last applied sequence, events applied in batches.
type Subscriber struct {
	js     jetstream.JetStream
	a      Applier
	pv     Previewer // a, when it previews; else nil
	cfg    SubscriberConfig
	stream StreamConfig
	log    *slog.Logger
	// filters are the consumer's subject filters, one per kind of
	// cfg.Kinds; nil consumes every event.
	filters []string

	running atomic.Bool
	ready   atomic.Bool

	mu        sync.Mutex
	st        SubscriberStatus
	target    uint64 // stream's last sequence when Run started
	hasTarget bool
	// With filters (see lag): pending is how many messages of the
	// consumed kinds the server held for the consumer at its last word
	// (a delivery or a look), unapplied how many it delivered in this
	// session that are not applied yet.
	pending, unapplied uint64
	// applied is the Applier's recorded stream: that of the stream the
	// session consumes, once the session has started.
	applied StreamIdentity

	// reset tells the session to end: the stream it consumes was
	// recreated or reset (refresh saw it), and the ordered consumer would
	// wait for sequences after the old stream's end.
	reset chan struct{}

	delivered []Delivered // apply's batch, reused (Run's goroutine only)
}

// NewSubscriber returns a subscriber applying the stream to a. It checks c
// and starts nothing; Run consumes.
func NewSubscriber(js jetstream.JetStream, a Applier, c SubscriberConfig) (*Subscriber, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidConfig)
	}
	if a == nil {
		return nil, fmt.Errorf("%w: nil Applier", ErrInvalidConfig)
	}
	sc, err := c.Stream.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.CatchUpWait == 0 {
		c.CatchUpWait = 250 * time.Millisecond
	}
	if c.PreviewWait == 0 {
		c.PreviewWait = 50 * time.Millisecond
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MaxBatch < 0 || c.MaxBatch > 1<<16 {
		return nil, fmt.Errorf("%w: SubscriberConfig.MaxBatch %d not in 1..65536", ErrInvalidConfig, c.MaxBatch)
	}
	if c.MaxWait < 0 {
		return nil, fmt.Errorf("%w: SubscriberConfig.MaxWait %v is negative", ErrInvalidConfig, c.MaxWait)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	filters, err := kindFilters(sc.Prefix, c.Kinds)
	if err != nil {
		return nil, err
	}
	c.Stream = sc
	pv, _ := a.(Previewer)
	return &Subscriber{
		js:      js,
		a:       a,
		pv:      pv,
		cfg:     c,
		stream:  sc,
		log:     c.Logger.With("component", "events"),
		filters: filters,
		reset:   make(chan struct{}, 1),
	}, nil
}

// kindFilters returns the subject filters of kinds under prefix, or nil
// when kinds is empty or holds every kind (no filter).
func kindFilters(prefix string, kinds []Kind) ([]string, error) {
	seen := make(map[Kind]bool, len(kinds))
	var filters []string
	for _, k := range kinds {
		if !k.Valid() || seen[k] {
			return nil, fmt.Errorf("%w: SubscriberConfig.Kinds %q: unknown or repeated kind", ErrInvalidConfig, k)
		}
		seen[k] = true
		filters = append(filters, prefix+".*."+string(k))
	}
	for _, k := range append(RevocationKinds(), KindOutstanding) {
		if !seen[k] {
			return filters, nil
		}
	}
	return nil, nil // every kind
}

// Ready reports whether everything up to the stream's last sequence as of
// the start of Run has been applied (an empty stream is ready at once);
// with Kinds, everything of those kinds up to the last such event.
// Once true it stays true, through later disconnects.
func (s *Subscriber) Ready() bool { return s.ready.Load() }

// Skipped returns the number of messages that did not decode.
func (s *Subscriber) Skipped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Skipped
}

// Status returns a snapshot of the counters.
func (s *Subscriber) Status() SubscriberStatus {
	s.mu.Lock()
	st := s.st
	st.Lag = s.lag(st)
	s.mu.Unlock()
	if nc := s.js.Conn(); nc != nil {
		st.Connected = nc.IsConnected()
	}
	st.Ready = s.ready.Load()
	return st
}

// lag returns how far the replica is behind: StreamLast - LastApplied, or 0.
// With filters the stream's last sequence says nothing (it may be an event
// of a kind not consumed), and lag counts the messages of the consumed
// kinds not applied yet: those delivered in this session and not applied,
// and those the server held for the consumer at its last word (the
// NumPending of the last message delivered, or of the consumer's info when
// it starts or nothing arrived for a while). Called with s.mu held.
func (s *Subscriber) lag(st SubscriberStatus) uint64 {
	if s.filters != nil {
		return s.pending + s.unapplied
	}
	if st.StreamLast > st.LastApplied {
		return st.StreamLast - st.LastApplied
	}
	return 0
}

// Run consumes the stream until ctx ends, then returns nil after its
// goroutines have stopped. It survives disconnects and server restarts; it
// returns early only when the Applier cannot say where to start.
func (s *Subscriber) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)

	last, err := s.a.LastApplied()
	if err != nil {
		return fmt.Errorf("events: read last applied sequence: %w", err)
	}
	applied, err := s.a.AppliedStream()
	if err != nil {
		return fmt.Errorf("events: read the applied stream's identity: %w", err)
	}
	s.mu.Lock()
	s.st.LastApplied = last
	s.applied = applied
	s.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.consumeLoop(gctx); return nil })
	g.Go(func() error { s.refreshLoop(gctx); return nil })
	return g.Wait()
}

// consumeLoop runs consumer sessions until ctx ends, recreating the consumer
// from the last applied sequence whenever one ends in error.
func (s *Subscriber) consumeLoop(ctx context.Context) {
	bo := backoff{min: minRetry, max: maxRetry}
	for ctx.Err() == nil {
		progressed, err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			bo.reset()
		}
		d := bo.next()
		s.mu.Lock()
		s.st.Restarts++
		last := s.st.LastApplied
		s.mu.Unlock()
		s.log.Warn("event consumer stopped; recreating it from the last applied sequence",
			"err", err, "last_applied", last, "retry_in", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return
		}
	}
}

// item is one delivered event; decodeBatch fills ev and err. The events of
// a batched message share its seq, pending and subject.
type item struct {
	seq       uint64
	pending   uint64
	subject   string
	stored    time.Time
	data      []byte
	more      bool // more events of the same message follow
	ev        Event
	err       error
	decoded   bool // ev and err are set
	previewed bool
}

// decodeChunk is the smallest share of a batch worth a goroutine of its own.
const decodeChunk = 32

// decodeBatch decodes every item of batch, in parallel for large batches:
// JSON decoding dominates the cost of a replay.
func decodeBatch(batch []item) {
	workers := min(runtime.GOMAXPROCS(0), len(batch)/decodeChunk)
	if workers <= 1 {
		for i := range batch {
			if !batch[i].decoded {
				batch[i].ev, batch[i].err = Decode(batch[i].data)
			}
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(batch) + workers - 1) / workers
	for lo := 0; lo < len(batch); lo += chunk {
		part := batch[lo:min(lo+chunk, len(batch))]
		wg.Go(func() {
			for i := range part {
				if !part[i].decoded {
					part[i].ev, part[i].err = Decode(part[i].data)
				}
			}
		})
	}
	wg.Wait()
}

// preview decodes it and passes it to the Applier's Preview, when the
// Applier is a Previewer and it is not part of a replay backlog.
func (s *Subscriber) preview(it item) item {
	if s.pv == nil || it.pending >= backlog {
		return it
	}
	it.ev, it.err = Decode(it.data)
	it.decoded = true
	if it.err == nil {
		s.pv.Preview(it.ev)
		it.previewed = true
	}
	return it
}

var (
	errStreamReset     = errors.New("events: the stream was recreated or reset")
	errConsumerClosed  = errors.New("events: consumer closed")
	errConsumerStalled = errors.New("events: consumer delivers nothing although events are pending")
)

// stalled reports whether the server holds events for the consumer although
// nothing arrived for a whole stallCheck period: a safety net should the
// ordered consumer fail to recover by itself.
// got says whether anything arrived in the session (see notePending).
func (s *Subscriber) stalled(ctx context.Context, cons jetstream.Consumer, got *atomic.Bool) bool {
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	info, err := cons.Info(ictx)
	if err != nil {
		return false // between consumers, or disconnected: the consumer handles that
	}
	s.notePending(info, !got.Load())
	return info.NumPending > 0
}

// look asks a filtered consumer, once it consumes and while the subscriber
// is not ready, how many events it holds for it (notePending).
func (s *Subscriber) look(ctx context.Context, cons jetstream.Consumer, got *atomic.Bool) {
	if s.filters == nil || s.ready.Load() {
		return
	}
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	info, err := cons.Info(ictx)
	if err != nil {
		s.log.Debug("consumer info", "stream", s.stream.Name, "err", err)
		return // the stall check looks again
	}
	s.notePending(info, !got.Load())
}

// notePending records, with filters, the consumer's count of events
// pending as the lag, and settles readiness when the consumer has neither
// delivered nor holds anything: the events of the consumed kinds up to the
// stream's end were all applied before the session began (the stream may
// end with events of other kinds, which the server skips). When it has
// delivered, the message it delivered last had nothing pending after it,
// and its apply settles readiness. idle says nothing arrived in the
// session.
func (s *Subscriber) notePending(info *jetstream.ConsumerInfo, idle bool) {
	if s.filters == nil {
		return
	}
	s.mu.Lock()
	s.pending = info.NumPending
	s.mu.Unlock()
	if idle && info.NumPending == 0 && info.Delivered.Consumer == 0 {
		s.markReady("nothing of the consumed kinds to replay")
	}
}

// session creates an ordered consumer after the last applied sequence and
// applies what it delivers until ctx ends or the consumer fails. progressed
// reports whether any batch was applied.
func (s *Subscriber) session(ctx context.Context) (progressed bool, err error) {
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	stream, err := s.js.Stream(ictx, s.stream.Name)
	cancel()
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", s.stream.Name, err)
	}
	info := stream.CachedInfo()
	state := info.State
	s.noteStream(state.FirstSeq, state.LastSeq)
	select {
	case <-s.reset: // seen; handled below
	default:
	}

	// The recorded sequence counts in the recorded stream: in another one
	// (recreated while this node followed it or was stopped, or another
	// stream of the name) it means nothing, and the new stream is replayed
	// from its start.
	id := IdentifyStream(info)
	s.mu.Lock()
	last, recorded := s.st.LastApplied, s.applied
	s.mu.Unlock()
	start := last + 1
	first := max(state.FirstSeq, 1)
	switch {
	case !recorded.IsZero() && recorded != id && last > 0:
		s.log.Warn("the stream is not the one the last applied sequence counts in (recreated, or another stream of the name); replaying it from the first sequence",
			"stream", s.stream.Name, "last_applied", last, "applied_stream", recorded.String(), "stream_identity", id.String(),
			"stream_last", state.LastSeq, "first_seq", first)
		start = first
		if err := s.rebuild(start, id); err != nil {
			return false, err
		}
	case last > state.LastSeq:
		s.log.Warn("stream ends before the last applied sequence (stream recreated or reset?); replaying it from the first sequence",
			"stream", s.stream.Name, "last_applied", last, "stream_last", state.LastSeq, "first_seq", first)
		start = first
		if err := s.rebuild(start, id); err != nil {
			return false, err
		}
	case last > 0 && start < first:
		s.log.Warn("node was away longer than the stream keeps events: messages after the last applied sequence were pruned (MaxAge or per-message TTL); rebuilding from the first sequence",
			"stream", s.stream.Name, "last_applied", last, "first_seq", first)
		start = first
		if err := s.rebuild(start, id); err != nil {
			return false, err
		}
	case recorded != id:
		// None recorded (a new replica, or one from before identities
		// were recorded), or nothing applied yet: record the stream before
		// applying any of it.
		if err := s.resetApplied(last, id); err != nil {
			return false, err
		}
	}
	s.setTarget(state.Msgs, state.LastSeq)

	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubjects: s.filters}
	if start > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start
	}
	cctx, cancel := context.WithTimeout(ctx, infoTimeout)
	cons, err := s.js.OrderedConsumer(cctx, s.stream.Name, cfg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("create ordered consumer: %w", err)
	}

	ch := make(chan item, 2*s.cfg.MaxBatch)
	done := make(chan struct{})
	var got atomic.Bool // a message arrived in this session
	s.mu.Lock()
	s.unapplied = 0 // the last session's are delivered again
	s.mu.Unlock()
	handler := func(msg jetstream.Msg) {
		got.Store(true)
		md, err := msg.Metadata()
		if err != nil {
			s.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
			return
		}
		if s.filters != nil {
			s.mu.Lock()
			s.pending = md.NumPending
			s.unapplied++
			s.mu.Unlock()
		}
		evs := MessageEvents(msg.Data(), msg.Headers())
		for i, data := range evs {
			it := item{seq: md.Sequence.Stream, pending: md.NumPending, subject: msg.Subject(), stored: md.Timestamp,
				data: data, more: i < len(evs)-1}
			select {
			case ch <- it:
			case <-done:
				return
			}
		}
	}
	errHandler := func(_ jetstream.ConsumeContext, err error) {
		s.log.Warn("event consumer error; it recreates itself", "err", err)
	}
	cc, err := cons.Consume(handler,
		jetstream.PullMaxMessages(max(2*s.cfg.MaxBatch, 512)),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(errHandler))
	if err != nil {
		return false, fmt.Errorf("consume: %w", err)
	}
	closed := cc.Closed()
	defer func() {
		close(done) // release a handler blocked on ch
		cc.Stop()
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-closed:
		case <-t.C:
			s.log.Warn("event consumer did not stop in time", "timeout", stopTimeout)
		}
	}()
	s.log.Info("consuming events", "stream", s.stream.Name, "start_seq", start, "filter", s.filters)
	s.look(ctx, cons, &got)

	batch := make([]item, 0, s.cfg.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	stall := time.NewTicker(stallCheck)
	defer stall.Stop()
	received := false
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return progressed, nil
		case <-closed:
			return progressed, errConsumerClosed
		case <-s.reset:
			return progressed, errStreamReset
		case <-stall.C:
			if !received && s.stalled(ctx, cons, &got) {
				return progressed, errConsumerStalled
			}
			received = false
			continue
		case it := <-ch:
			batch = append(batch, s.preview(it))
			received = true
		}
	fill: // take what is already here
		for len(batch) < s.cfg.MaxBatch {
			select {
			case it := <-ch:
				batch = append(batch, s.preview(it))
			default:
				break fill
			}
		}
		// A burst is on its way (the server said so): gather it for up to
		// MaxWait, or CatchUpWait when a backlog is pending (a replay: one
		// large batch costs the store far less than many small ones).
		// Otherwise apply now; waiting would only add latency, and what
		// arrives while this batch commits makes the next one.
		last := batch[len(batch)-1]
		if pending := last.pending; len(batch) < s.cfg.MaxBatch && (pending >= burst || last.previewed) && s.cfg.MaxWait > 0 {
			wait := s.cfg.MaxWait
			switch {
			case pending >= backlog:
				wait = max(wait, s.cfg.CatchUpWait)
			case last.previewed:
				wait = max(wait, s.cfg.PreviewWait)
			}
			timer.Reset(wait)
		gather:
			for len(batch) < s.cfg.MaxBatch {
				select {
				case it := <-ch:
					batch = append(batch, s.preview(it))
				case <-timer.C:
					break gather
				case <-ctx.Done():
					return progressed, nil
				}
			}
			timer.Stop()
		}
		// A message's events are applied together: the batch records the
		// message's sequence as applied.
		for batch[len(batch)-1].more {
			select {
			case it := <-ch:
				batch = append(batch, s.preview(it))
			case <-ctx.Done():
				return progressed, nil
			}
		}
		decodeBatch(batch)
		if !s.apply(ctx, batch) {
			return progressed, nil // ctx ended
		}
		progressed = true
	}
}

// apply hands a batch to the Applier, retrying with backoff until it
// succeeds or ctx ends (reported as false). A failed batch is never skipped.
func (s *Subscriber) apply(ctx context.Context, batch []item) bool {
	delivered := s.delivered[:0]
	defer func() {
		clear(delivered) // let the events go
		s.delivered = delivered[:0]
	}()
	var lastSeq, pending, msgs uint64
	skipped := 0
	for _, it := range batch {
		if !it.more {
			msgs++ // the message's last event
		}
		if it.seq > lastSeq {
			lastSeq, pending = it.seq, it.pending
		}
		if it.err != nil {
			skipped++
			s.log.Warn("skipping undecodable event", "seq", it.seq, "subject", it.subject, "err", it.err)
			continue
		}
		delivered = append(delivered, Delivered{Seq: it.seq, Event: it.ev, Subject: it.subject, Stored: it.stored, Previewed: it.previewed})
	}
	bo := backoff{min: minRetry, max: maxRetry}
	for attempt := 1; ; attempt++ {
		err := s.a.Apply(ctx, delivered, lastSeq)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		s.mu.Lock()
		s.st.ApplyErrors++
		s.mu.Unlock()
		d := bo.next()
		s.log.Error("applying events failed; retrying the same batch", "err", err,
			"first_seq", batch[0].seq, "last_seq", lastSeq, "events", len(delivered),
			"attempt", attempt, "retry_in", d.Round(time.Millisecond))
		if !sleepCtx(ctx, d) {
			return false
		}
	}

	s.mu.Lock()
	s.st.LastApplied = lastSeq
	s.st.Applied += uint64(len(delivered))
	s.st.Skipped += uint64(skipped)
	s.st.Batches++
	s.st.LastApplyAt = s.cfg.Now()
	s.st.StreamLast = max(s.st.StreamLast, lastSeq+pending)
	s.unapplied -= min(s.unapplied, msgs)
	reached := s.hasTarget && lastSeq >= s.target
	s.mu.Unlock()
	// pending == 0: the server had nothing after this message when it sent
	// it, so everything that existed at start has been applied.
	if reached || pending == 0 {
		s.markReady("caught up")
	}
	return true
}

// rebuild records start-1 as the last applied sequence in stream, in the
// Applier and in memory, before replaying from start.
func (s *Subscriber) rebuild(start uint64, stream StreamIdentity) error {
	if err := s.resetApplied(start-1, stream); err != nil {
		return fmt.Errorf("record the rebuild's start: %w", err)
	}
	s.mu.Lock()
	s.st.Rebuilds++
	s.mu.Unlock()
	return nil
}

// resetApplied records seq as the last applied sequence and stream as the
// stream it counts in, in the Applier and in memory.
func (s *Subscriber) resetApplied(seq uint64, stream StreamIdentity) error {
	if err := s.a.ResetApplied(seq, stream); err != nil {
		return fmt.Errorf("record the applied sequence %d of stream %s: %w", seq, stream, err)
	}
	s.mu.Lock()
	s.st.LastApplied = seq
	s.applied = stream
	s.mu.Unlock()
	return nil
}

// setTarget fixes the readiness target at the first successful look at the
// stream.
func (s *Subscriber) setTarget(msgs, lastSeq uint64) {
	s.mu.Lock()
	if s.hasTarget {
		s.mu.Unlock()
		return
	}
	s.hasTarget = true
	s.target = lastSeq
	reached := msgs == 0 || s.st.LastApplied >= lastSeq
	s.mu.Unlock()
	if reached {
		s.markReady("nothing to replay")
	}
}

func (s *Subscriber) markReady(why string) {
	if s.ready.CompareAndSwap(false, true) {
		st := s.Status()
		s.log.Info("event replica ready", "why", why, "last_applied", st.LastApplied, "applied", st.Applied, "skipped", st.Skipped)
	}
}

func (s *Subscriber) noteStream(first, last uint64) {
	s.mu.Lock()
	s.st.StreamFirst = first
	s.st.StreamLast = last
	s.mu.Unlock()
}

// refreshLoop refreshes the stream's first and last sequence about once a
// second, and settles readiness when the messages before the target were
// removed (per-message TTL) so that it will never be delivered.
func (s *Subscriber) refreshLoop(ctx context.Context) {
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, infoTimeout)
		s.refresh(rctx)
		cancel()
	}
}

func (s *Subscriber) refresh(ctx context.Context) {
	s.mu.Lock()
	// Read before the look, so that an apply meanwhile cannot pass for a
	// reset (a session that starts meanwhile may cost one needless restart).
	applied, recorded := s.st.LastApplied, s.applied
	s.mu.Unlock()
	stream, err := s.js.Stream(ctx, s.stream.Name)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("stream info", "stream", s.stream.Name, "err", err)
		}
		return
	}
	info := stream.CachedInfo()
	state := info.State
	s.noteStream(state.FirstSeq, state.LastSeq)
	if (!recorded.IsZero() && IdentifyStream(info) != recorded) || state.LastSeq < applied {
		// Recreated or reset: the ordered consumer, which recreates itself
		// after the last sequence it delivered, would wait for the old
		// stream's sequences. A new session replays the new stream.
		select {
		case s.reset <- struct{}{}:
		default:
		}
	}
	if s.ready.Load() {
		return
	}
	s.mu.Lock()
	has, target, last := s.hasTarget, s.target, s.st.LastApplied
	s.mu.Unlock()
	if !has {
		return
	}
	if last >= target || state.Msgs == 0 {
		s.markReady("caught up")
		return
	}
	if s.filters != nil {
		return // the stream's tail may be of kinds not consumed: the consumer says (look)
	}
	// The tail up to the target may have expired (Nats-TTL): compare with
	// the last message that still exists.
	m, err := stream.GetLastMsgForSubject(ctx, s.stream.subjects())
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		s.markReady("no events left in the stream")
	case err != nil:
		s.log.Debug("last message of stream", "stream", s.stream.Name, "err", err)
	case m.Sequence <= last:
		s.markReady("caught up with the last remaining event")
	}
}
