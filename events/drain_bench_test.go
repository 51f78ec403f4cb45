package events_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// seqOutbox is an Outbox with OutboxSeeker, as the node's store is one:
// entries in Seq order, reads that start after a key. Unlike memOutbox it
// reads in time that does not grow with its depth, so a benchmark measures
// the publisher.
type seqOutbox struct {
	mu      sync.Mutex
	next    uint64
	entries []events.OutboxEntry // by Seq; removed ones until compacted
	removed map[uint64]bool
}

func newSeqOutbox() *seqOutbox { return &seqOutbox{removed: map[uint64]bool{}} }

// Add appends one entry holding the events given (written together).
func (o *seqOutbox) Add(evs ...[]byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	o.entries = append(o.entries, events.OutboxEntry{Seq: o.next, Events: evs})
}

func (o *seqOutbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries) - len(o.removed)
}

func (o *seqOutbox) Pending(ctx context.Context, max int) ([]events.OutboxEntry, error) {
	return o.PendingAfter(ctx, 0, max)
}

func (o *seqOutbox) PendingAfter(_ context.Context, after uint64, max int) ([]events.OutboxEntry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := sort.Search(len(o.entries), func(i int) bool { return o.entries[i].Seq > after })
	var out []events.OutboxEntry
	for ; i < len(o.entries) && len(out) < max; i++ {
		if !o.removed[o.entries[i].Seq] {
			out = append(out, o.entries[i])
		}
	}
	return out, nil
}

func (o *seqOutbox) Remove(_ context.Context, seqs []uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range seqs {
		o.removed[s] = true
	}
	// Drop the removed head.
	n := 0
	for n < len(o.entries) && o.removed[o.entries[n].Seq] {
		delete(o.removed, o.entries[n].Seq)
		n++
	}
	o.entries = slices.Delete(o.entries, 0, n)
	return nil
}

// BenchmarkDrain measures the outbox publisher against one in-process
// server: 20,000 entries of one event each (a node's commits at low
// concurrency) waiting, as after a NATS outage or when the node fell
// behind, drained from the start; events/s and stream messages per event.
func BenchmarkDrain(b *testing.B) {
	const n = 20_000
	data := make([][]byte, n)
	for i := range data {
		data[i] = mustEncode(b, blacklistEvent(fmt.Sprintf("%032x", i)))
	}
	var took time.Duration
	var msgs uint64
	for b.Loop() {
		_, _, js := setup(b)
		p := newPublisher(b, js, events.PublisherConfig{})
		ob := newSeqOutbox()
		for _, d := range data {
			ob.Add(d)
		}
		start := time.Now()
		stop := drainIn(b, p, ob)
		poll.For(b, 2*time.Minute, time.Millisecond, func() error {
			if d := ob.Len(); d > 0 {
				return fmt.Errorf("%d entries left", d)
			}
			return nil
		})
		took += time.Since(start)
		stop()
		m, err := streamMsgs(b, js)
		if err != nil {
			b.Fatal(err)
		}
		msgs += m
	}
	iters := float64(b.N)
	b.ReportMetric(n*iters/took.Seconds(), "events/s")
	b.ReportMetric(float64(msgs)/(n*iters), "msgs/event")
}

// drainIn runs p.Drain(ob) until stop, which waits for it.
func drainIn(b testing.TB, p *events.Publisher, ob events.Outbox) (stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(b.Context())
	errc := make(chan error, 1)
	go func() { errc <- p.Drain(ctx, ob, nil) }()
	return func() {
		cancel()
		if err := <-errc; err != nil {
			b.Errorf("Drain: %v", err)
		}
	}
}
