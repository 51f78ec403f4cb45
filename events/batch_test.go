package events_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// storedMsg is one stream message as a reader sees it.
type storedMsg struct {
	subject string
	header  nats.Header
	events  []events.Event
}

// readStream returns the first n messages of the default stream, decoded.
func readStream(t *testing.T, js jetstream.JetStream, n int) []storedMsg {
	t.Helper()
	var out []storedMsg
	poll.For(t, waitLong, pollEvery, func() error {
		if m, err := streamMsgs(t, js); err != nil || m < uint64(n) {
			return fmt.Errorf("stream holds %d messages (%v), want %d", m, err, n)
		}
		return nil
	})
	s, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(n); seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", seq, err)
		}
		sm := storedMsg{subject: m.Subject, header: m.Header}
		for _, data := range events.MessageEvents(m.Data, m.Header) {
			e, err := events.Decode(data)
			if err != nil {
				t.Fatalf("message %d: %v", seq, err)
			}
			sm.events = append(sm.events, e)
		}
		out = append(out, sm)
	}
	return out
}

func ids(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func outstandingEvent(jti string) events.Event {
	e := blacklistEvent(jti)
	e.Kind = events.KindOutstanding
	return e
}

// An outbox entry (one commit) goes out in as few messages as its subjects
// allow, in order, each batch marked and named after its first event; a
// single event keeps its own id and no mark.
func TestDrainBatchesAnEntry(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{Region: "eu"})
	var evs []events.Event
	for i := range 5 {
		evs = append(evs, blacklistEvent(fmt.Sprint("b", i)))
	}
	evs = append(evs, outstandingEvent("o"))
	for i := range 3 {
		evs = append(evs, blacklistEvent(fmt.Sprint("c", i)))
	}
	ob := newOutbox()
	var data [][]byte
	for _, e := range evs {
		data = append(data, mustEncode(t, e))
	}
	ob.Add(data...)
	runDrain(t, p, ob, nil)

	msgs := readStream(t, js, 3)
	wantSplit := [][]events.Event{evs[:5], evs[5:6], evs[6:]}
	for i, m := range msgs {
		want := wantSplit[i]
		if !slices.Equal(ids(m.events), ids(want)) {
			t.Errorf("message %d carries %v, want %v", i+1, ids(m.events), ids(want))
		}
		wantID, wantMark := want[0].ID, ""
		if len(want) > 1 {
			wantID, wantMark = fmt.Sprintf("%s+%d", want[0].ID, len(want)), fmt.Sprint(len(want))
		}
		if got := m.header.Get(jetstream.MsgIDHeader); got != wantID {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", i+1, got, wantID)
		}
		if got := m.header.Get(events.BatchHeader); got != wantMark {
			t.Errorf("message %d: %s %q, want %q", i+1, events.BatchHeader, got, wantMark)
		}
		if m.header.Get(jetstream.MsgTTLHeader) == "" {
			t.Errorf("message %d has no Nats-TTL", i+1)
		}
		if wantSubj := "blnode.ev.eu." + string(want[0].Kind); m.subject != wantSubj {
			t.Errorf("message %d on %s, want %s", i+1, m.subject, wantSubj)
		}
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if ob.Len() != 0 {
			return fmt.Errorf("outbox holds %d entries", ob.Len())
		}
		return nil
	})
	if st := p.Stats(); st.Published != uint64(len(evs)) {
		t.Errorf("Published = %d, want %d events", st.Published, len(evs))
	}
}

// An entry published again (a crash between the ack and the outbox delete)
// is built into the very same messages, which the duplicate window drops.
func TestDrainBatchRetryIsDeduplicated(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	var data [][]byte
	for i := range 10 {
		data = append(data, mustEncode(t, blacklistEvent(fmt.Sprint("r", i))))
	}
	ob := newOutbox()
	ob.Add(data...)
	ob.Add(data...) // the same entry, as a restarted node reads it again
	runDrain(t, p, ob, nil)
	poll.For(t, waitLong, pollEvery, func() error {
		if ob.Len() != 0 {
			return fmt.Errorf("outbox holds %d entries", ob.Len())
		}
		return nil
	})
	if n, err := streamMsgs(t, js); err != nil || n != 1 {
		t.Fatalf("stream holds %d messages (%v), want 1", n, err)
	}
	if st := p.Stats(); st.Published != 20 || st.Duplicates != 10 {
		t.Fatalf("stats %+v, want 20 published, 10 of them duplicates", st)
	}
}

// Batches stay within MaxPerMessage and MaxEventSize; MaxPerMessage 1
// sends every event alone, as nodes before batches did.
func TestDrainBatchLimits(t *testing.T) {
	tests := []struct {
		name      string
		perMsg    int
		reason    int // bytes of reason per event
		events    int
		wantMsgs  int
		wantBatch bool
	}{
		{"one per message", 1, 0, 6, 6, false},
		{"count limit", 4, 0, 10, 3, true},
		{"size limit", 0, 1000, 200, 0, true}, // wantMsgs 0: at least ceil(size/MaxEventSize)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, js := setup(t)
			p := newPublisher(t, js, events.PublisherConfig{MaxPerMessage: tt.perMsg})
			var data [][]byte
			var want []string
			total := 0
			for i := range tt.events {
				e := blacklistEvent(fmt.Sprint("l", i))
				e.Token.Reason = strings.Repeat("r", tt.reason)
				data = append(data, mustEncode(t, e))
				want = append(want, e.ID)
				total += len(data[i]) + 1
			}
			ob := newOutbox()
			ob.Add(data...)
			runDrain(t, p, ob, nil)
			poll.For(t, waitLong, pollEvery, func() error {
				if ob.Len() != 0 {
					return fmt.Errorf("outbox holds %d entries", ob.Len())
				}
				return nil
			})
			n, err := streamMsgs(t, js)
			if err != nil {
				t.Fatal(err)
			}
			wantMsgs := tt.wantMsgs
			if wantMsgs == 0 {
				wantMsgs = (total + events.MaxEventSize - 1) / events.MaxEventSize
				if int(n) < wantMsgs || int(n) > 2*wantMsgs {
					t.Fatalf("%d messages for %d bytes of events, want %d to %d", n, total, wantMsgs, 2*wantMsgs)
				}
				wantMsgs = int(n)
			} else if int(n) != wantMsgs {
				t.Fatalf("%d messages, want %d", n, wantMsgs)
			}
			var got []string
			s, _ := js.Stream(t.Context(), events.DefaultStreamName)
			for seq := uint64(1); seq <= n; seq++ {
				m, err := s.GetMsg(t.Context(), seq)
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Data) > events.MaxEventSize {
					t.Errorf("message %d holds %d bytes, above MaxEventSize", seq, len(m.Data))
				}
				if (m.Header.Get(events.BatchHeader) != "") != tt.wantBatch {
					t.Errorf("message %d: batch header %q", seq, m.Header.Get(events.BatchHeader))
				}
				for _, d := range events.MessageEvents(m.Data, m.Header) {
					e, err := events.Decode(d)
					if err != nil {
						t.Fatalf("message %d: %v", seq, err)
					}
					got = append(got, e.ID)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("stream carries %d events, want the %d written, in order", len(got), len(want))
			}
		})
	}
}

// An event of an entry that does not decode is left out; the rest go.
func TestDrainBatchDropsUndecodableEvent(t *testing.T) {
	_, _, js := setup(t)
	var logs logBuffer
	p := newPublisher(t, js, events.PublisherConfig{Logger: logs.logger()})
	a, b := blacklistEvent("a"), blacklistEvent("b")
	ob := newOutbox()
	ob.Add(mustEncode(t, a), []byte("not an event"), mustEncode(t, b))
	ob.Add([]byte("garbage only"))
	runDrain(t, p, ob, nil)
	msgs := readStream(t, js, 1)
	if !slices.Equal(ids(msgs[0].events), []string{a.ID, b.ID}) {
		t.Fatalf("message carries %v, want a and b", ids(msgs[0].events))
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if ob.Len() != 0 {
			return fmt.Errorf("outbox holds %d entries", ob.Len())
		}
		return nil
	})
	if st := p.Stats(); st.Dropped != 2 {
		t.Errorf("Dropped = %d, want 2", st.Dropped)
	}
	if !strings.Contains(logs.String(), "dropping undecodable outbox event") {
		t.Errorf("no log of the dropped event: %s", logs.String())
	}
}

// batchApplier records the events of every Apply call.
type batchApplier struct {
	mu    sync.Mutex
	last  uint64
	calls [][]events.Delivered
}

func (a *batchApplier) LastApplied() (uint64, error) { return 0, nil }
func (a *batchApplier) AppliedStream() (events.StreamIdentity, error) {
	return events.StreamIdentity{}, nil
}
func (a *batchApplier) ResetApplied(uint64, events.StreamIdentity) error { return nil }

func (a *batchApplier) Apply(_ context.Context, batch []events.Delivered, lastSeq uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, slices.Clone(batch))
	a.last = lastSeq
	return nil
}

// A batched message is applied whole, in one Apply that records its
// sequence, even when it holds more events than MaxBatch: a crash after an
// Apply never leaves half a message behind its recorded sequence.
func TestSubscriberAppliesBatchWhole(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	var want []string
	ob := newOutbox()
	for m := range 3 {
		var data [][]byte
		for i := range 7 {
			e := blacklistEvent(fmt.Sprintf("w%d-%d", m, i))
			data = append(data, mustEncode(t, e))
			want = append(want, e.ID)
		}
		ob.Add(data...)
	}
	runDrain(t, p, ob, nil)
	readStream(t, js, 3)

	a := &batchApplier{}
	runSubscriber(t, newSubscriber(t, js, a, events.SubscriberConfig{MaxBatch: 2}))
	poll.For(t, waitLong, pollEvery, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.last < 3 {
			return fmt.Errorf("last applied %d, want 3", a.last)
		}
		return nil
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	var got []string
	for _, call := range a.calls {
		perSeq := map[uint64]int{}
		for _, d := range call {
			perSeq[d.Seq]++
			got = append(got, d.Event.ID)
		}
		for seq, n := range perSeq {
			if n != 7 {
				t.Errorf("an Apply holds %d of the 7 events of message %d", n, seq)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("applied %d events, want the %d published, in order", len(got), len(want))
	}
}

// FuzzMessageEvents: splitting never panics, never loses a byte, and a
// message without the batch header is one event.
func FuzzMessageEvents(f *testing.F) {
	f.Add([]byte(`{"v":1}`+"\n"+`{"v":1}`), "2")
	f.Add([]byte("\n\n"), "1")
	f.Add([]byte(`{"v":1}`), "")
	f.Fuzz(func(t *testing.T, data []byte, mark string) {
		h := nats.Header{}
		if mark != "" {
			h.Set(events.BatchHeader, mark)
		}
		parts := events.MessageEvents(data, h)
		if h.Get(events.BatchHeader) == "" && len(parts) != 1 {
			t.Fatalf("unbatched message split into %d", len(parts))
		}
		if !bytes.Equal(bytes.Join(parts, []byte{'\n'}), data) {
			t.Fatalf("parts %q do not join back to %q", parts, data)
		}
		for _, p := range parts {
			_, _ = events.Decode(p) // never panics
		}
	})
}

// Every delivered event carries the time the stream stored its message, by
// the server's clock (the node bounds a not-before with it).
func TestSubscriberDeliversStoredTime(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	before := time.Now().Add(-time.Second)
	publishN(t, p, 3)
	after := time.Now().Add(time.Second)
	a := &batchApplier{}
	runSubscriber(t, newSubscriber(t, js, a, events.SubscriberConfig{}))
	poll.For(t, waitLong, pollEvery, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.last < 3 {
			return fmt.Errorf("last applied %d, want 3", a.last)
		}
		return nil
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, call := range a.calls {
		for _, d := range call {
			if d.Stored.Before(before) || d.Stored.After(after) {
				t.Errorf("event at %d: Stored %v, want between %v and %v", d.Seq, d.Stored, before, after)
			}
		}
	}
}
