package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher defaults.
const (
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	DefaultBatchSize  = 2048
	DefaultAckWait    = 5 * time.Second
	DefaultTTLMargin  = 5 * time.Minute
)

// idleTick is how often Drain looks at an empty outbox without a wake-up.
const idleTick = time.Second

// joinSpan is how many consecutive outbox entries Drain may join in one
// message: the entries whose Seq / joinSpan is the same (a span), when
// every entry of the span is known to be written.
const joinSpan = 64

// maxRead is the most entries Drain reads from the outbox at a time.
const maxRead = 4096

// JetStream API error codes the publisher reacts to.
const (
	errCodeMsgTTLInvalid  jetstream.ErrorCode = 10165
	errCodeMsgTTLDisabled jetstream.ErrorCode = 10166
)

// errNotConnected is recorded when Drain finds the connection down.
var errNotConnected = errors.New("events: not connected to NATS")

// PublisherConfig configures a Publisher. Zero values mean the defaults
// written beside the fields.
type PublisherConfig struct {
	Stream     StreamConfig  // the stream published to (Name is sent as Nats-Expected-Stream)
	Region     string        // subject region for events whose Region is empty; default "default"
	Logger     *slog.Logger  // default slog.Default(); slog.New(slog.DiscardHandler) silences it
	MinBackoff time.Duration // default 50ms: first retry delay of Drain
	MaxBackoff time.Duration // default 5s: longest retry delay of Drain
	// BatchSize is the most messages in flight (published, not yet
	// acknowledged); default 2048. The JetStream context must allow a few
	// hundred more pending async publishes (jetstream.New allows 4000).
	BatchSize int
	// MaxPerMessage is the most events of one outbox entry (one commit)
	// Drain sends in one message (BatchHeader); default 256. 1 sends every
	// event in a message of its own, for fleets with nodes too old to read
	// batches.
	MaxPerMessage int
	AckWait       time.Duration // default 5s: how long Drain waits for the acks of a round
	TTLMargin     time.Duration // default 5m: kept past a token's exp (verifier leeway and clock skew)
	Now           func() time.Time
}

// PublisherStats are counters for metrics and health. They only grow, except
// Backoff and TTLDisabled.
type PublisherStats struct {
	Published   uint64        // events acknowledged by the stream, duplicates included
	Duplicates  uint64        // of those, acknowledged as already in the stream
	Failures    uint64        // failed publish attempts (Drain retries them)
	Dropped     uint64        // outbox events left out because they did not decode
	LastError   string        // last failure, for logs and admin pages
	LastErrorAt time.Time     //
	Backoff     time.Duration // current Drain retry delay; zero when healthy
	TTLDisabled bool          // the stream refused Nats-TTL; events go without it
}

// Publisher publishes events to the stream, directly (Publish) or from a
// durable outbox (Drain). Its methods are safe for concurrent use.
type Publisher struct {
	js     jetstream.JetStream
	cfg    PublisherConfig
	stream StreamConfig
	log    *slog.Logger

	ttlOff atomic.Bool

	mu    sync.Mutex
	stats PublisherStats
}

// NewPublisher returns a publisher on js. It checks c and starts nothing.
func NewPublisher(js jetstream.JetStream, c PublisherConfig) (*Publisher, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", ErrInvalidConfig)
	}
	sc, err := c.Stream.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if err := ValidateRegion(c.Region); err != nil {
		return nil, fmt.Errorf("%w: PublisherConfig.Region: %w", ErrInvalidConfig, err)
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxPerMessage == 0 {
		c.MaxPerMessage = DefaultMaxPerMessage
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.TTLMargin == 0 {
		c.TTLMargin = DefaultTTLMargin
	}
	switch {
	case c.MinBackoff < 0:
		return nil, fmt.Errorf("%w: PublisherConfig.MinBackoff %v is negative", ErrInvalidConfig, c.MinBackoff)
	case c.MaxBackoff < c.MinBackoff:
		return nil, fmt.Errorf("%w: PublisherConfig.MaxBackoff %v is below MinBackoff %v", ErrInvalidConfig, c.MaxBackoff, c.MinBackoff)
	case c.BatchSize < 0 || c.BatchSize > 4096:
		return nil, fmt.Errorf("%w: PublisherConfig.BatchSize %d not in 1..4096", ErrInvalidConfig, c.BatchSize)
	case c.MaxPerMessage < 0 || c.MaxPerMessage > 4096:
		return nil, fmt.Errorf("%w: PublisherConfig.MaxPerMessage %d not in 1..4096", ErrInvalidConfig, c.MaxPerMessage)
	case c.AckWait < 0:
		return nil, fmt.Errorf("%w: PublisherConfig.AckWait %v is negative", ErrInvalidConfig, c.AckWait)
	case c.TTLMargin < 0:
		return nil, fmt.Errorf("%w: PublisherConfig.TTLMargin %v is negative", ErrInvalidConfig, c.TTLMargin)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Stream = sc
	return &Publisher{
		js:     js,
		cfg:    c,
		stream: sc,
		log:    c.Logger.With("component", "events"),
	}, nil
}

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() PublisherStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.TTLDisabled = p.ttlOff.Load()
	return s
}

// Publish sends e straight to the stream and waits for its acknowledgement,
// for programs that issue tokens without running a node. The event id is the
// Nats-Msg-Id, so publishing the same event again within the duplicate window
// stores it once; seq is then the sequence of the stored copy.
func (p *Publisher) Publish(ctx context.Context, e Event) (seq uint64, err error) {
	data, err := e.Encode()
	if err != nil {
		return 0, err
	}
	msg := p.message(e, data)
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil && p.dropTTL(msg, err) {
		ack, err = p.js.PublishMsg(ctx, msg)
	}
	if err != nil {
		p.failed(err)
		return 0, fmt.Errorf("events: publish %s %s: %w", e.Kind, e.ID, err)
	}
	p.acked(ack, 1)
	return ack.Sequence, nil
}

// message builds the NATS message for e, whose wire form is data.
func (p *Publisher) message(e Event, data []byte) *nats.Msg {
	ttl, hasTTL := p.ttlSeconds(e)
	return p.newMsg(p.subject(e), e.ID, data, ttl, hasTTL)
}

func (p *Publisher) subject(e Event) string {
	region := e.Region
	if region == "" {
		region = p.cfg.Region
	}
	return Subject(p.stream.Prefix, region, e.Kind)
}

func (p *Publisher) newMsg(subject, id string, data []byte, ttl int64, hasTTL bool) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set(jetstream.ExpectedStreamHeader, p.stream.Name)
	if hasTTL && !p.ttlOff.Load() {
		m.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(ttl, 10))
	}
	return m
}

// outMsg is one message built from an outbox entry, and how many events it
// carries.
type outMsg struct {
	msg    *nats.Msg
	events int
}

// messages builds the messages of an outbox entry: its events in order,
// consecutive events of one subject together, at most MaxPerMessage and
// MaxEventSize bytes to a message. The same entry always gives the same
// messages, ids included. Events that do not decode are logged, counted
// and left out.
func (p *Publisher) messages(en OutboxEntry) []outMsg {
	var (
		out     []outMsg
		run     []Event
		data    [][]byte
		size    int
		subject string
	)
	flush := func() {
		switch len(run) {
		case 0:
			return
		case 1:
			out = append(out, outMsg{p.message(run[0], data[0]), 1})
		default:
			ttl, hasTTL := int64(0), true
			for _, e := range run {
				t, ok := p.ttlSeconds(e)
				ttl, hasTTL = max(ttl, t), hasTTL && ok
			}
			m := p.newMsg(subject, batchID(run[0].ID, len(run)), bytes.Join(data, []byte{'\n'}), ttl, hasTTL)
			m.Header.Set(BatchHeader, strconv.Itoa(len(run)))
			out = append(out, outMsg{m, len(run)})
		}
		run, data, size = run[:0], data[:0], 0
	}
	for _, d := range en.Events {
		e, err := Decode(d)
		if err != nil {
			p.log.Error("dropping undecodable outbox event", "outbox_seq", en.Seq, "err", err)
			p.mu.Lock()
			p.stats.Dropped++
			p.mu.Unlock()
			continue
		}
		subj := p.subject(e)
		// An event with a newline in its wire form (not one Encode wrote)
		// cannot share a message.
		alone := bytes.IndexByte(d, '\n') >= 0
		if len(run) > 0 && (subj != subject || len(run) >= p.cfg.MaxPerMessage || size+1+len(d) > MaxEventSize || alone) {
			flush()
		}
		run, data, subject = append(run, e), append(data, d), subj
		size += len(d) + 1
		if alone {
			flush()
		}
	}
	flush()
	return out
}

// ttlSeconds returns the Nats-TTL for a token event: the seconds until the
// token's exp plus the margin, at least 1. Events without an expiry, and
// those that would outlive MaxAge anyway, get none.
func (p *Publisher) ttlSeconds(e Event) (int64, bool) {
	exp := e.Expires()
	if exp.IsZero() {
		return 0, false
	}
	d := exp.Sub(p.cfg.Now()) + p.cfg.TTLMargin
	if d >= p.stream.MaxAge {
		return 0, false
	}
	secs := int64(math.Ceil(d.Seconds()))
	return max(secs, 1), true
}

// dropTTL reports whether err is the server refusing per-message TTLs for a
// message that carried one; it then remembers to publish without them and
// strips the header from msg.
func (p *Publisher) dropTTL(msg *nats.Msg, err error) bool {
	if msg.Header.Get(jetstream.MsgTTLHeader) == "" || !isTTLRefused(err) {
		return false
	}
	if p.ttlOff.CompareAndSwap(false, true) {
		p.log.Warn("stream refuses per-message TTL; publishing without Nats-TTL, MaxAge alone prunes the stream",
			"stream", p.stream.Name, "err", err)
	}
	msg.Header.Del(jetstream.MsgTTLHeader)
	return true
}

func isTTLRefused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == errCodeMsgTTLDisabled || apiErr.ErrorCode == errCodeMsgTTLInvalid)
}

// acked counts the n events of an acknowledged message.
func (p *Publisher) acked(ack *jetstream.PubAck, n int) {
	p.mu.Lock()
	p.stats.Published += uint64(n)
	if ack.Duplicate {
		p.stats.Duplicates += uint64(n)
	}
	p.mu.Unlock()
}

func (p *Publisher) failed(err error) {
	p.mu.Lock()
	p.stats.Failures++
	p.stats.LastError = err.Error()
	p.stats.LastErrorAt = p.cfg.Now()
	p.mu.Unlock()
}

func (p *Publisher) setBackoff(d time.Duration) {
	p.mu.Lock()
	p.stats.Backoff = d
	p.mu.Unlock()
}

// OutboxEntry is one durable, not yet published entry: the wire forms
// (Event.Encode) of the events written together, usually one, in order, and
// Seq, the outbox's own key. Drain publishes an entry's events in as few
// messages as MaxPerMessage allows and removes the entry once all are
// acknowledged.
type OutboxEntry struct {
	Seq    uint64
	Events [][]byte
}

// Outbox is the durable queue Drain empties. The node implements it over its
// store; entries are written in the same transaction as the change they
// announce. The contract, which eventstest.TestOutbox checks (run it
// against every implementation, test doubles included):
//
//   - An entry holds the encoded events of one write, in the order written;
//     an implementation may split a write's events over consecutive entries
//     or join concurrent writes in one. Its Seq is unique and greater than
//     the Seq of every entry written before it.
//   - An entry stays until Remove names it, across restarts; once removed
//     it is never returned again (a crash before the delete is durable may
//     bring it back: at least once).
//   - The optional interfaces below (OutboxCounter, OutboxSeeker,
//     OutboxSyncer) agree with Pending.
type Outbox interface {
	// Pending returns up to max entries not removed, oldest (lowest Seq)
	// first.
	Pending(ctx context.Context, max int) ([]OutboxEntry, error)
	// Remove deletes the entries with the given keys; unknown keys are not
	// an error.
	Remove(ctx context.Context, seqs []uint64) error
}

// OutboxCounter may be implemented by an Outbox that counts its events
// cheaply; Drain then logs the outbox's full depth when it retries, instead
// of the number of entries it read.
type OutboxCounter interface {
	// Count returns the number of events (not entries) in the entries not
	// removed.
	Count(ctx context.Context) (int, error)
}

// OutboxSeeker may be implemented by an Outbox that can start a read after
// a given key; Drain then reads only the entries it has not published yet,
// instead of skipping those in flight.
type OutboxSeeker interface {
	// PendingAfter returns up to max entries not removed with Seq > after,
	// oldest first.
	PendingAfter(ctx context.Context, after uint64, max int) ([]OutboxEntry, error)
}

// OutboxSyncer may be implemented by an Outbox whose Remove defers the
// durable delete (to ride on a later write); Drain calls Sync when it has
// had nothing to publish for a tick (1s), so deletes reach the disk while
// the node is quiet. After Sync, the entries removed before it stay removed
// across a crash.
type OutboxSyncer interface {
	Sync(ctx context.Context) error
}

// Drain publishes the outbox until ctx ends, then returns nil. It is a
// pipeline: entries are published asynchronously as soon as a wake-up says
// they are there, without waiting for the acks of those already in flight
// (at most BatchSize messages; each ack makes room for one more); an
// entry's events go in as few messages as MaxPerMessage allows (see
// messages; Nats-Msg-Id is the event id of a message of one event, the
// first event's id and the count for a batch), and the acks of all of an
// entry's messages remove it. When a backlog builds, entries are joined:
// the entries of a span (Seq / 64 alike) go together, in as few messages
// as MaxPerMessage allows, once an entry of a later span shows that the
// span is complete; the last, incomplete span goes entry by entry, and
// stays so until it is removed. Spans are set by the outbox's keys, not by
// timing, so a span published again (a retry, or a restart after a crash
// before the deletes were durable) is built into the same messages, ids
// included, and the stream's duplicate window drops them; only entries
// that went one by one and were still pending at a crash may come back
// joined, and so be stored twice (the apply is idempotent).
// What fails stays in the outbox and is published again, in order, after
// an exponential backoff (logged with the number pending) while NATS is
// unreachable; the stream's duplicate window absorbs what was published
// twice. An entry that does not decode is logged and removed so it never
// blocks the queue. With an empty outbox Drain sleeps until a value arrives
// on wake or a 1s tick passes.
//
// wake may be nil; a closed wake is treated as nil. Writers send on it
// without blocking (a channel with a buffer of one) after committing an entry.
func (p *Publisher) Drain(ctx context.Context, ob Outbox, wake <-chan struct{}) error {
	if ob == nil {
		return fmt.Errorf("%w: nil Outbox", ErrInvalidConfig)
	}
	tick := time.NewTicker(idleTick)
	defer tick.Stop()
	bo := backoff{min: p.cfg.MinBackoff, max: p.cfg.MaxBackoff}
	failures := 0
	d := drain{p: p, ob: ob, wake: wake, tick: tick.C}
	for ctx.Err() == nil {
		pending, err := d.run(ctx, func() {
			if failures > 0 {
				p.log.Info("outbox drain recovered", "failed_attempts", failures)
				failures = 0
				bo.reset()
				p.setBackoff(0)
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		failures++
		delay := bo.next()
		p.setBackoff(bo.cur)
		depth := slog.Int("outbox_depth_at_least", pending)
		if c, ok := ob.(OutboxCounter); ok {
			if n, cerr := c.Count(ctx); cerr == nil {
				depth = slog.Int("outbox_depth", n)
			}
		}
		p.log.Warn("outbox drain failed; retrying", "err", err, depth,
			"attempt", failures, "retry_in", delay.Round(time.Millisecond))
		if !sleepCtx(ctx, delay) {
			return nil
		}
		d.wake = wake
	}
	return nil
}

// flight is one published message waiting for its ack.
type flight struct {
	seqs   []uint64 // the outbox entries it came from
	last   bool     // their last message: its ack removes them
	events int
	msg    *nats.Msg
	paf    jetstream.PubAckFuture
	at     time.Time
}

// drain is the state of one Drain pipeline run, and (alone) of the runs
// of one Drain.
type drain struct {
	p    *Publisher
	ob   Outbox
	wake <-chan struct{}
	tick <-chan time.Time

	flights []flight        // in publish order
	sent    map[uint64]bool // entries in flight
	last    uint64          // highest seq published in this run
	// alone holds the spans (Seq / joinSpan) some of whose entries went
	// one by one: the rest of the span goes so too, also in a later run,
	// so that a retry publishes the same messages.
	alone map[uint64]bool
}

// run publishes until ctx ends (nil) or something fails: then it returns
// the error and the number of entries it knew to be pending, and the next
// run starts again from the oldest entry. ok is called after every
// successful round trip (a recovery resets the backoff).
func (d *drain) run(ctx context.Context, ok func()) (pending int, err error) {
	d.flights, d.sent, d.last = d.flights[:0], map[uint64]bool{}, 0
	if d.alone == nil {
		d.alone = map[uint64]bool{}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		more, err := d.fill(ctx)
		if err != nil {
			return len(d.flights), err
		}
		if len(d.flights) == 0 {
			ok() // the outbox is readable and empty: healthy
			select {
			case <-ctx.Done():
			case _, open := <-d.wake:
				if !open {
					d.wake = nil
				}
			case <-d.tick:
				if s, isSyncer := d.ob.(OutboxSyncer); isSyncer {
					if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
						return 0, fmt.Errorf("events: outbox sync: %w", err)
					}
				}
			}
			continue
		}
		oldest := &d.flights[0]
		timer.Reset(max(time.Until(oldest.at.Add(d.p.cfg.AckWait)), 0))
		// With a full window (more entries waiting), only an ack helps.
		wake := d.wake
		if more {
			wake = nil
		}
		select {
		case <-ctx.Done():
		case _, open := <-wake:
			if !open {
				d.wake = nil
			}
		case ack := <-oldest.paf.Ok():
			done := d.collect(d.land(ack, nil))
			if len(done) > 0 {
				if err := d.ob.Remove(context.WithoutCancel(ctx), done); err != nil {
					return len(d.flights), fmt.Errorf("events: remove %d published outbox entries: %w", len(done), err)
				}
			}
			ok()
		case err := <-oldest.paf.Err():
			if d.p.dropTTL(oldest.msg, err) {
				if err := d.republish(oldest); err != nil {
					return len(d.flights), err
				}
				continue
			}
			d.p.failed(err)
			return len(d.flights), fmt.Errorf("events: publish: %w", err)
		case <-timer.C:
			err := fmt.Errorf("events: publish: no ack within %v", d.p.cfg.AckWait)
			d.p.failed(err)
			return len(d.flights), err
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	return 0, nil
}

// fill publishes the entries that are pending and not in flight, up to a
// window of BatchSize messages in flight (an entry, or a span of them,
// goes whole, so the window may overflow by a span's messages). more
// reports that the window is full.
func (d *drain) fill(ctx context.Context) (more bool, err error) {
	room := d.p.cfg.BatchSize - len(d.flights)
	if room <= 0 {
		return true, nil
	}
	// Read enough to join room's worth of spans, and always more than a
	// span, so that the first one read is known to be complete.
	read := min(max(room*joinSpan, 2*joinSpan+1), maxRead)
	var entries []OutboxEntry
	if sk, ok := d.ob.(OutboxSeeker); ok {
		entries, err = sk.PendingAfter(ctx, d.last, read)
	} else {
		read += len(d.sent) // Pending returns the entries in flight too
		entries, err = d.ob.Pending(ctx, read)
	}
	if err != nil {
		return false, fmt.Errorf("events: read outbox: %w", err)
	}
	truncated := len(entries) == read
	if len(entries) > 0 {
		if nc := d.p.js.Conn(); nc != nil && !nc.IsConnected() {
			d.p.failed(errNotConnected)
			return false, errNotConnected
		}
		d.forget(entries[0].Seq)
	}
	var dropped []uint64
	published := 0
	for len(entries) > 0 {
		if published >= room {
			return true, d.drop(ctx, dropped)
		}
		en := entries[0]
		if d.sent[en.Seq] {
			entries = entries[1:]
			continue
		}
		// The entries of en's span: joined if the span is complete (an
		// entry of a later span was read), none of it went alone, and
		// there is a backlog (more entries than the window has room
		// for one by one); else one by one.
		span := en.Seq / joinSpan
		n := 1
		for n < len(entries) && entries[n].Seq/joinSpan == span {
			n++
		}
		complete := n < len(entries)
		if !complete && truncated {
			more = true // the read ended inside the span: read it whole next time
			break
		}
		group := entries[:1]
		switch {
		case d.alone[span]:
		case complete && n > 1 && (truncated || len(entries) > room-published):
			group = entries[:n]
		default:
			d.alone[span] = true
		}
		entries = entries[len(group):]
		joined, seqs := en, make([]uint64, len(group))
		if len(group) > 1 {
			joined.Events = nil
		}
		for i, g := range group {
			seqs[i] = g.Seq
			if len(group) > 1 {
				joined.Events = append(joined.Events, g.Events...)
			}
		}
		d.last = max(d.last, group[len(group)-1].Seq)
		msgs := d.p.messages(joined)
		if len(msgs) == 0 {
			dropped = append(dropped, seqs...) // nothing in it decodes
			continue
		}
		for i, m := range msgs {
			paf, err := d.p.js.PublishMsgAsync(m.msg)
			if err != nil {
				d.p.failed(err)
				return false, fmt.Errorf("events: publish: %w", err)
			}
			d.flights = append(d.flights, flight{seqs: seqs, last: i == len(msgs)-1, events: m.events, msg: m.msg, paf: paf, at: time.Now()})
		}
		for _, seq := range seqs {
			d.sent[seq] = true
		}
		published += len(msgs)
	}
	return more, d.drop(ctx, dropped)
}

// drop removes the entries nothing of which decodes.
func (d *drain) drop(ctx context.Context, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	if err := d.ob.Remove(context.WithoutCancel(ctx), seqs); err != nil {
		return fmt.Errorf("events: remove undecodable outbox entries: %w", err)
	}
	return nil
}

// forget drops the spans wholly before oldest, the oldest entry pending
// or in flight, from alone.
func (d *drain) forget(oldest uint64) {
	if len(d.flights) > 0 {
		oldest = min(oldest, d.flights[0].seqs[0])
	}
	for span := range d.alone {
		if span < oldest/joinSpan {
			delete(d.alone, span)
		}
	}
}

// land counts the oldest flight's ack and pops it, adding its entries'
// seqs to done when it was their last message.
func (d *drain) land(ack *jetstream.PubAck, done []uint64) []uint64 {
	f := d.flights[0]
	d.p.acked(ack, f.events)
	if f.last {
		for _, seq := range f.seqs {
			delete(d.sent, seq)
		}
		done = append(done, f.seqs...)
	}
	d.flights[0] = flight{}
	d.flights = d.flights[1:]
	return done
}

// collect lands the flights after the oldest whose acks are already in.
func (d *drain) collect(done []uint64) []uint64 {
	for len(d.flights) > 0 {
		select {
		case ack := <-d.flights[0].paf.Ok():
			done = d.land(ack, done)
		default:
			return done
		}
	}
	return done
}

// republish sends f again (after its Nats-TTL was dropped).
func (d *drain) republish(f *flight) error {
	paf, err := d.p.js.PublishMsgAsync(f.msg)
	if err != nil {
		d.p.failed(err)
		return fmt.Errorf("events: publish: %w", err)
	}
	f.paf, f.at = paf, time.Now()
	return nil
}
