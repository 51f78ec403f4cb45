package events_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
)

func TestPublishDeduplicates(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{Region: "eu"})
	e := blacklistEvent("dup")
	seq1, err := p.Publish(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	seq2, err := p.Publish(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	if seq1 != seq2 {
		t.Fatalf("seqs %d and %d, want the same", seq1, seq2)
	}
	if n, err := streamMsgs(t, js); err != nil || n != 1 {
		t.Fatalf("stream holds %d messages (%v), want 1", n, err)
	}
	st := p.Stats()
	if st.Published != 2 || st.Duplicates != 1 {
		t.Fatalf("stats %+v, want 2 published, 1 duplicate", st)
	}
	s, _ := js.Stream(t.Context(), events.DefaultStreamName)
	m, err := s.GetMsg(t.Context(), seq1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "blnode.ev.eu.blacklist" {
		t.Fatalf("subject %q", m.Subject)
	}
}

func TestPublishRejectsInvalidEvent(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	_, err := p.Publish(t.Context(), events.Event{ID: "x", Kind: events.KindBlacklist, Origin: "n"})
	if !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("Publish(invalid) = %v, want ErrMalformed", err)
	}
	if n, _ := streamMsgs(t, js); n != 0 {
		t.Fatalf("stream holds %d messages", n)
	}
}

func TestNewPublisherConfig(t *testing.T) {
	_, _, js := setup(t)
	tests := []struct {
		name string
		cfg  events.PublisherConfig
		want string
	}{
		{"region", events.PublisherConfig{Region: "eu.west"}, "PublisherConfig.Region"},
		{"backoff", events.PublisherConfig{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "PublisherConfig.MaxBackoff"},
		{"batch", events.PublisherConfig{BatchSize: -1}, "PublisherConfig.BatchSize -1"},
		{"stream", events.PublisherConfig{Stream: events.StreamConfig{Duplicates: time.Second}}, "StreamConfig.Duplicates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.NewPublisher(js, tt.cfg)
			if !errors.Is(err, events.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewPublisher = %v, want ErrInvalidConfig naming %s", err, tt.want)
			}
		})
	}
}

// runDrain runs p.Drain until the test ends.
func runDrain(t *testing.T, p *events.Publisher, ob events.Outbox, wake <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Drain(ctx, ob, wake) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Drain: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Drain did not return after cancel")
		}
	})
}

// Entries written while NATS is down stay in the outbox; once the server is
// back every one is published exactly once and removed.
func TestDrainSurvivesServerRestart(t *testing.T) {
	s, nc, js := setup(t)
	var logs logBuffer
	p := newPublisher(t, js, events.PublisherConfig{
		Logger: logs.logger(), MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, BatchSize: 8,
	})
	ob := newOutbox()
	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	runDrain(t, p, ob, wake)

	var ids []string
	add := func(n int) {
		for i := range n {
			e := blacklistEvent(fmt.Sprintf("j%d-%d", len(ids), i))
			ob.Add(mustEncode(t, e))
			ids = append(ids, e.ID)
		}
		notify()
	}
	add(5)
	poll.For(t, waitLong, pollEvery, func() error {
		if n := ob.Len(); n != 0 {
			return fmt.Errorf("%d entries pending", n)
		}
		return nil
	})

	s.Shutdown()
	s.WaitForShutdown()
	poll.For(t, waitLong, pollEvery, func() error {
		if nc.IsConnected() {
			return errors.New("still connected")
		}
		return nil
	})
	add(20)
	ob.Add([]byte("not an event")) // must never block the queue
	before := p.Stats().Failures
	poll.For(t, waitLong, pollEvery, func() error {
		if f := p.Stats().Failures; f < before+3 {
			return fmt.Errorf("%d failed attempts so far", f-before)
		}
		return nil
	})
	if n := ob.Len(); n != 21 {
		t.Fatalf("%d entries pending while NATS is down, want 21", n)
	}
	if st := p.Stats(); st.Backoff == 0 || st.LastError == "" {
		t.Fatalf("stats while down %+v, want a backoff and an error", st)
	}
	if !strings.Contains(logs.String(), "outbox_depth=21") {
		t.Errorf("retry log does not give the outbox depth:\n%s", logs.String())
	}

	eventstest.RestartServer(t, s)
	poll.For(t, waitLong, pollEvery, func() error {
		if n := ob.Len(); n != 0 {
			return fmt.Errorf("%d entries pending", n)
		}
		return nil
	})
	st := p.Stats()
	if st.Dropped != 1 || st.Backoff != 0 {
		t.Fatalf("stats %+v, want 1 dropped and no backoff", st)
	}

	// Exactly once: 25 messages, each event id once.
	stream, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := stream.CachedInfo().State.Msgs; n != 25 {
		t.Fatalf("stream holds %d messages, want 25", n)
	}
	seen := map[string]int{}
	for seq := uint64(1); seq <= 25; seq++ {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("GetMsg %d: %v", seq, err)
		}
		e, err := events.Decode(m.Data)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		seen[e.ID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s stored %d times", id, seen[id])
		}
	}
}

// A failing outbox read is retried, and entries flow once it recovers.
func TestDrainRetriesOutboxErrors(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	ob := newOutbox()
	ob.failing = errors.New("disk on fire")
	ob.Add(mustEncode(t, blacklistEvent("a")))
	runDrain(t, p, ob, nil)
	poll.For(t, waitLong, pollEvery, func() error {
		if p.Stats().Backoff == 0 {
			return errors.New("no backoff yet")
		}
		return nil
	})
	ob.mu.Lock()
	ob.failing = nil
	ob.mu.Unlock()
	poll.For(t, waitLong, pollEvery, func() error {
		if n := ob.Len(); n != 0 {
			return fmt.Errorf("%d pending", n)
		}
		return nil
	})
	if n, _ := streamMsgs(t, js); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

// Drain reaches a full outbox without a wake-up, in batches.
func TestDrainManyWithoutWake(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{BatchSize: 64})
	ob := newOutbox()
	for i := range 1000 {
		ob.Add(mustEncode(t, blacklistEvent(fmt.Sprint(i))))
	}
	runDrain(t, p, ob, nil)
	poll.For(t, waitLong, pollEvery, func() error {
		if n := ob.Len(); n != 0 {
			return fmt.Errorf("%d pending", n)
		}
		return nil
	})
	if ids, _ := streamEventIDs(t, js); len(ids) != 1000 || distinct(ids) != 1000 {
		t.Fatalf("stream holds %d events, want the 1000 written, once each", len(ids))
	}
}
