package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/blnode/blnode/internal/scratch"
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
	// DefaultStreamInfoInterval is how often a ready subscriber looks at
	// the stream (SubscriberConfig.StreamInfoInterval).
	DefaultStreamInfoInterval = 30 * time.Second
)

// Buffers follow the backlog. A live session hands events over through a
// channel of liveBuffer, pulls 2×liveBuffer at a time and grows its batch
// only as far as the events that arrive together: an idle subscriber holds
// next to nothing. A catch-up session pulls and buffers 2×MaxBatch, so
// that a replay applies MaxBatch events per commit. A session starts
// catching up when the stream's last sequence is catchUp or more past the
// last applied one; a live session that receives a message with catchUp or
// more pending (the consumer's count) ends before applying it, and a
// catch-up session follows. A catch-up session ends once fewer than burst
// are pending, or nothing arrived for a whole StreamInfoInterval (the
// stream's sequences overstated the backlog: deleted messages), and a live
// session follows.
const (
	liveBuffer = 256
	catchUp    = 8192
)

// sizing is how a session sizes its buffers.
type sizing int

const (
	// sizeByStream catches up when the stream's last sequence is catchUp
	// or more past the last applied one. The stream's sequences may
	// overstate the backlog (deleted messages count); so after a catch-up
	// session ends the next one is sized live, not by the stream again.
	sizeByStream sizing = iota
	sizeLive
	sizeCatchUp
)

// Consumer tuning: pull in large batches for replay, and notice a lost
// consumer (server restart, cluster member gone) within a few seconds.
const (
	pullExpiry    = 10 * time.Second
	pullHeartbeat = 2 * time.Second
	// refreshUnready is how often a subscriber that is not ready yet
	// looks at the stream, to settle readiness when the events before its
	// target expired.
	refreshUnready = time.Second
	infoTimeout    = 5 * time.Second
	deleteTimeout  = 15 * time.Second
	// inactiveAfter is how long the server keeps an ordered consumer
	// nobody pulls from (one whose deletion failed): a consumer pulls at
	// least every pullExpiry.
	inactiveAfter = 3 * pullExpiry
	stopTimeout   = 5 * time.Second
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
	// Previewed says Previewer.Preview put the event in force on arrival.
	Previewed bool
}

// Previewer may be implemented by an Applier that puts events in force as
// they arrive, before their batch commits (the node answers checks for them
// from memory). Preview is called from the subscriber's goroutine with each
// event as it is received while the subscriber is caught up, and reports
// whether the event is in force now (or changes no answer). One that is
// reaches Apply marked Previewed, in a batch gathered for up to
// PreviewWait, since the commit no longer holds it back; one that is not
// ends the gathering: its batch commits at once. Events of a replay backlog
// are not previewed.
type Previewer interface {
	Preview(ev Event) bool
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
	// counting skipped (undecodable) messages, so batch may be empty;
	// while the subscriber follows the live subject (SubscriberConfig.Live)
	// it is the sequence everything is known to be applied up to, which
	// may be below the batch's. Apply
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
	Logger   *slog.Logger  // default slog.Default(); slog.New(slog.DiscardHandler) silences it
	MaxBatch int           // default 1024: most events per Apply (a batched message is never split, so a batch may exceed it by one message)
	MaxWait  time.Duration // default 5ms: how long to gather a batch while a burst (64+ events) is on its way
	// PreviewWait is how long to gather a batch of previewed events (the
	// Applier is a Previewer): they are in force already, so a longer wait
	// only saves commits; default 50ms. Each batch waits between half of
	// it and all of it, at random: replicas that share a machine (sidecars
	// of one host) and receive the same events do not all commit at once.
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
	// StreamInfoInterval is how often a ready subscriber looks at the
	// stream (one JetStream STREAM.INFO request) to refresh StreamFirst
	// and StreamLast, to notice a stream recreated or reset under it that
	// the consumer did not report, and to check a consumer that delivers
	// nothing although the stream is ahead. Each wait is lengthened by up
	// to a quarter at random, so that a fleet does not ask in step. Until
	// it is ready a subscriber looks once a second. Default 30s.
	StreamInfoInterval time.Duration
	// Live follows, once caught up, the live subject the stream
	// republishes its messages to, when it does (RePublish and
	// AllowDirect, as EnsureStream configures), instead of a JetStream
	// consumer: no consumer on the server per subscriber, and one direct
	// get per StreamInfoInterval (see live.go). The recorded sequence then
	// lags the applied events by up to a StreamInfoInterval, so a replica
	// restarted after a crash replays that much. Off, or on a stream that
	// does not republish, a consumer follows.
	Live bool
	Now  func() time.Time
}

// SubscriberStatus is a snapshot for metrics and health.
type SubscriberStatus struct {
	LastApplied uint64    // stream sequence recorded by the last Apply
	StreamFirst uint64    // first sequence in the stream, refreshed every StreamInfoInterval (once a second until ready)
	StreamLast  uint64    // last sequence in the stream, from the same refresh or from deliveries (sequence + pending)
	Lag         uint64    // StreamLast - LastApplied, or 0; with Kinds, see lag
	Applied     uint64    // events handed to Apply successfully
	Skipped     uint64    // messages that did not decode
	Batches     uint64    // successful Apply calls
	ApplyErrors uint64    // failed Apply calls (each retried)
	Restarts    uint64    // consumers recreated after an error
	Rebuilds    uint64    // starts from the first sequence because the stream no longer held the next one, or is not the one the Applier's sequence counts in
	Live        bool      // following the live subject the stream republishes to (live.go), not a consumer
	Gaps        uint64    // live sessions ended by a gap (or a possible one: a drop, a reconnect), each followed by a replay
	Confirms    uint64    // the live subject's checks against the stream (one direct get each)
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
	// cleanup tracks consumers handed over to the live subject being
	// deleted on the server; Run waits for it.
	cleanup sync.WaitGroup
	ready   atomic.Bool

	mu        sync.Mutex
	st        SubscriberStatus
	target    uint64 // stream's last sequence when Run started
	hasTarget bool
	// With filters (see lag): pending is how many messages of the
	// consumed kinds the server held for the consumer at its last word
	// (a delivery or a look), unapplied how many it delivered in this
	// session that are not applied yet. arrived is the stream sequence of
	// the last message delivered in this session: a consumer's info that
	// had not seen it yet (asked before it arrived) is older than the
	// message's own count and does not replace it.
	pending, unapplied, arrived uint64
	// applied is the Applier's recorded stream: that of the stream the
	// session consumes, once the session has started.
	applied StreamIdentity

	// recorded is the Applier's recorded sequence, where a consumer
	// starts: LastApplied while consuming, the live subject's floor
	// (live.go) while following it.
	recorded uint64
	// live is the live subject's state while a session follows it.
	live *liveState
	// mustConsume says the next session consumes, even when the stream
	// republishes: the live session before it found a gap (Run's
	// goroutine only).
	mustConsume bool

	// reset tells the session to end: the stream it consumes was
	// recreated or reset (refresh saw it), and the ordered consumer would
	// wait for sequences after the old stream's end.
	reset chan struct{}

	delivered []Delivered // apply's batch, reused within a session while batches are large (Run's goroutine only)
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
	if c.StreamInfoInterval == 0 {
		c.StreamInfoInterval = DefaultStreamInfoInterval
	}
	if c.StreamInfoInterval < 0 {
		return nil, fmt.Errorf("%w: SubscriberConfig.StreamInfoInterval %v is negative", ErrInvalidConfig, c.StreamInfoInterval)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
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
	st.Live = s.live != nil
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
	s.recorded = last
	s.applied = applied
	s.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.consumeLoop(gctx); return nil })
	g.Go(func() error { s.refreshLoop(gctx); return nil })
	err = g.Wait()
	s.cleanup.Wait()
	return err
}

// consumeLoop runs consumer sessions until ctx ends, recreating the consumer
// from the last applied sequence whenever one ends in error.
func (s *Subscriber) consumeLoop(ctx context.Context) {
	bo := backoff{min: minRetry, max: maxRetry}
	size := sizeByStream
	for ctx.Err() == nil {
		progressed, err := s.session(ctx, size)
		s.delivered = nil // a catch-up session's, perhaps
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, errGrow):
			size = sizeCatchUp
		case errors.Is(err, errShrink):
			size = sizeLive
		case errors.Is(err, errFollowLive):
			s.mustConsume = false
			size = sizeLive
		case errors.Is(err, errGap):
			// Replay from the floor with a consumer, then back to the
			// live subject.
			s.mustConsume = true
			s.mu.Lock()
			s.st.Gaps++
			s.mu.Unlock()
			s.log.Info("replaying from the last complete sequence", "err", err)
			bo.reset()
			continue
		default:
			size = sizeByStream
		}
		if size != sizeByStream {
			s.log.Debug("event consumer resized to the backlog", "err", err)
			bo.reset()
			continue
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

// arrival is one delivered event as the consumer's handler passes it on,
// undecoded (small: the session's channel holds these). The events of a
// batched message share its seq, pending and subject.
type arrival struct {
	seq     uint64
	pending uint64
	subject string
	stored  time.Time
	data    []byte
	more    bool // more events of the same message follow
}

// item is an arrival in a batch; decodeBatch fills ev and err.
type item struct {
	arrival
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

// preview makes a batch item of a, decoding it and passing it to the
// Applier's Preview when the Applier is a Previewer and a is not part of a
// replay backlog.
func (s *Subscriber) preview(a arrival) item {
	it := item{arrival: a}
	if s.pv == nil || it.pending >= backlog {
		return it
	}
	it.ev, it.err = Decode(it.data)
	it.decoded = true
	if it.err == nil {
		it.previewed = s.pv.Preview(it.ev)
	}
	return it
}

var (
	errStreamReset     = errors.New("events: the stream was recreated or reset")
	errConsumerLost    = errors.New("events: the consumer was deleted or lost")
	errConsumerClosed  = errors.New("events: consumer closed")
	errConsumerStalled = errors.New("events: consumer delivers nothing although events are pending")
	// errGrow and errShrink end a session whose buffers no longer fit
	// the backlog (see liveBuffer); they are no failure.
	errGrow   = errors.New("events: a backlog is pending; consuming it with larger buffers")
	errShrink = errors.New("events: caught up; consuming live events with small buffers")
	// errFollowLive ends a consumer that has caught up with a stream that
	// republishes: the live subject follows. No failure either.
	errFollowLive = errors.New("events: caught up; following the live subject")
	// errGap ends a live session that may have missed a message: a
	// consumer replays from the floor.
	errGap = errors.New("events: gap on the live subject")
)

// stalled reports whether the server holds events for the consumer although
// nothing arrived for a whole StreamInfoInterval: a safety net should the
// ordered consumer fail to recover by itself. It asks the server
// (CONSUMER.INFO) only when the stream was last seen ahead of what is
// applied (with Kinds: when the consumer was last seen holding events), so
// an idle subscriber makes no request. got says whether anything arrived
// in the session (see notePending).
func (s *Subscriber) stalled(ctx context.Context, cons jetstream.Consumer, got *atomic.Bool) bool {
	s.mu.Lock()
	behind := s.st.StreamLast > s.st.LastApplied
	if s.filters != nil {
		behind = s.pending > 0
	}
	s.mu.Unlock()
	if !behind {
		return false
	}
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	info, err := cons.Info(ictx)
	if err != nil {
		return false // between consumers, or disconnected: the consumer handles that
	}
	s.notePending(info, !got.Load())
	return info.NumPending > 0
}

// look asks the consumer (one CONSUMER.INFO) how many events it holds for
// it (notePending), when that says something: while a filtered subscriber
// is not ready, or when the consumer may hand over to the live subject
// (toLive). It returns nil when it did not ask or the request failed.
func (s *Subscriber) look(ctx context.Context, cons jetstream.Consumer, got *atomic.Bool, toLive bool) *jetstream.ConsumerInfo {
	if !toLive && (s.filters == nil || s.ready.Load()) {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	info, err := cons.Info(ictx)
	if err != nil {
		s.log.Debug("consumer info", "stream", s.stream.Name, "err", err)
		return nil // the stall check looks again
	}
	s.notePending(info, !got.Load())
	return info
}

// caughtUp reports whether a consumer, as info describes it, neither holds
// nor has delivered anything: it hands over to the live subject at once.
func caughtUp(info *jetstream.ConsumerInfo, got *atomic.Bool) bool {
	return info != nil && info.NumPending == 0 && !got.Load()
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
	if info.Delivered.Stream >= s.arrived {
		s.pending = info.NumPending
	}
	s.mu.Unlock()
	if idle && info.NumPending == 0 && info.Delivered.Consumer == 0 {
		s.markReady("nothing of the consumed kinds to replay")
	}
}

// session looks at the stream, replays it from its first sequence when the
// recorded sequence does not count in it, and then follows it: on the live
// subject the stream republishes to (see live.go) when there is nothing to
// replay, else with an ordered consumer after the recorded sequence, which
// hands over to the live subject once caught up. It applies what arrives
// until ctx ends, the feed fails, or its buffers (sized as size says, see
// liveBuffer) no longer fit the backlog. progressed reports whether any
// batch was applied.
func (s *Subscriber) session(ctx context.Context, size sizing) (progressed bool, err error) {
	info, err := s.lookAtStream(ctx)
	if err != nil {
		return false, err
	}
	state := info.State
	start, err := s.startSeq(info)
	if err != nil {
		return false, err
	}
	s.setTarget(state.Msgs, state.LastSeq)
	s.mu.Lock()
	s.arrived = 0 // a new session's consumer counts from its own start
	s.mu.Unlock()
	route, live := s.liveRouteOf(info.Config)
	if live && !s.mustConsume && state.LastSeq < start {
		return s.follow(ctx, route)
	}
	catchingUp := size == sizeCatchUp ||
		size == sizeByStream && state.LastSeq >= start && state.LastSeq-start+1 >= catchUp
	return s.consume(ctx, start, catchingUp, live)
}

// lookAtStream is a session's first stage: it asks for the stream's info
// (one STREAM.INFO), notes its first and last sequence, and clears a reset
// refresh signalled before: the session about to start sees the stream as
// it is now.
func (s *Subscriber) lookAtStream(ctx context.Context) (*jetstream.StreamInfo, error) {
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	stream, err := s.js.Stream(ictx, s.stream.Name)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.stream.Name, err)
	}
	info := stream.CachedInfo()
	s.noteStream(info.State.FirstSeq, info.State.LastSeq)
	select {
	case <-s.reset: // seen; startSeq handles it
	default:
	}
	return info, nil
}

// startSeq returns the sequence a session starts from, in the stream info
// describes: the one after the recorded sequence, or the stream's first
// when the recorded sequence does not count in it (rebuild). It records
// the stream's identity before any of the stream is applied.
func (s *Subscriber) startSeq(info *jetstream.StreamInfo) (uint64, error) {
	state := info.State
	// The recorded sequence counts in the recorded stream: in another one
	// (recreated while this node followed it or was stopped, or another
	// stream of the name) it means nothing, and the new stream is replayed
	// from its start.
	id := IdentifyStream(info)
	s.mu.Lock()
	last, recorded := s.recorded, s.applied
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
			return 0, err
		}
	case last > state.LastSeq:
		s.log.Warn("stream ends before the last applied sequence (stream recreated or reset?); replaying it from the first sequence",
			"stream", s.stream.Name, "last_applied", last, "stream_last", state.LastSeq, "first_seq", first)
		start = first
		if err := s.rebuild(start, id); err != nil {
			return 0, err
		}
	case last > 0 && start < first:
		s.log.Warn("node was away longer than the stream keeps events: messages after the last applied sequence were pruned (MaxAge or per-message TTL); rebuilding from the first sequence",
			"stream", s.stream.Name, "last_applied", last, "first_seq", first)
		start = first
		if err := s.rebuild(start, id); err != nil {
			return 0, err
		}
	case recorded != id:
		// None recorded (a new replica, or one from before identities
		// were recorded), or nothing applied yet: record the stream before
		// applying any of it.
		if err := s.resetApplied(last, id); err != nil {
			return 0, err
		}
	}
	return start, nil
}

// consume creates an ordered consumer from start and applies what it
// delivers (drain). With toLive, the session ends with errFollowLive once
// the consumer has nothing pending, so that the next one follows the live
// subject.
func (s *Subscriber) consume(ctx context.Context, start uint64, catchingUp, toLive bool) (progressed bool, err error) {
	chanSize, pull := liveBuffer, 2*liveBuffer
	if catchingUp {
		chanSize, pull = 2*s.cfg.MaxBatch, max(2*s.cfg.MaxBatch, pull)
	}
	cons, err := s.orderedConsumer(ctx, start)
	if err != nil {
		return false, err
	}
	h := s.newHandoff(chanSize)
	cc, err := cons.Consume(h.handle,
		jetstream.PullMaxMessages(pull),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(h.handleErr))
	if err != nil {
		return false, fmt.Errorf("consume: %w", err)
	}
	closed := cc.Closed()
	defer func() { s.stopConsumer(cons, cc, closed, h, err) }()
	s.log.Info("consuming events", "stream", s.stream.Name, "start_seq", start, "filter", s.filters, "catching_up", catchingUp)
	if info := s.look(ctx, cons, &h.got, toLive); toLive && caughtUp(info, &h.got) {
		return false, errFollowLive
	}
	return s.drain(ctx, feed{ch: h.ch, closed: closed, lost: h.lost, cons: cons, got: &h.got, catchingUp: catchingUp, toLive: toLive})
}

// orderedConsumer creates the ordered consumer of a session that starts at
// start, filtered on the kinds consumed.
func (s *Subscriber) orderedConsumer(ctx context.Context, start uint64) (jetstream.Consumer, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubjects: s.filters,
		InactiveThreshold: inactiveAfter}
	if start > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start
	}
	cctx, cancel := context.WithTimeout(ctx, infoTimeout)
	cons, err := s.js.OrderedConsumer(cctx, s.stream.Name, cfg)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create ordered consumer: %w", err)
	}
	return cons, nil
}

// handoff is where a consumer's handlers pass a session's events on to its
// drain.
type handoff struct {
	s    *Subscriber
	ch   chan arrival  // the events delivered, one arrival each
	done chan struct{} // closed when the session ends: releases a handler blocked on ch
	lost chan error    // the consumer was lost (handleErr)
	got  atomic.Bool   // a message arrived in this session
}

// newHandoff returns the handoff of a consumer session whose channel holds
// chanSize events, and forgets the last session's unapplied events (they
// are delivered again).
func (s *Subscriber) newHandoff(chanSize int) *handoff {
	h := &handoff{s: s, ch: make(chan arrival, chanSize), done: make(chan struct{}), lost: make(chan error, 1)}
	s.mu.Lock()
	s.unapplied = 0 // the last session's are delivered again
	s.mu.Unlock()
	return h
}

// handle is the consumer's message handler: it passes the message's events
// on, undecoded, until the session ends.
func (h *handoff) handle(msg jetstream.Msg) {
	s := h.s
	h.got.Store(true)
	md, err := msg.Metadata()
	if err != nil {
		s.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
		return
	}
	if s.filters != nil {
		s.mu.Lock()
		s.pending = md.NumPending
		s.arrived = max(s.arrived, md.Sequence.Stream)
		s.unapplied++
		s.mu.Unlock()
	}
	evs := MessageEvents(msg.Data(), msg.Headers())
	for i, data := range evs {
		it := arrival{seq: md.Sequence.Stream, pending: md.NumPending, subject: msg.Subject(), stored: md.Timestamp,
			data: data, more: i < len(evs)-1}
		select {
		case h.ch <- it:
		case <-h.done:
			return
		}
	}
}

// handleErr is the consumer's error handler: it ends the session when the
// consumer is lost.
func (h *handoff) handleErr(_ jetstream.ConsumeContext, err error) {
	h.s.log.Warn("event consumer error; it recreates itself", "err", err)
	// A consumer deleted (with its stream, when the stream is
	// deleted) or gone silent (a server restarted, perhaps with
	// another stream of the name) ends the session: the next one
	// looks at the stream and replays it if it is not the one being
	// followed. The ordered consumer would recreate itself after the
	// last sequence it delivered, in whatever stream there is now.
	if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoHeartbeat) {
		select {
		case h.lost <- fmt.Errorf("%w: %w", errConsumerLost, err):
		default:
		}
	}
}

// stopConsumer is a consumer session's last stage: it releases the
// handler, stops the consumer (waiting for it at most stopTimeout), and
// has a consumer handed over to the live subject (end is errFollowLive)
// deleted in the background.
func (s *Subscriber) stopConsumer(cons jetstream.Consumer, cc jetstream.ConsumeContext, closed <-chan struct{}, h *handoff, end error) {
	close(h.done) // release a handler blocked on ch
	// Stop waits for the lock an ordered consumer holds while it
	// recreates its consumer, retrying for as long as the server is
	// away (nats.go 1.55): it must not hold the session, nor Run, up.
	go cc.Stop()
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
		s.log.Warn("event consumer did not stop in time", "timeout", stopTimeout)
	}
	if errors.Is(end, errFollowLive) {
		// The server would keep it for its inactive threshold. The
		// live session need not wait: a start-up storm of validators
		// makes deletions slow.
		s.cleanup.Go(func() { s.deleteConsumer(cons) })
	}
}

// deleteConsumer deletes the ordered consumer's present consumer on the
// server (best effort: it expires by itself otherwise).
func (s *Subscriber) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil || info.Name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	if err := s.js.DeleteConsumer(ctx, s.stream.Name, info.Name); err != nil {
		s.log.Debug("deleting the consumer handed over to the live subject", "consumer", info.Name, "err", err)
	}
}

// feed is where a session's events come from: a consumer (cons set) or the
// live subject (live set).
type feed struct {
	ch         <-chan arrival   // a consumer's; nil when live
	raw        <-chan *nats.Msg // the live subjects'; nil for a consumer
	closed     <-chan struct{}  // the consumer stopped; nil when live
	lost       <-chan error     // the consumer was lost, or a gap on the live subject
	cons       jetstream.Consumer
	got        *atomic.Bool
	catchingUp bool
	toLive     bool       // a consumer that hands over to the live subject once caught up
	live       *liveState // the live subject's
}

// drain applies what f delivers, in batches, until ctx ends or f fails.
// Each batch goes through the stages of batcher: it starts with the first
// arrival (the select below), takes what is already here (fill), gathers
// a burst on its way (gather), completes its last message (complete), and
// commits (commit).
func (s *Subscriber) drain(ctx context.Context, f feed) (progressed bool, err error) {
	var advance <-chan struct{}
	var tick <-chan time.Time
	if f.live != nil {
		advance = f.live.advance
		t := time.NewTicker(liveTick)
		defer t.Stop()
		tick = t.C
	}
	b := batcher{s: s, f: f, timer: time.NewTimer(time.Hour)}
	b.timer.Stop()
	defer b.timer.Stop()
	defer b.settle()
	stall := time.NewTicker(s.cfg.StreamInfoInterval)
	defer stall.Stop()
	for {
		b.batch = b.batch[:0]
		b.inForce = true
		select {
		case <-ctx.Done():
			return b.progressed, nil
		case <-f.closed:
			return b.progressed, errConsumerClosed
		case <-s.reset:
			return b.progressed, errStreamReset
		case err := <-f.lost:
			return b.progressed, err
		case <-advance:
			if !b.settle() {
				return b.progressed, nil // ctx ended
			}
			s.recordFloor(ctx, f.live)
			continue
		case <-tick:
			if err := s.connLost(f.live); err != nil {
				return b.progressed, err
			}
			continue
		case <-stall.C:
			if err := b.quiet(ctx); err != nil {
				return b.progressed, err
			}
			continue
		case it := <-f.ch:
			if !f.catchingUp && it.pending >= catchUp {
				// Not applied: the next session starts with it.
				return b.progressed, fmt.Errorf("%w: %d pending", errGrow, it.pending)
			}
			b.batch = append(b.batch, s.preview(it))
			b.received = true
		case m := <-f.raw:
			if b.inForce = b.take(m); len(b.batch) == 0 {
				if b.liveErr != nil {
					return b.progressed, b.liveErr
				}
				continue // not an event of the stream followed
			}
		}
		b.fill()
		b.gather(ctx)
		if !b.complete(ctx) {
			return b.progressed, nil // ctx ended
		}
		if end, err := b.commit(ctx); end {
			return b.progressed, err
		}
	}
}

// batcher is a drain's state: the batch being taken, and the one
// committing behind it on the live subject. It lives in drain's frame.
type batcher struct {
	s *Subscriber
	f feed

	batch []item // grown to what arrives together
	// inForce says every live event of batch was in force on arrival
	// (it stays true with a consumer).
	inForce bool
	// liveErr set ends the session, once what batch holds is applied.
	liveErr error
	// received says something arrived since the stall ticker last ticked.
	received bool
	// A live session commits a batch while it takes and previews the
	// next: what arrives is never held behind a commit. One batch commits
	// at a time, so the Applier is never called concurrently; the buffer
	// of the one committing is spare until it has.
	committing chan bool // the outcome of the batch committing; nil when none
	spare      []item
	timer      *time.Timer // gather's; stopped between gatherings
	progressed bool        // a batch was applied
}

// take adds a republished message's events to the batch and reports
// whether all were in force on arrival. It sets liveErr when the session
// ends.
func (b *batcher) take(m *nats.Msg) (inForce bool) {
	b.batch, inForce, b.liveErr = b.s.takeLive(b.f.live, m, b.batch)
	return inForce
}

// settle waits for the batch committing, if any; false when ctx ended
// before it committed.
func (b *batcher) settle() bool {
	if b.committing == nil {
		return true
	}
	ok := <-b.committing
	b.committing = nil
	return ok
}

// quiet is the stall ticker's stage: when nothing arrived for a whole
// StreamInfoInterval, a catch-up session ends (the backlog was
// overstated), a stalled consumer ends its session, and a caught-up one
// hands over to the live subject. It returns the error that ends the
// session, or nil.
func (b *batcher) quiet(ctx context.Context) error {
	s, f := b.s, b.f
	if f.cons == nil {
		return nil // the live subject's confirm looks (refreshLoop)
	}
	if !b.received && f.catchingUp {
		return fmt.Errorf("%w: nothing arrived for %v", errShrink, s.cfg.StreamInfoInterval)
	}
	if !b.received && s.stalled(ctx, f.cons, f.got) {
		return errConsumerStalled
	}
	if !b.received && f.toLive && caughtUp(s.look(ctx, f.cons, f.got, true), f.got) {
		return errFollowLive
	}
	b.received = false
	return nil
}

// fill adds what has already arrived to the batch, up to MaxBatch.
func (b *batcher) fill() {
	for len(b.batch) < b.s.cfg.MaxBatch && b.liveErr == nil {
		select {
		case it := <-b.f.ch:
			b.batch = append(b.batch, b.s.preview(it))
		case m := <-b.f.raw:
			b.inForce = b.take(m) && b.inForce
		default:
			return
		}
	}
}

// gather waits for more of the batch while a burst is on its way (the
// server said so): for up to MaxWait, or CatchUpWait when a backlog is
// pending (a replay: one large batch costs the store far less than many
// small ones), or about PreviewWait when the batch is in force already.
// Otherwise it returns at once; waiting would only add latency, and what
// arrives while this batch commits makes the next one.
func (b *batcher) gather(ctx context.Context) {
	cfg := &b.s.cfg
	last := b.batch[len(b.batch)-1]
	previewed := last.previewed && b.inForce // inForce stays true with a consumer
	pending := last.pending
	if !(len(b.batch) < cfg.MaxBatch && b.liveErr == nil && (pending >= burst || previewed) && cfg.MaxWait > 0) {
		return
	}
	wait := cfg.MaxWait
	switch {
	case pending >= backlog:
		wait = max(wait, cfg.CatchUpWait)
	case previewed:
		wait = max(wait, cfg.PreviewWait/2+rand.N(cfg.PreviewWait/2+1))
	}
	b.timer.Reset(wait)
	defer b.timer.Stop()
	for len(b.batch) < cfg.MaxBatch {
		select {
		case it := <-b.f.ch:
			next := b.s.preview(it)
			b.batch = append(b.batch, next)
			if pending < burst && !next.previewed {
				// Not in force until committed: no waiting for more.
				return
			}
		case m := <-b.f.raw:
			if !b.take(m) || b.liveErr != nil {
				return // not in force until committed, or the session ends
			}
		case <-b.timer.C:
			return
		case <-ctx.Done():
			// Stopping: what has arrived is applied (a stopping node
			// commits it, if its Applier can).
			return
		}
	}
}

// complete adds the rest of the batch's last message: a message's events
// are applied together, and the batch records the message's sequence as
// applied. (A live message's are taken together.) It returns false when
// ctx ended first.
func (b *batcher) complete(ctx context.Context) bool {
	for b.batch[len(b.batch)-1].more {
		select {
		case it := <-b.f.ch:
			b.batch = append(b.batch, b.s.preview(it))
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// commit decodes the batch and applies it, once the batch before it has
// committed. On the live subject it commits in the background while the
// next batch is taken (settle waits for it); otherwise it applies at once
// and checks whether the session's buffers still fit the backlog. It
// reports whether the session ends, and with what error (nil when ctx
// ended).
func (b *batcher) commit(ctx context.Context) (end bool, err error) {
	s, f := b.s, b.f
	decodeBatch(b.batch)
	if !b.settle() {
		return true, nil // ctx ended
	}
	if f.live != nil && b.liveErr == nil {
		done, commit, live := make(chan bool, 1), b.batch, f.live
		go func() { done <- s.apply(ctx, commit, live) }()
		b.committing, b.progressed = done, true
		b.batch, b.spare = scratch.Reuse(b.spare, liveBuffer), commit
		return false, nil
	}
	if !s.apply(ctx, b.batch, f.live) {
		return true, nil // ctx ended
	}
	b.progressed = true
	if b.liveErr != nil {
		return true, b.liveErr
	}
	pending := b.batch[len(b.batch)-1].pending
	if f.catchingUp && pending < burst {
		return true, fmt.Errorf("%w: %d pending", errShrink, pending)
	}
	if f.toLive && pending == 0 {
		return true, errFollowLive
	}
	b.batch = scratch.Reuse(b.batch, liveBuffer)
	return false, nil
}

// apply hands a batch to the Applier, retrying with backoff until it
// succeeds or ctx ends (reported as false). A failed batch is never skipped.
//
// While following the live subject (live set) the batch's sequences may
// run ahead of what is known to be complete (see live.go): the Applier
// records the live subject's floor instead, once it may (floorFor).
func (s *Subscriber) apply(ctx context.Context, batch []item, live *liveState) bool {
	delivered := s.delivered[:0]
	defer func() { s.delivered = scratch.Reuse(delivered, liveBuffer) }()
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
	record := lastSeq
	if live != nil {
		record = s.floorFor(live, lastSeq)
	}
	bo := backoff{min: minRetry, max: maxRetry}
	for attempt := 1; ; attempt++ {
		err := s.a.Apply(ctx, delivered, record)
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
	s.recorded = max(s.recorded, record)
	// A consumer replaying after a gap on the live subject delivers events
	// applied already: LastApplied stays at the highest applied.
	s.st.LastApplied = max(s.st.LastApplied, lastSeq)
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
	s.recorded = seq
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

// refreshLoop refreshes the stream's first and last sequence every
// StreamInfoInterval (see nextRefresh), ends the session when the stream
// was recreated or reset under it, and settles readiness when the messages
// before the target were removed (per-message TTL) so that they will never
// be delivered.
func (s *Subscriber) refreshLoop(ctx context.Context) {
	ready := s.ready.Load()
	round := 0
	t := time.NewTimer(s.nextRefresh(ready))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !ready && s.ready.Load() {
			// Ready since the short wait began: the deliveries said how
			// far the stream goes; the next look is a whole interval away.
			ready = true
			t.Reset(s.nextRefresh(ready))
			continue
		}
		// While following the live subject, a look is a confirm (one
		// direct get, live.go); every identityEvery-th is a STREAM.INFO, to
		// notice a stream recreated under the subscriber.
		rctx, cancel := context.WithTimeout(ctx, infoTimeout+liveGrace)
		if lv := s.following(); lv != nil && round%identityEvery != identityEvery-1 {
			s.confirm(rctx, lv)
		} else {
			s.refresh(rctx)
		}
		round++
		cancel()
		ready = s.ready.Load()
		t.Reset(s.nextRefresh(ready))
	}
}

// nextRefresh is the wait before the next look at the stream: once a
// second until ready, then StreamInfoInterval lengthened by up to a
// quarter at random.
func (s *Subscriber) nextRefresh(ready bool) time.Duration {
	d := s.cfg.StreamInfoInterval
	if !ready {
		return min(d, refreshUnready)
	}
	return d + rand.N(d/4+1)
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
