package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A Feed hands the stream's events to many readers at once: the revocation
// feed over HTTP (GET /v1/feed) reads it, one reader per client.
//
// One follower per set of kinds follows the stream with an ordered
// consumer from the stream's last sequence at its start, and keeps the
// messages it receives in a ring bounded in events and bytes; it starts
// with its first reader and stops once it has had none for FeedConfig.Idle.
// A reader is a cursor, the sequence it has everything of its kinds up
// to: it takes the ring's messages after its cursor, so a reader holds no
// queue of its own, and a slow one only falls behind. A reader whose
// cursor is before what the ring holds (it resumes from an old sequence,
// or fell behind by more than the ring) reads from the stream itself, a
// short-lived consumer per batch, at most FeedConfig.MaxCatchUps at once,
// until it reaches the ring.
//
// Sequences are the stream's: a reader's messages come in stream order,
// each once, and a reader that resumes after the last sequence it got
// (however much later, on whatever node reads the same stream) misses
// nothing the stream still holds.

// Errors of Feed.Open and FeedReader.Next.
var (
	// ErrFeedStopped: the feed is not running (before Run, or after it
	// ended); readers end with it.
	ErrFeedStopped = errors.New("events: the feed is not running")
	// ErrFeedGone: the stream no longer holds every event after the
	// sequence asked for (its first sequence is past it): a reader must
	// start again from a snapshot.
	ErrFeedGone = errors.New("events: the stream no longer holds the events after that sequence")
	// ErrFeedAhead: the sequence asked for is past the stream's last (the
	// stream was recreated, or it is another stream's).
	ErrFeedAhead = errors.New("events: the sequence is past the stream's last")
)

// FeedConfig configures a Feed. Zero values mean the defaults written
// beside the fields.
type FeedConfig struct {
	Stream      StreamConfig  // the stream read: its Name and Prefix
	MaxEvents   int           // default 65536: most events a follower holds in memory
	MaxBytes    int           // default 16 MiB: most bytes of events a follower holds
	Idle        time.Duration // default 1m: a follower without readers stops after this long
	MaxCatchUps int           // default 4: readers reading from the stream at once
	// CatchUpBatch is the most messages a reader reads from the stream in
	// one go; default 1024.
	CatchUpBatch int
	// MaxBatchBytes is about the most bytes of events one FeedReader.Next
	// returns (never less than one message); default 64 KiB. A reader
	// pins no more than that of memory the follower let go.
	MaxBatchBytes int
	Logger        *slog.Logger // default slog.Default()
}

// FeedMessage is one stream message of a feed: its sequence and the wire
// forms of its events (one, or a batch's; Encode never writes a newline).
// Readers share it: it must not be modified.
type FeedMessage struct {
	Seq    uint64
	Events [][]byte
	size   int // bytes of Events
}

// feedMessage is the FeedMessage of msg, stream sequence seq.
func feedMessage(seq uint64, msg jetstream.Msg) FeedMessage {
	m := FeedMessage{Seq: seq, Events: MessageEvents(msg.Data(), msg.Headers())}
	for _, ev := range m.Events {
		m.size += len(ev)
	}
	return m
}

// FeedStatus is a snapshot for metrics.
type FeedStatus struct {
	Followers int // followers running
	Readers   int // readers open
	Events    int // events held in the followers' rings
	Bytes     int // bytes of those events
	CatchUps  uint64
}

// Feed is the stream's recent events for many readers; see the comment at
// the top of feed.go. Its methods are safe for concurrent use.
type Feed struct {
	js       jetstream.JetStream
	cfg      FeedConfig
	log      *slog.Logger
	catchUps chan struct{} // a token per catch-up batch in progress

	mu        sync.Mutex
	ctx       context.Context // Run's; nil while not running
	followers map[string]*follower
	catchUpN  uint64
}

// NewFeed returns a feed of js's stream c.Stream. It starts nothing: Run
// does.
func NewFeed(js jetstream.JetStream, c FeedConfig) (*Feed, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidConfig)
	}
	var err error
	if c.Stream, err = c.Stream.withDefaults(); err != nil {
		return nil, err
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 1 << 16
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 16 << 20
	}
	if c.Idle <= 0 {
		c.Idle = time.Minute
	}
	if c.MaxCatchUps <= 0 {
		c.MaxCatchUps = 4
	}
	if c.CatchUpBatch <= 0 {
		c.CatchUpBatch = 1024
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 64 << 10
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Feed{js: js, cfg: c, log: log.With("component", "feed"),
		catchUps: make(chan struct{}, c.MaxCatchUps), followers: map[string]*follower{}}, nil
}

// Run serves readers until ctx ends; then every follower stops and every
// reader's Next returns ErrFeedStopped. It stops idle followers as it
// goes.
func (f *Feed) Run(ctx context.Context) error {
	f.mu.Lock()
	if f.ctx != nil {
		f.mu.Unlock()
		return errors.New("events: feed already running")
	}
	f.ctx = ctx
	f.mu.Unlock()
	tick := time.NewTicker(max(f.cfg.Idle/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			f.mu.Lock()
			f.ctx = nil
			stopped := f.stopFollowers(func(*follower) bool { return true })
			f.mu.Unlock()
			f.deleteConsumers(stopped)
			return nil
		case now := <-tick.C:
			f.mu.Lock()
			stopped := f.stopFollowers(func(fl *follower) bool { return fl.idle(now, f.cfg.Idle) })
			f.mu.Unlock()
			f.deleteConsumers(stopped)
		}
	}
}

// stopFollowers stops and forgets the followers that match, and returns
// them. Call with f.mu held.
func (f *Feed) stopFollowers(match func(*follower) bool) []*follower {
	var stopped []*follower
	for key, fl := range f.followers {
		if match(fl) {
			fl.stop(ErrFeedStopped)
			delete(f.followers, key)
			stopped = append(stopped, fl)
		}
	}
	return stopped
}

// deleteConsumers deletes the stopped followers' consumers on the server
// (best effort: they expire by themselves otherwise).
func (f *Feed) deleteConsumers(stopped []*follower) {
	for _, fl := range stopped {
		info := fl.cons.CachedInfo()
		if info == nil || info.Name == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
		if err := f.js.DeleteConsumer(ctx, f.cfg.Stream.Name, info.Name); err != nil {
			f.log.Debug("cannot delete a follower's consumer; it goes when inactive", "consumer", info.Name, "err", err)
		}
		cancel()
	}
}

// Status returns the feed's followers, readers and ring sizes.
func (f *Feed) Status() FeedStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := FeedStatus{Followers: len(f.followers), CatchUps: f.catchUpN}
	for _, fl := range f.followers {
		fl.mu.Lock()
		st.Readers += fl.readers
		st.Events += fl.events
		st.Bytes += fl.bytes
		fl.mu.Unlock()
	}
	return st
}

// Open returns a reader of the events of kinds (every kind when empty)
// after the sequence since, or, with fromNow, after the stream's last
// sequence now. It fails with ErrFeedGone when the stream no longer holds
// every event after since, ErrFeedAhead when since is past the stream's
// last sequence, and ErrFeedStopped when the feed is not running. Close
// the reader when done.
func (f *Feed) Open(ctx context.Context, kinds []Kind, since uint64, fromNow bool) (*FeedReader, error) {
	filters, err := kindFilters(f.cfg.Stream.Prefix, kinds)
	if err != nil {
		return nil, err
	}
	fl, err := f.follower(ctx, filters)
	if err != nil {
		return nil, err
	}
	r := &FeedReader{f: f, fl: fl}
	fl.mu.Lock()
	last, base := fl.last, fl.base
	fl.mu.Unlock()
	switch {
	case fromNow:
		r.cursor = last
	case since < base || since > last:
		// Before the ring (a catch-up from the stream) or after what
		// the follower has had: the stream says whether it holds it.
		info, err := f.streamInfo(ctx)
		if err != nil {
			r.Close()
			return nil, err
		}
		if since > info.State.LastSeq {
			r.Close()
			return nil, fmt.Errorf("%w: %d is past %d", ErrFeedAhead, since, info.State.LastSeq)
		}
		if since < base && since+1 < info.State.FirstSeq {
			r.Close()
			return nil, fmt.Errorf("%w: the first held is %d", ErrFeedGone, info.State.FirstSeq)
		}
		r.cursor = since
	default:
		r.cursor = since
	}
	return r, nil
}

// Stream returns the identity of the stream the feed's followers read, as
// of the first follower's start (zero before).
func (f *Feed) Stream() StreamIdentity {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.followers {
		return fl.stream
	}
	return StreamIdentity{}
}

// follower returns the running follower of filters, started if need be,
// with one more reader counted (under f.mu, so that Run cannot stop it as
// idle in between).
func (f *Feed) follower(ctx context.Context, filters []string) (*follower, error) {
	key := strings.Join(filters, ",")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx == nil {
		return nil, ErrFeedStopped
	}
	fl := f.followers[key]
	if fl == nil {
		// Started under f.mu: readers of the same kinds wait for one
		// start.
		var err error
		if fl, err = f.startFollower(ctx, filters); err != nil {
			return nil, err
		}
		f.followers[key] = fl
	}
	fl.mu.Lock()
	fl.readers++
	fl.mu.Unlock()
	return fl, nil
}

func (f *Feed) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	s, err := f.js.Stream(ctx, f.cfg.Stream.Name)
	if err != nil {
		return nil, fmt.Errorf("events: feed: stream info: %w", err)
	}
	return s.CachedInfo(), nil
}

// follower follows the stream for one set of kinds and keeps the latest
// messages.
type follower struct {
	f       *Feed
	filters []string
	stream  StreamIdentity
	cons    jetstream.Consumer
	cc      jetstream.ConsumeContext

	mu sync.Mutex
	// The ring: msgs[head:], in sequence order. It holds every message of
	// the follower's kinds after base, up to last.
	msgs          []FeedMessage
	head          int
	base, last    uint64
	events, bytes int
	changed       chan struct{} // closed (and replaced) when messages arrive or the follower stops
	readers       int
	idleSince     time.Time
	err           error // why the follower stopped; nil while it runs
}

// startFollower looks at the stream and starts an ordered consumer from
// its last sequence + 1. ctx bounds the start.
func (f *Feed) startFollower(ctx context.Context, filters []string) (*follower, error) {
	info, err := f.streamInfo(ctx)
	if err != nil {
		return nil, err
	}
	last := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubjects: filters,
		InactiveThreshold: inactiveAfter}
	if last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
	}
	cctx, cancel := context.WithTimeout(ctx, infoTimeout)
	cons, err := f.js.OrderedConsumer(cctx, f.cfg.Stream.Name, cfg)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("events: feed: create ordered consumer: %w", err)
	}
	fl := &follower{f: f, filters: filters, cons: cons, stream: IdentifyStream(info), base: last, last: last,
		changed: make(chan struct{}), idleSince: time.Now()}
	fl.cc, err = cons.Consume(fl.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		f.log.Debug("feed consumer", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("events: feed: consume: %w", err)
	}
	f.log.Debug("started a follower", "kinds", filters, "from", last+1)
	return fl, nil
}

// handle keeps a delivered message in the ring and wakes the readers.
func (fl *follower) handle(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		fl.f.log.Error("feed message without JetStream metadata", "subject", msg.Subject(), "err", err)
		return
	}
	m := feedMessage(md.Sequence.Stream, msg)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.err != nil || m.Seq <= fl.last {
		return // stopped, or delivered before (an ordered consumer does not)
	}
	fl.msgs = append(fl.msgs, m)
	fl.last = m.Seq
	fl.events += len(m.Events)
	fl.bytes += m.size
	// Let the oldest go, down to the bounds (the newest always stays).
	for fl.head < len(fl.msgs)-1 && (fl.events > fl.f.cfg.MaxEvents || fl.bytes > fl.f.cfg.MaxBytes) {
		old := fl.msgs[fl.head]
		fl.msgs[fl.head] = FeedMessage{}
		fl.head++
		fl.base = old.Seq
		fl.events -= len(old.Events)
		fl.bytes -= old.size
	}
	if fl.head > 1024 && fl.head > len(fl.msgs)/2 {
		n := copy(fl.msgs, fl.msgs[fl.head:])
		clear(fl.msgs[n:])
		fl.msgs, fl.head = fl.msgs[:n], 0
	}
	close(fl.changed)
	fl.changed = make(chan struct{})
}

// stop ends the follower: its readers' Next returns err. Call with f.mu
// held.
func (fl *follower) stop(err error) {
	fl.cc.Stop()
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.err == nil {
		fl.err = err
		close(fl.changed)
		fl.msgs, fl.head, fl.events, fl.bytes = nil, 0, 0, 0
	}
}

// idle reports whether the follower has had no reader for d at now.
func (fl *follower) idle(now time.Time, d time.Duration) bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.readers == 0 && now.Sub(fl.idleSince) >= d
}

// after appends to dst the ring's messages after cursor, up to about
// maxBytes (at least one), and returns it with the ring's base, its
// change channel and the follower's error.
func (fl *follower) after(dst []FeedMessage, cursor uint64, maxBytes int) ([]FeedMessage, uint64, <-chan struct{}, error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.err != nil {
		return dst, 0, nil, fl.err
	}
	ring := fl.msgs[fl.head:]
	i := sort.Search(len(ring), func(i int) bool { return ring[i].Seq > cursor })
	size := 0
	for ; i < len(ring) && (size == 0 || size+ring[i].size <= maxBytes); i++ {
		dst = append(dst, ring[i])
		size += ring[i].size
	}
	return dst, fl.base, fl.changed, nil
}

// FeedReader reads a feed from a cursor; see Feed. It is used by one
// goroutine.
type FeedReader struct {
	f      *Feed
	fl     *follower
	cursor uint64
	buf    []FeedMessage
	closed bool
}

// Seq returns the reader's cursor: it has had every event of its kinds up
// to this sequence.
func (r *FeedReader) Seq() uint64 { return r.cursor }

// Next returns the messages after the cursor, in sequence order, about
// FeedConfig.MaxBatchBytes at most, waiting up to wait for one when there
// are none (none after the wait: nil, nil); the cursor moves to the last
// one's sequence. The slice is the reader's, valid until the next call;
// the messages are shared and must not be modified. It returns ctx's error
// when ctx ends, ErrFeedStopped when the feed stops, and ErrFeedGone when
// the reader fell behind what the stream still holds.
func (r *FeedReader) Next(ctx context.Context, wait time.Duration) ([]FeedMessage, error) {
	var timeout <-chan time.Time
	for {
		msgs, base, changed, err := r.fl.after(r.buf[:0], r.cursor, r.f.cfg.MaxBatchBytes)
		r.buf = msgs
		if err != nil {
			return nil, err
		}
		if r.cursor < base {
			// Behind the ring: what it let go is read from the stream.
			msgs, err := r.catchUp(ctx)
			if err != nil {
				return nil, err
			}
			if len(msgs) > 0 {
				return msgs, nil
			}
			continue
		}
		if len(msgs) > 0 {
			r.cursor = msgs[len(msgs)-1].Seq
			return msgs, nil
		}
		if wait <= 0 {
			return nil, ctx.Err()
		}
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
		case <-timeout:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// catchUp reads up to a batch of messages after the cursor from the
// stream, by a consumer of its own that lives for the batch. With none to
// read, it moves the cursor to the stream's last sequence read before it
// looked (nothing of the reader's kinds is between) and returns no
// messages.
func (r *FeedReader) catchUp(ctx context.Context) ([]FeedMessage, error) {
	select {
	case r.f.catchUps <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.f.catchUps }()
	r.f.mu.Lock()
	r.f.catchUpN++
	r.f.mu.Unlock()
	info, err := r.f.streamInfo(ctx)
	if err != nil {
		return nil, err
	}
	if r.cursor+1 < info.State.FirstSeq {
		return nil, fmt.Errorf("%w: the first held is %d", ErrFeedGone, info.State.FirstSeq)
	}
	cctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	cons, err := r.f.js.CreateConsumer(cctx, r.f.cfg.Stream.Name, jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: r.cursor + 1,
		FilterSubjects: r.fl.filters, AckPolicy: jetstream.AckNonePolicy,
		InactiveThreshold: inactiveAfter, MemoryStorage: true,
	})
	if err != nil {
		return nil, fmt.Errorf("events: feed: create a catch-up consumer: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), infoTimeout)
		defer cancel()
		if err := r.f.js.DeleteConsumer(dctx, r.f.cfg.Stream.Name, cons.CachedInfo().Name); err != nil {
			r.f.log.Debug("cannot delete a catch-up consumer; it goes when inactive", "err", err)
		}
	}()
	pending := cons.CachedInfo().NumPending
	if pending == 0 {
		// Nothing of the reader's kinds after the cursor up to the
		// stream's last sequence read before the consumer was made.
		r.cursor = max(r.cursor, info.State.LastSeq)
		return nil, nil
	}
	// As many messages as make about a batch's bytes, at the stream's
	// average size; the reader takes the bytes' worth and drops the rest
	// (the consumer goes with them), so that it holds no more.
	want := uint64(r.f.cfg.CatchUpBatch)
	if info.State.Msgs > 0 && info.State.Bytes > 0 {
		avg := max(info.State.Bytes/info.State.Msgs, 1)
		want = min(want, uint64(r.f.cfg.MaxBatchBytes)/avg+1)
	}
	batch, err := cons.Fetch(int(min(pending, want)), jetstream.FetchContext(cctx))
	if err != nil {
		return nil, fmt.Errorf("events: feed: fetch: %w", err)
	}
	msgs, size := r.buf[:0], 0
	for msg := range batch.Messages() {
		md, err := msg.Metadata()
		if err != nil || md.Sequence.Stream <= r.cursor {
			continue
		}
		m := feedMessage(md.Sequence.Stream, msg)
		msgs = append(msgs, m)
		r.cursor = m.Seq
		if size += m.size; size >= r.f.cfg.MaxBatchBytes {
			break
		}
	}
	r.buf = msgs
	if err := batch.Error(); err != nil && len(msgs) == 0 && !errors.Is(err, jetstream.ErrNoMessages) {
		return nil, fmt.Errorf("events: feed: fetch: %w", err)
	}
	return slices.Clip(msgs), nil
}

// Close releases the reader; its follower stops after FeedConfig.Idle
// without readers.
func (r *FeedReader) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.buf = nil
	r.fl.mu.Lock()
	r.fl.readers--
	if r.fl.readers == 0 {
		r.fl.idleSince = time.Now()
	}
	r.fl.mu.Unlock()
}
