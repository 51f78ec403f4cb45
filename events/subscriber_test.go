package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
)

func newSubscriber(t testing.TB, js jetstream.JetStream, a events.Applier, c events.SubscriberConfig) *events.Subscriber {
	t.Helper()
	s, err := events.NewSubscriber(js, a, c)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	return s
}

// waitApplied waits until a has applied up to seq.
func waitApplied(t testing.TB, a *memApplier, seq uint64) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		if last, _, _ := a.snapshot(); last < seq {
			return fmt.Errorf("last applied %d, want %d", last, seq)
		}
		return nil
	})
}

func TestSubscriberReplaysFromZero(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	ids := publishN(t, p, 50)

	a := newApplier(0)
	a.gate = make(chan struct{}) // hold the first Apply
	sub := newSubscriber(t, js, a, events.SubscriberConfig{MaxBatch: 16})
	if sub.Ready() {
		t.Fatal("ready before Run")
	}
	runSubscriber(t, sub)
	// While Apply is held, nothing is applied and the subscriber is not ready.
	poll.For(t, waitLong, pollEvery, func() error {
		if st := sub.Status(); st.StreamLast != 50 {
			return fmt.Errorf("stream last %d", st.StreamLast)
		}
		return nil
	})
	if sub.Ready() {
		t.Fatal("ready while nothing is applied")
	}
	a.mu.Lock()
	close(a.gate)
	a.gate = nil
	a.mu.Unlock()

	waitApplied(t, a, 50)
	waitSubscriberReady(t, sub)
	_, seqs, byID := a.snapshot()
	if len(seqs) != 50 || seqs[0] != 1 || seqs[49] != 50 {
		t.Fatalf("applied seqs %v", seqs)
	}
	for _, id := range ids {
		if byID[id] != 1 {
			t.Fatalf("event %s applied %d times", id, byID[id])
		}
	}
	st := sub.Status()
	if st.Applied != 50 || st.LastApplied != 50 || st.Lag != 0 || !st.Connected || !st.Ready || st.Batches < 4 {
		t.Fatalf("status %+v", st)
	}

	// Live events keep flowing after the replay.
	more := publishN(t, p, 3)
	waitApplied(t, a, 53)
	if _, _, byID := a.snapshot(); byID[more[2]] != 1 {
		t.Fatalf("live event not applied")
	}
}

func TestSubscriberResumesFromSequence(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 40)

	a := newApplier(30)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitApplied(t, a, 40)
	_, seqs, _ := a.snapshot()
	if len(seqs) != 10 || seqs[0] != 31 {
		t.Fatalf("applied seqs %v, want 31..40", seqs)
	}
	waitSubscriberReady(t, sub)
}

func TestSubscriberEmptyStreamReadyAtOnce(t *testing.T) {
	_, _, js := setup(t)
	a := newApplier(0)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitSubscriberReady(t, sub)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 1)
	waitApplied(t, a, 1)
}

func TestSubscriberSkipsGarbage(t *testing.T) {
	_, _, js := setup(t)
	var logs logBuffer
	a := newApplier(0)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{Logger: logs.logger()})
	runSubscriber(t, sub)

	ack, err := js.Publish(t.Context(), "blnode.ev.x.blacklist", []byte("garbage{"))
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, js, events.PublisherConfig{Region: "x"})
	e := blacklistEvent("after-garbage")
	seq, err := p.Publish(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, a, seq)
	last, seqs, byID := a.snapshot()
	if byID[e.ID] != 1 || len(seqs) != 1 || seqs[0] != seq || last != seq {
		t.Fatalf("applied %v last %d", seqs, last)
	}
	if got := sub.Skipped(); got != 1 {
		t.Fatalf("Skipped() = %d, want 1", got)
	}
	if st := sub.Status(); st.Skipped != 1 || st.Applied != 1 {
		t.Fatalf("status %+v", st)
	}
	if want := fmt.Sprintf("seq=%d", ack.Sequence); !strings.Contains(logs.String(), "skipping undecodable event") || !strings.Contains(logs.String(), want) {
		t.Fatalf("log does not report the skipped sequence %s:\n%s", want, logs.String())
	}
}

// A garbage message alone still advances the recorded sequence.
func TestSubscriberRecordsSkippedSequence(t *testing.T) {
	_, _, js := setup(t)
	if _, err := js.Publish(t.Context(), "blnode.ev.x.flush", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	a := newApplier(0)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitApplied(t, a, 1)
	waitSubscriberReady(t, sub)
	if sub.Skipped() != 1 {
		t.Fatalf("skipped %d", sub.Skipped())
	}
}

func TestSubscriberRetriesFailedApply(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	ids := publishN(t, p, 5)
	a := newApplier(0)
	a.failN = 2
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitApplied(t, a, 5)
	_, _, byID := a.snapshot()
	for _, id := range ids {
		if byID[id] != 1 {
			t.Fatalf("event %s applied %d times", id, byID[id])
		}
	}
	if st := sub.Status(); st.ApplyErrors != 2 || st.Skipped != 0 {
		t.Fatalf("status %+v, want 2 apply errors, none skipped", st)
	}
}

// A node whose last applied sequence is older than the stream's first one
// warns and rebuilds from the first sequence.
func TestSubscriberRebuildsAfterRetention(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 10)
	stream, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(t.Context(), jetstream.WithPurgeSequence(6)); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	a := newApplier(2)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{Logger: logs.logger()})
	runSubscriber(t, sub)
	waitApplied(t, a, 10)
	_, seqs, _ := a.snapshot()
	if len(seqs) != 5 || seqs[0] != 6 {
		t.Fatalf("applied %v, want 6..10", seqs)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "away longer than the stream keeps events") {
		t.Fatalf("no rebuild warning:\n%s", logs.String())
	}
	if st := sub.Status(); st.Rebuilds != 1 || st.StreamFirst != 6 {
		t.Fatalf("status %+v", st)
	}
}

// A stream that ends before the node's last applied sequence (recreated) is
// replayed from its start instead of waiting for sequences that will not
// come for a long time.
func TestSubscriberReplaysRecreatedStream(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 3)
	a := newApplier(500)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitApplied(t, a, 3)
	poll.For(t, waitLong, pollEvery, func() error {
		if last, seqs, _ := a.snapshot(); last != 3 || len(seqs) != 3 {
			return fmt.Errorf("last %d applied %v", last, seqs)
		}
		return nil
	})
}

// A stream deleted and recreated while the subscriber follows it is
// replayed from its start: the ordered consumer alone would wait for the
// old stream's next sequence. The Applier's recorded sequence moves back
// with the replay.
func TestSubscriberFollowsStreamRecreatedWhileRunning(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 5)
	a := newApplier(0)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitApplied(t, a, 5)

	ids := recreateStream(t, js, p, 2)
	poll.For(t, waitLong, pollEvery, func() error {
		last, _, applied := a.snapshot()
		for _, id := range ids {
			if applied[id] == 0 {
				return fmt.Errorf("event %s of the new stream not applied (last applied %d)", id, last)
			}
		}
		if last != 2 {
			return fmt.Errorf("recorded sequence %d, want 2 (the new stream's last)", last)
		}
		return nil
	})
	if st := sub.Status(); st.Rebuilds != 1 {
		t.Errorf("Status().Rebuilds = %d, want 1", st.Rebuilds)
	}
}

// The consumer comes back after the server restarts, and nothing is lost.
func TestSubscriberSurvivesServerRestart(t *testing.T) {
	s, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 5)
	a := newApplier(0)
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitApplied(t, a, 5)

	eventstest.RestartServer(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	for i := range 5 {
		e := blacklistEvent(fmt.Sprintf("after-%d", i))
		for {
			// A publish sent as the server comes back may get no answer
			// at all: each attempt has its own deadline (a retry of one
			// stored after all carries the same Nats-Msg-Id, and the
			// stream keeps one).
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := p.Publish(actx, e)
			acancel()
			if err == nil {
				break
			} else if ctx.Err() != nil {
				t.Fatalf("publish after restart: %v", err)
			}
		}
	}
	waitApplied(t, a, 10)
	if _, seqs, _ := a.snapshot(); len(seqs) != 10 {
		t.Fatalf("applied %v", seqs)
	}
}

func TestSubscriberRunTwice(t *testing.T) {
	_, _, js := setup(t)
	sub := newSubscriber(t, js, newApplier(0), events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitSubscriberReady(t, sub)
	if err := sub.Run(t.Context()); !errors.Is(err, events.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
}

// When the events after the last applied one were removed (expired by TTL)
// nothing will be delivered, and the subscriber still becomes ready.
func TestSubscriberReadyWhenTailExpired(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 3)
	stream, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(t.Context(), 3); err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, js, newApplier(2), events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitSubscriberReady(t, sub)
}

// previewApplier records the ids previewed and checks that every event
// reaches Apply marked Previewed after its Preview.
type previewApplier struct {
	*memApplier
	pmu       sync.Mutex
	previewed map[string]bool
	unmarked  int // applied events previewed but not marked, or marked but not previewed
}

func (a *previewApplier) Preview(ev events.Event) bool {
	a.pmu.Lock()
	a.previewed[ev.ID] = true
	a.pmu.Unlock()
	return true
}

func (a *previewApplier) Apply(ctx context.Context, batch []events.Delivered, lastSeq uint64) error {
	a.pmu.Lock()
	for _, d := range batch {
		if d.Previewed != a.previewed[d.Event.ID] {
			a.unmarked++
		}
	}
	a.pmu.Unlock()
	return a.memApplier.Apply(ctx, batch, lastSeq)
}

// A caught-up subscriber previews each event on arrival and hands it to
// Apply marked as previewed.
func TestSubscriberPreviewsLiveEvents(t *testing.T) {
	_, _, js := setup(t)
	a := &previewApplier{memApplier: newApplier(0), previewed: map[string]bool{}}
	sub := newSubscriber(t, js, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitSubscriberReady(t, sub)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 20)
	waitApplied(t, a.memApplier, 20)
	a.pmu.Lock()
	defer a.pmu.Unlock()
	if len(a.previewed) != 20 || a.unmarked != 0 {
		t.Fatalf("previewed %d of 20 events, %d applied with a wrong Previewed mark", len(a.previewed), a.unmarked)
	}
}

// streamIdentity returns the identity of the default stream as it is now.
func streamIdentity(t testing.TB, js jetstream.JetStream) events.StreamIdentity {
	t.Helper()
	s, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return events.IdentifyStream(s.CachedInfo())
}

// A replica stopped while its stream is deleted and recreated, and
// restarted once the new stream has grown past the old last applied
// sequence, replays the new stream from its start: the recorded stream
// identity tells it that its sequence counts in another stream. (It used to
// resume after the old sequence and skip the new stream's events up to it.)
func TestSubscriberReplaysStreamRecreatedWhileStopped(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 10)
	a := newApplier(0)
	stop := runSubscriber(t, newSubscriber(t, js, a, events.SubscriberConfig{}))
	waitApplied(t, a, 10)
	stop()
	old := streamIdentity(t, js)
	if got, _ := a.AppliedStream(); got != old {
		t.Fatalf("recorded stream %s, want %s (the stream followed)", got, old)
	}

	ids := recreateStream(t, js, p, 15)
	recreated := streamIdentity(t, js)

	var logs logBuffer
	sub := newSubscriber(t, js, a, events.SubscriberConfig{Logger: logs.logger()})
	runSubscriber(t, sub)
	poll.For(t, waitLong, pollEvery, func() error {
		last, _, applied := a.snapshot()
		var missing []int
		for i, id := range ids {
			if applied[id] == 0 {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 || last != 15 {
			return fmt.Errorf("events %v of the recreated stream not applied, last applied %d (want 15)", missing, last)
		}
		return nil
	})
	if st := sub.Status(); st.Rebuilds != 1 {
		t.Errorf("Status().Rebuilds = %d, want 1", st.Rebuilds)
	}
	if got, _ := a.AppliedStream(); got != recreated {
		t.Errorf("recorded stream %s, want %s (the recreated stream)", got, recreated)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "not the one the last applied sequence counts in") {
		t.Errorf("no warning of the replay:\n%s", l)
	}
}

// The Subscriber compares the recorded stream with the stream it follows
// when it starts: the same, or none recorded (a replica from before
// identities were recorded), and it goes on from the recorded sequence,
// recording the stream; another, and it replays the stream from its start.
func TestSubscriberChecksRecordedStream(t *testing.T) {
	tests := []struct {
		name         string
		recorded     func(events.StreamIdentity) events.StreamIdentity // from the stream's identity
		wantSeqs     []uint64
		wantRebuilds uint64
	}{
		{name: "none recorded", recorded: func(events.StreamIdentity) events.StreamIdentity { return events.StreamIdentity{} },
			wantSeqs: []uint64{4, 5}},
		{name: "the same stream", recorded: func(id events.StreamIdentity) events.StreamIdentity { return id },
			wantSeqs: []uint64{4, 5}},
		{name: "another stream of the name", recorded: func(id events.StreamIdentity) events.StreamIdentity { id.Created--; return id },
			wantSeqs: []uint64{1, 2, 3, 4, 5}, wantRebuilds: 1},
		{name: "a stream of another name", recorded: func(id events.StreamIdentity) events.StreamIdentity { id.Name = "OTHER"; return id },
			wantSeqs: []uint64{1, 2, 3, 4, 5}, wantRebuilds: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, js := setup(t)
			publishN(t, newPublisher(t, js, events.PublisherConfig{}), 5)
			id := streamIdentity(t, js)
			a := newApplier(0)
			if err := a.ResetApplied(3, tc.recorded(id)); err != nil {
				t.Fatal(err)
			}
			sub := newSubscriber(t, js, a, events.SubscriberConfig{})
			runSubscriber(t, sub)
			waitApplied(t, a, 5)
			if _, seqs, _ := a.snapshot(); fmt.Sprint(seqs) != fmt.Sprint(tc.wantSeqs) {
				t.Errorf("applied %v, want %v", seqs, tc.wantSeqs)
			}
			if got, _ := a.AppliedStream(); got != id {
				t.Errorf("recorded stream %s, want %s (the stream followed)", got, id)
			}
			if st := sub.Status(); st.Rebuilds != tc.wantRebuilds {
				t.Errorf("Status().Rebuilds = %d, want %d", st.Rebuilds, tc.wantRebuilds)
			}
		})
	}
}

// recreateStream deletes the default stream, creates it again and
// publishes n blacklistings to it (jtis new-0, new-1, …); it returns their
// event ids.
func recreateStream(t testing.TB, js jetstream.JetStream, p *events.Publisher, n int) []string {
	t.Helper()
	if err := js.DeleteStream(t.Context(), events.DefaultStreamName); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	// The server may still be removing the old stream's files: "error
	// creating store for stream" until it has (a full node retries too).
	poll.For(t, waitLong, pollEvery, func() error {
		_, err := events.EnsureStream(t.Context(), js, events.StreamConfig{})
		return err
	})
	ids := make([]string, 0, n)
	for i := range n {
		e := blacklistEvent(fmt.Sprintf("new-%d", i))
		if _, err := p.Publish(t.Context(), e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// An idle subscriber asks the JetStream API (STREAM.INFO, CONSUMER.INFO,
// …) at most once per StreamInfoInterval: thousands of idle validators must
// not keep the stream's leader busy. The requests are counted by the
// server; the interval is above the once a second of a subscriber that is
// not ready yet, which the subscriber asked for every second before.
func TestSubscriberIdleAPIRequests(t *testing.T) {
	s, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 3)
	a := newApplier(0)
	const every = 3 * time.Second
	sub := newSubscriber(t, js, a, events.SubscriberConfig{StreamInfoInterval: every})
	runSubscriber(t, sub)
	waitApplied(t, a, 3)
	waitSubscriberReady(t, sub)

	const looks = 3 // the subscriber keeps looking at the stream
	start, api0 := time.Now(), apiRequests(t, s)
	var n uint64
	poll.For(t, waitLong, pollEvery, func() error {
		if n = apiRequests(t, s) - api0; n < looks {
			return fmt.Errorf("%d JetStream API requests so far", n)
		}
		return nil
	})
	idle := time.Since(start)
	if most := uint64(idle/every) + 1; n > most {
		t.Errorf("%d JetStream API requests in %v of idleness, want at most %d (one per %v)", n, idle, most, every)
	}
	if st := sub.Status(); st.Restarts != 0 || st.Lag != 0 || st.StreamLast != 3 {
		t.Errorf("status %+v", st)
	}
}

// apiRequests is the number of JetStream API requests s has served.
func apiRequests(t testing.TB, s *server.Server) uint64 {
	t.Helper()
	jsz, err := s.Jsz(&server.JSzOptions{})
	if err != nil {
		t.Fatalf("Jsz: %v", err)
	}
	return jsz.API.Total
}

// A subscriber that starts 8192 events or more behind consumes them with a
// catch-up session (large pulls and buffers), which hands over to a live
// one (small ones) once caught up; a live session that is told of that many
// pending hands over to a catch-up session. No switch loses or repeats an
// event, and none counts as a restart.
func TestSubscriberSizesSessionsToTheBacklog(t *testing.T) {
	const backlog = 10_000
	t.Run("replay then live", func(t *testing.T) {
		_, _, js := setup(t)
		fill(t, js, backlog)
		a := newApplier(0)
		var logs logBuffer
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Logger: logs.logger()})
		runSubscriber(t, sub)
		waitApplied(t, a, backlog)
		waitSubscriberReady(t, sub)
		publishN(t, newPublisher(t, js, events.PublisherConfig{}), 3)
		waitApplied(t, a, backlog+3)
		checkSessions(t, sub, &logs, backlog+3, "catching_up=true", "catching_up=false")
	})
	t.Run("overstated backlog", func(t *testing.T) {
		// The stream's sequences say 10,000 are pending, but they were
		// deleted: the catch-up session receives nothing, hands over to a
		// live one after StreamInfoInterval, and that one stays.
		srv, _, js := setup(t)
		p := newPublisher(t, js, events.PublisherConfig{Region: "eu"})
		publishN(t, p, 1)
		fill(t, js, backlog)
		stream, err := js.Stream(t.Context(), events.DefaultStreamName)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Purge(t.Context(), jetstream.WithPurgeSubject(events.Subject("", "", events.KindBlacklist))); err != nil {
			t.Fatal(err)
		}
		a := newApplier(1)
		var logs logBuffer
		const every = 200 * time.Millisecond
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Logger: logs.logger(), StreamInfoInterval: every})
		runSubscriber(t, sub)
		waitSubscriberReady(t, sub)
		publishN(t, p, 1)
		waitApplied(t, a, backlog+2)
		// Several looks at the stream (one per interval) pass without
		// another session.
		api0 := apiRequests(t, srv)
		poll.For(t, waitLong, pollEvery, func() error {
			if n := apiRequests(t, srv) - api0; n < 5 {
				return fmt.Errorf("%d JetStream API requests", n)
			}
			return nil
		})
		checkSessions(t, sub, &logs, 1, "catching_up=true", "catching_up=false")
	})
	t.Run("live, behind, live", func(t *testing.T) {
		_, _, js := setup(t)
		a := newApplier(0)
		var logs logBuffer
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Logger: logs.logger()})
		runSubscriber(t, sub)
		waitSubscriberReady(t, sub)
		// Hold the first Apply while the backlog is published: the
		// consumer pulls no more than it can hand over meanwhile, so the
		// events it delivers next tell of thousands pending.
		a.mu.Lock()
		a.gate = make(chan struct{})
		a.mu.Unlock()
		fill(t, js, backlog)
		a.mu.Lock()
		close(a.gate)
		a.gate = nil
		a.mu.Unlock()
		waitApplied(t, a, backlog)
		checkSessions(t, sub, &logs, backlog, "catching_up=false", "catching_up=true", "catching_up=false")
	})
}

// checkSessions checks that sub applied each event once, applied events
// in all, never restarted, and logged sessions of the sizes in want, in
// that order. A session logs as it starts, just after the one before has
// applied its last batch: it waits for the log to show them.
func checkSessions(t *testing.T, sub *events.Subscriber, logs *logBuffer, applied uint64, want ...string) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		if st := sub.Status(); st.Applied != applied || st.Restarts != 0 || st.Lag != 0 {
			return fmt.Errorf("status %+v, want %d applied, no restart, no lag", st, applied)
		}
		var got []string
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "consuming events") {
				_, size, _ := strings.Cut(line, "catching_up=")
				got = append(got, "catching_up="+strings.TrimSpace(size))
			}
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("sessions %v, want %v\n%s", got, want, logs.String())
		}
		return nil
	})
}
