package events_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// distinct returns the number of distinct strings in ids.
func distinct(ids []string) int {
	c := slices.Clone(ids)
	slices.Sort(c)
	return len(slices.Compact(c))
}

// backlog returns n entries' worth of one-event wire forms and their ids.
func backlog(t testing.TB, n int) (data [][]byte, ids []string) {
	t.Helper()
	for i := range n {
		e := blacklistEvent(fmt.Sprint("j", i))
		data, ids = append(data, mustEncode(t, e)), append(ids, e.ID)
	}
	return data, ids
}

// drainAll drains ob with p until it is empty.
func drainAll(t *testing.T, p *events.Publisher, ob *seqOutbox) {
	t.Helper()
	stop := drainIn(t, p, ob)
	defer stop()
	poll.For(t, waitLong, pollEvery, func() error {
		if n := ob.Len(); n != 0 {
			return fmt.Errorf("%d entries pending", n)
		}
		return nil
	})
}

// A backlog of one-event entries behind a short window goes in messages of
// many entries, every event once and in order.
func TestDrainJoinsABacklog(t *testing.T) {
	_, _, js := setup(t)
	const n = 1000
	data, want := backlog(t, n)
	ob := newSeqOutbox()
	for _, d := range data {
		ob.Add(d)
	}
	p := newPublisher(t, js, events.PublisherConfig{BatchSize: 4})
	drainAll(t, p, ob)
	got, msgs := streamEventIDs(t, js)
	if !slices.Equal(got, want) {
		t.Fatalf("stream carries %d events (%d distinct), want the %d written, once each, in order", len(got), distinct(got), n)
	}
	if msgs > n/10 {
		t.Fatalf("%d messages for %d entries behind a window of 4: want them joined", msgs, n)
	}
	if st := p.Stats(); st.Published != n || st.Duplicates != 0 {
		t.Fatalf("stats %+v, want %d published, no duplicates", st, n)
	}
}

// A backlog published again, by another publisher with another window (a
// node restarted after a crash, before the deletes of its published
// entries were durable), is built into the same messages, ids included:
// the stream's duplicate window stores it once.
func TestDrainJoinedRetryIsDeduplicated(t *testing.T) {
	_, _, js := setup(t)
	const n = 640 // spans of 64 entries: the last, one entry, goes alone
	data, want := backlog(t, n)
	var msgs uint64
	for i, window := range []int{1, 3} {
		ob := newSeqOutbox()
		for _, d := range data {
			ob.Add(d)
		}
		p := newPublisher(t, js, events.PublisherConfig{BatchSize: window})
		drainAll(t, p, ob)
		got, m := streamEventIDs(t, js)
		if !slices.Equal(got, want) {
			t.Fatalf("publish %d: stream carries %d events (%d distinct), want the %d written, once each, in order", i+1, len(got), distinct(got), n)
		}
		if i == 0 {
			msgs = m
			if msgs >= n/10 {
				t.Fatalf("%d messages for %d entries: want them joined", msgs, n)
			}
			continue
		}
		if m != msgs {
			t.Fatalf("the stream grew from %d to %d messages when the backlog was published again", msgs, m)
		}
		if st := p.Stats(); st.Published != n || st.Duplicates != n {
			t.Fatalf("stats of the second publish %+v, want %d published, all duplicates", st, n)
		}
	}
}
