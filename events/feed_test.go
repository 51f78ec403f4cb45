package events_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// feedMsg is one message published for a feed test: its sequence and its
// events' wire forms.
type feedMsg struct {
	seq    uint64
	kind   events.Kind
	events [][]byte
}

// publishFeed publishes count messages of kind, each of per events (a
// batch when per > 1), and returns them.
func publishFeed(t testing.TB, js jetstream.JetStream, kind events.Kind, count, per int) []feedMsg {
	t.Helper()
	var out []feedMsg
	for i := range count {
		var evs [][]byte
		for j := range per {
			e := blacklistEvent(fmt.Sprintf("%s-%d-%d-%s", kind, i, j, events.NewID()[:8]))
			e.Kind = kind
			if kind != events.KindBlacklist && kind != events.KindOutstanding {
				e.Token, e.User, e.NotBefore = nil, "u"+strconv.Itoa(i), time.Now().Unix()
			}
			if kind == events.KindRevokeSession {
				e.User, e.Session = "", "s"+strconv.Itoa(i)
			}
			if kind == events.KindFlush {
				e.User, e.NotBefore, e.Cutoff = "", 0, time.Now().Unix()
			}
			evs = append(evs, mustEncode(t, e))
		}
		msg := nats.NewMsg(events.Subject("", "", kind))
		msg.Data = bytes.Join(evs, []byte{'\n'})
		if per > 1 {
			msg.Header.Set(events.BatchHeader, strconv.Itoa(per))
		}
		ack, err := js.PublishMsg(t.Context(), msg)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		out = append(out, feedMsg{seq: ack.Sequence, kind: kind, events: evs})
	}
	return out
}

func newFeed(t testing.TB, js jetstream.JetStream, c events.FeedConfig) *events.Feed {
	t.Helper()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	f, err := events.NewFeed(js, c)
	if err != nil {
		t.Fatalf("NewFeed: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Feed.Run: %v", err)
		}
	})
	// Open fails until Run has started.
	poll.For(t, waitLong, pollEvery, func() error {
		r, err := f.Open(t.Context(), nil, 0, true)
		if err != nil {
			return err
		}
		r.Close()
		return nil
	})
	return f
}

// readFeed reads r until it has want messages, and checks they are
// exactly want (sequences and events) in order.
func readFeed(t testing.TB, r *events.FeedReader, want []feedMsg) {
	t.Helper()
	var got []events.FeedMessage
	for len(got) < len(want) {
		msgs, err := r.Next(t.Context(), waitLong)
		if err != nil {
			t.Fatalf("Next after %d messages: %v", len(got), err)
		}
		if len(msgs) == 0 {
			t.Fatalf("nothing after %d of %d messages within %v", len(got), len(want), waitLong)
		}
		for _, m := range msgs {
			got = append(got, events.FeedMessage{Seq: m.Seq, Events: append([][]byte(nil), m.Events...)})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.Seq != want[i].seq || len(m.Events) != len(want[i].events) {
			t.Fatalf("message %d: seq %d with %d events, want seq %d with %d", i, m.Seq, len(m.Events), want[i].seq, len(want[i].events))
		}
		for j := range m.Events {
			if !bytes.Equal(m.Events[j], want[i].events[j]) {
				t.Fatalf("message %d event %d: %s, want %s", i, j, m.Events[j], want[i].events[j])
			}
		}
	}
	if r.Seq() != want[len(want)-1].seq {
		t.Fatalf("cursor %d, want %d", r.Seq(), want[len(want)-1].seq)
	}
}

// only returns the messages of kinds.
func only(msgs []feedMsg, kinds ...events.Kind) []feedMsg {
	var out []feedMsg
	for _, m := range msgs {
		for _, k := range kinds {
			if m.kind == k {
				out = append(out, m)
			}
		}
	}
	return out
}

// A reader gets every message of its kinds after its cursor, in order,
// batches whole: from the stream before the follower started, from the
// ring after, and from now.
func TestFeedDeliversInOrder(t *testing.T) {
	_, _, js := setup(t)
	before := publishFeed(t, js, events.KindBlacklist, 5, 1)
	before = append(before, publishFeed(t, js, events.KindOutstanding, 3, 1)...)
	f := newFeed(t, js, events.FeedConfig{})

	all, err := f.Open(t.Context(), nil, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	revs, err := f.Open(t.Context(), events.RevocationKinds(), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer revs.Close()
	now, err := f.Open(t.Context(), events.RevocationKinds(), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer now.Close()
	if now.Seq() != before[len(before)-1].seq {
		t.Fatalf("a reader from now starts at %d, want %d", now.Seq(), before[len(before)-1].seq)
	}

	after := publishFeed(t, js, events.KindRevokeUser, 2, 1)
	after = append(after, publishFeed(t, js, events.KindBlacklist, 3, 7)...) // batches
	after = append(after, publishFeed(t, js, events.KindOutstanding, 2, 1)...)
	after = append(after, publishFeed(t, js, events.KindFlush, 1, 1)...)
	everything := append(append([]feedMsg(nil), before...), after...)

	readFeed(t, all, everything)
	readFeed(t, revs, only(everything[2:], events.RevocationKinds()...))
	readFeed(t, now, only(after, events.RevocationKinds()...))
	// Nothing more: a wait that ends returns nothing.
	if msgs, err := now.Next(t.Context(), 10*time.Millisecond); err != nil || len(msgs) != 0 {
		t.Fatalf("after the last: %d messages, %v", len(msgs), err)
	}
	if st := f.Status(); st.Followers != 2 || st.Readers != 3 {
		t.Errorf("status %+v: want 2 followers (every kind, revocations) and 3 readers", st)
	}
}

// A ring far smaller than the traffic: readers that fall behind it, or
// start before it, read what it let go from the stream, and miss nothing.
func TestFeedCatchesUpBeyondTheRing(t *testing.T) {
	_, _, js := setup(t)
	f := newFeed(t, js, events.FeedConfig{MaxEvents: 8, CatchUpBatch: 5, MaxBatchBytes: 1024})
	early, err := f.Open(t.Context(), nil, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	msgs := publishFeed(t, js, events.KindBlacklist, 60, 1)
	msgs = append(msgs, publishFeed(t, js, events.KindRevokeUser, 10, 3)...)
	msgs = append(msgs, publishFeed(t, js, events.KindBlacklist, 30, 1)...)
	poll.For(t, waitLong, pollEvery, func() error {
		if st := f.Status(); st.Events > 8+3 || st.Events == 0 {
			return fmt.Errorf("the ring holds %d events", st.Events)
		}
		return nil
	})
	readFeed(t, early, msgs) // it read none while they came: all from the stream
	late, err := f.Open(t.Context(), nil, msgs[20].seq, false)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	readFeed(t, late, msgs[21:])
	if f.Status().CatchUps == 0 {
		t.Error("no catch-up counted")
	}
	// A filtered reader behind the ring with nothing of its kinds in the
	// gap moves on to the ring without a message.
	sess, err := f.Open(t.Context(), []events.Kind{events.KindRevokeSession}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	one := publishFeed(t, js, events.KindRevokeSession, 1, 1)
	readFeed(t, sess, one)
}

// Sequences the stream no longer holds, or has not reached, are refused.
func TestFeedGoneAndAhead(t *testing.T) {
	_, _, js := setup(t)
	msgs := publishFeed(t, js, events.KindBlacklist, 5, 1)
	f := newFeed(t, js, events.FeedConfig{})
	last := msgs[len(msgs)-1].seq
	if _, err := f.Open(t.Context(), nil, last+1, false); !errors.Is(err, events.ErrFeedAhead) {
		t.Fatalf("since past the last: %v, want ErrFeedAhead", err)
	}
	r, err := f.Open(t.Context(), nil, last, false)
	if err != nil {
		t.Fatalf("since = last: %v", err)
	}
	r.Close()
	s, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context(), jetstream.WithPurgeSequence(4)); err != nil {
		t.Fatal(err)
	}
	for _, since := range []uint64{0, 1, 2} {
		if _, err := f.Open(t.Context(), nil, since, false); !errors.Is(err, events.ErrFeedGone) {
			t.Errorf("since %d after a purge up to 4: %v, want ErrFeedGone", since, err)
		}
	}
	r, err = f.Open(t.Context(), nil, 3, false)
	if err != nil {
		t.Fatalf("since 3 (4 is held): %v", err)
	}
	defer r.Close()
	readFeed(t, r, msgs[3:])
}

// A follower without readers stops, and its consumer goes; the feed's
// end stops every reader.
func TestFeedStops(t *testing.T) {
	_, _, js := setup(t)
	f, err := events.NewFeed(js, events.FeedConfig{Idle: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(t.Context(), nil, 0, true); !errors.Is(err, events.ErrFeedStopped) {
		t.Fatalf("Open before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx) })
	defer wg.Wait()
	defer cancel()
	var r *events.FeedReader
	poll.For(t, waitLong, pollEvery, func() error {
		r, err = f.Open(t.Context(), nil, 0, true)
		return err
	})
	consumers := func() int {
		s, err := js.Stream(t.Context(), events.DefaultStreamName)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().State.Consumers
	}
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers with a reader", n)
	}
	r.Close()
	poll.For(t, waitLong, pollEvery, func() error {
		if st := f.Status(); st.Followers != 0 {
			return fmt.Errorf("%d followers", st.Followers)
		}
		if n := consumers(); n != 0 {
			return fmt.Errorf("%d consumers", n)
		}
		return nil
	})
	r, err = f.Open(t.Context(), nil, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan error, 1)
	go func() {
		_, err := r.Next(t.Context(), time.Hour)
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, events.ErrFeedStopped) {
		t.Fatalf("Next when the feed stops: %v", err)
	}
}
