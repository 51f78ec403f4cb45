package events_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// nopApplier discards events and closes done once target is reached.
type nopApplier struct {
	target uint64
	last   atomic.Uint64
	once   sync.Once
	done   chan struct{}
}

func (a *nopApplier) LastApplied() (uint64, error) { return 0, nil }
func (a *nopApplier) AppliedStream() (events.StreamIdentity, error) {
	return events.StreamIdentity{}, nil
}
func (a *nopApplier) ResetApplied(uint64, events.StreamIdentity) error { return nil }
func (a *nopApplier) Apply(_ context.Context, _ []events.Delivered, lastSeq uint64) error {
	a.last.Store(lastSeq)
	if lastSeq >= a.target {
		a.once.Do(func() { close(a.done) })
	}
	return nil
}

// BenchmarkReplay measures a fresh replica replaying 100k events through an
// ordered consumer into an Applier that does nothing.
func BenchmarkReplay(b *testing.B) {
	const n = 100_000
	_, _, js := setup(b)
	fill(b, js, n)

	b.ReportAllocs()
	replayed := 0
	for b.Loop() {
		a := &nopApplier{target: n, done: make(chan struct{})}
		sub, err := events.NewSubscriber(js, a, events.SubscriberConfig{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		go func() { done <- sub.Run(ctx) }()
		select {
		case <-a.done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("replayed %d of %d", a.last.Load(), n)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		replayed += n
	}
	b.ReportMetric(float64(replayed)/b.Elapsed().Seconds(), "events/s")
}

// fill publishes n blacklist events asynchronously and waits until the
// stream holds at least n messages.
func fill(b testing.TB, js jetstream.JetStream, n int) {
	b.Helper()
	subj := events.Subject("", "", events.KindBlacklist)
	for i := 0; i < n; i += 1000 {
		for j := i; j < min(i+1000, n); j++ {
			e := blacklistEvent(fmt.Sprintf("%032x", j))
			if _, err := js.PublishAsync(subj, mustEncode(b, e), jetstream.WithMsgID(e.ID)); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			b.Fatal("publish acks timed out")
		}
	}
	poll.For(b, 30*time.Second, 10*time.Millisecond, func() error {
		if m, err := streamMsgs(b, js); err != nil || m < uint64(n) {
			return fmt.Errorf("%d messages (%v), want %d or more", m, err, n)
		}
		return nil
	})
}

// BenchmarkDecode measures decoding one wire-form event.
func BenchmarkDecode(b *testing.B) {
	data := mustEncode(b, blacklistEvent("5f2b9c0e1d7a4c3b8e6f0a1b2c3d4e5f"))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := events.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
