package events_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
)

const (
	waitLong  = 20 * time.Second
	pollEvery = 10 * time.Millisecond
)

// connect opens a client to s that keeps reconnecting quickly (restarts).
func connect(t testing.TB, urls string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	opts = append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", urls, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// setup starts a server, connects and provisions the default stream.
func setup(t testing.TB) (*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	s := eventstest.RunServer(t)
	nc, js := connect(t, s.ClientURL())
	if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	return s, nc, js
}

func newPublisher(t testing.TB, js jetstream.JetStream, c events.PublisherConfig) *events.Publisher {
	t.Helper()
	p, err := events.NewPublisher(js, c)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	return p
}

// blacklistEvent returns a valid blacklist event for jti, expiring in a day.
func blacklistEvent(jti string) events.Event {
	return events.Event{
		ID:     events.NewID(),
		Kind:   events.KindBlacklist,
		Origin: "test-node",
		Time:   time.Now().UTC(),
		Token:  &events.Token{JTI: jti, User: "u1", Type: "refresh", ExpiresAt: time.Now().Add(24 * time.Hour).Unix()},
	}
}

func mustEncode(t testing.TB, e events.Event) []byte {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

// publishN publishes n blacklist events and returns their ids in order.
func publishN(t testing.TB, p *events.Publisher, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		e := blacklistEvent(fmt.Sprintf("jti-%d", i))
		if _, err := p.Publish(t.Context(), e); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// streamMsgs returns the number of messages in the default stream.
func streamMsgs(t testing.TB, js jetstream.JetStream) (uint64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.DefaultStreamName)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.Msgs, nil
}

// streamEventIDs returns the ids of the events in the default stream, in
// stream order, batches unpacked, and the number of messages.
func streamEventIDs(t testing.TB, js jetstream.JetStream) (ids []string, msgs uint64) {
	t.Helper()
	s, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq
	for seq := uint64(1); seq <= last; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		msgs++
		for _, d := range events.MessageEvents(m.Data, m.Header) {
			e, err := events.Decode(d)
			if err != nil {
				t.Fatalf("message %d: %v", seq, err)
			}
			ids = append(ids, e.ID)
		}
	}
	return ids, msgs
}

// memOutbox is an in-memory Outbox.
type memOutbox struct {
	mu      sync.Mutex
	next    uint64
	entries map[uint64][][]byte
	failing error // Pending returns it when set
}

func newOutbox() *memOutbox { return &memOutbox{entries: map[uint64][][]byte{}} }

// Add appends one entry holding the events given (written together).
func (o *memOutbox) Add(events ...[]byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	o.entries[o.next] = events
}

func (o *memOutbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries)
}

// Count implements events.OutboxCounter: the events pending, as the
// node's store counts them.
func (o *memOutbox) Count(context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, evs := range o.entries {
		n += len(evs)
	}
	return n, nil
}

func (o *memOutbox) Pending(_ context.Context, max int) ([]events.OutboxEntry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failing != nil {
		return nil, o.failing
	}
	seqs := make([]uint64, 0, len(o.entries))
	for s := range o.entries {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	out := make([]events.OutboxEntry, 0, min(max, len(seqs)))
	for _, s := range seqs[:min(max, len(seqs))] {
		out = append(out, events.OutboxEntry{Seq: s, Events: o.entries[s]})
	}
	return out, nil
}

func (o *memOutbox) Remove(_ context.Context, seqs []uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range seqs {
		delete(o.entries, s)
	}
	return nil
}

// memApplier is an in-memory Applier that records what it was given.
type memApplier struct {
	mu       sync.Mutex
	last     uint64
	stream   events.StreamIdentity // the recorded stream
	bySeq    map[uint64]events.Event
	byID     map[string]int // times each event id was applied
	lastSeqs []uint64       // lastSeq of every successful Apply
	failN    int            // fail this many Apply calls first
	gate     chan struct{}  // when set, Apply waits for it to be closed
}

func newApplier(last uint64) *memApplier {
	return &memApplier{last: last, bySeq: map[uint64]events.Event{}, byID: map[string]int{}}
}

func (a *memApplier) LastApplied() (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last, nil
}

func (a *memApplier) Apply(ctx context.Context, batch []events.Delivered, lastSeq uint64) error {
	a.mu.Lock()
	gate := a.gate
	a.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failN > 0 {
		a.failN--
		return errors.New("injected apply failure")
	}
	for _, d := range batch {
		a.bySeq[d.Seq] = d.Event
		a.byID[d.Event.ID]++
	}
	a.last = max(a.last, lastSeq) // a replay never moves it back (events.Applier)
	a.lastSeqs = append(a.lastSeqs, lastSeq)
	return nil
}

// AppliedStream implements events.Applier.
func (a *memApplier) AppliedStream() (events.StreamIdentity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stream, nil
}

// ResetApplied implements events.Applier.
func (a *memApplier) ResetApplied(seq uint64, stream events.StreamIdentity) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last, a.stream = seq, stream
	return nil
}

func (a *memApplier) snapshot() (last uint64, seqs []uint64, ids map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for s := range a.bySeq {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	return a.last, seqs, maps(a.byID)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runSubscriber runs s until the test ends or stop is called, and checks
// that Run returns nil.
func runSubscriber(t testing.TB, s *events.Subscriber) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Subscriber.Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				var stacks strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
				t.Errorf("Subscriber.Run did not return after cancel; goroutines:\n%s", stacks.String())
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitSubscriberReady waits until sub reports ready.
func waitSubscriberReady(t *testing.T, sub *events.Subscriber) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		if !sub.Ready() {
			return errors.New("not ready")
		}
		return nil
	})
}
