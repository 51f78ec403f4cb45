package eventstest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
)

// NewApplier opens an events.Applier over the state kept in dir, a fresh
// t.TempDir() the first time. close releases it; the suites open dir again
// after close to check what survives a restart, and call close at most
// once (the opener should also release it at cleanup if close was not
// called).
type NewApplier func(t testing.TB, dir string) (a events.Applier, close func())

// NewOutbox opens an events.Outbox over the state kept in dir (as
// NewApplier). add durably appends the encoded events of one write, as the
// writer's commit does.
type NewOutbox func(t testing.TB, dir string) (ob events.Outbox, add func(events ...[]byte) error, close func())

// TestApplier checks the contract written on events.Applier against the
// implementation open makes: run it for every Applier, the test doubles
// included, so that a double cannot hide what the real one does. After
// every step, AppliedStream must return the stream given to the last
// ResetApplied (zero before the first).
func TestApplier(t *testing.T, open NewApplier) {
	t.Helper()
	type step struct {
		apply   []uint64              // Apply a batch of events with these sequences; the last is lastSeq (nil: an empty batch)
		lastSeq uint64                // lastSeq of an empty batch
		reset   *uint64               // ResetApplied(*reset, stream) instead
		stream  events.StreamIdentity // the stream of a reset
		restart bool                  // close and open again instead
		want    uint64                // LastApplied afterwards
	}
	// Two streams of one name: the second is the first recreated.
	first := events.StreamIdentity{Name: events.DefaultStreamName, Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()}
	second := events.StreamIdentity{Name: events.DefaultStreamName, Created: first.Created + 1}
	reset := func(seq uint64) *uint64 { return &seq }
	describe := func(s step) string {
		switch {
		case s.restart:
			return "restart"
		case s.reset != nil:
			return fmt.Sprintf("ResetApplied(%d, %s)", *s.reset, s.stream)
		case len(s.apply) > 0:
			return fmt.Sprintf("Apply(events at %v, %d)", s.apply, s.apply[len(s.apply)-1])
		}
		return fmt.Sprintf("Apply(no events, %d)", s.lastSeq)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "an empty replica records 0", steps: []step{{restart: true, want: 0}}},
		{name: "apply records the batch's last sequence", steps: []step{
			{apply: []uint64{1, 2, 3}, want: 3},
			{apply: []uint64{4}, want: 4},
		}},
		{name: "an empty batch (skipped messages) records its last sequence", steps: []step{
			{apply: []uint64{1, 2}, want: 2},
			{lastSeq: 5, want: 5},
		}},
		{name: "a replay of applied events leaves the sequence", steps: []step{
			{apply: []uint64{1, 2, 3}, want: 3},
			{apply: []uint64{4, 5, 6}, want: 6},
			{apply: []uint64{1, 2, 3}, want: 6},
			{apply: []uint64{4, 5, 6}, want: 6},
		}},
		{name: "reset moves the sequence back and apply raises it again", steps: []step{
			{apply: []uint64{8, 9, 10}, want: 10},
			{apply: []uint64{8, 9, 10}, want: 10}, // changes nothing: a store may keep the sequence in memory
			{reset: reset(2), stream: first, want: 2},
			{apply: []uint64{3}, want: 3},
			{apply: []uint64{8, 9}, want: 9},
			{reset: reset(0), stream: second, want: 0},
		}},
		{name: "reset records the stream with the sequence and apply leaves it", steps: []step{
			{reset: reset(0), stream: first, want: 0},
			{apply: []uint64{1, 2, 3}, want: 3},
			{lastSeq: 4, want: 4},
			{reset: reset(4), stream: second, want: 4}, // the sequence as it is: the stream alone changes
			{apply: []uint64{5}, want: 5},
		}},
		{name: "the sequence survives a restart", steps: []step{
			{apply: []uint64{1, 2, 3, 4, 5, 6, 7}, want: 7},
			{restart: true, want: 7},
		}},
		{name: "a reset survives a restart", steps: []step{
			{apply: []uint64{8, 9, 10}, want: 10},
			{apply: []uint64{8, 9, 10}, want: 10},
			{reset: reset(4), stream: first, want: 4},
			{restart: true, want: 4},
			{apply: []uint64{5, 6}, want: 6},
			{restart: true, want: 6},
		}},
		{name: "the recorded stream survives a restart", steps: []step{
			{reset: reset(0), stream: first, want: 0},
			{apply: []uint64{1, 2, 3}, want: 3},
			{restart: true, want: 3},
			{apply: []uint64{1, 2, 3}, want: 3},
			{apply: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, want: 10},
			{reset: reset(0), stream: second, want: 0},
			{restart: true, want: 0},
			{apply: []uint64{1, 2}, want: 2},
			{restart: true, want: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, closeA := open(t, dir)
			defer func() { closeA() }()
			var stream events.StreamIdentity // given to the last ResetApplied
			for i, s := range tc.steps {
				var err error
				switch {
				case s.restart:
					closeA()
					a, closeA = open(t, dir)
				case s.reset != nil:
					err = a.ResetApplied(*s.reset, s.stream)
					stream = s.stream
				case len(s.apply) > 0:
					err = a.Apply(t.Context(), conformanceBatch(s.apply), s.apply[len(s.apply)-1])
				default:
					err = a.Apply(t.Context(), nil, s.lastSeq)
				}
				if err != nil {
					t.Fatalf("step %d, %s: %v", i, describe(s), err)
				}
				if got, err := a.LastApplied(); err != nil || got != s.want {
					t.Fatalf("step %d, %s: LastApplied() = %d, %v; want %d", i, describe(s), got, err, s.want)
				}
				if got, err := a.AppliedStream(); err != nil || got != stream {
					t.Fatalf("step %d, %s: AppliedStream() = %s, %v; want %s", i, describe(s), got, err, stream)
				}
			}
		})
	}
}

// conformanceBatch returns a batch of valid events at the given sequences:
// blacklistings, and a user revocation at every fifth.
func conformanceBatch(seqs []uint64) []events.Delivered {
	now := time.Now().UTC().Truncate(time.Second)
	batch := make([]events.Delivered, 0, len(seqs))
	for _, seq := range seqs {
		ev := events.Event{V: 1, ID: fmt.Sprintf("conformance-%d", seq), Kind: events.KindBlacklist, Origin: "conformance",
			Region: events.DefaultRegion, Time: now,
			Token: &events.Token{JTI: fmt.Sprintf("jti-%d", seq), User: "u1", Type: "refresh",
				IssuedAt: now.Add(-time.Minute).Unix(), ExpiresAt: now.Add(24 * time.Hour).Unix()}}
		if seq%5 == 0 {
			ev.Kind, ev.Token, ev.User, ev.NotBefore = events.KindRevokeUser, nil, fmt.Sprint("user-", seq), now.Add(-time.Minute).Unix()
		}
		batch = append(batch, events.Delivered{Seq: seq, Event: ev, Subject: "blnode.ev.default." + string(ev.Kind)})
	}
	return batch
}

// TestOutbox checks the contract written on events.Outbox (and on the
// optional OutboxCounter, OutboxSeeker and OutboxSyncer the implementation
// has) against the implementation open makes: run it for every Outbox, the
// test doubles included.
func TestOutbox(t *testing.T, open NewOutbox) {
	t.Helper()
	ev := func(i int) []byte { return fmt.Appendf(nil, `{"v":1,"id":"ob-%d"}`, i) }

	t.Run("empty", func(t *testing.T) {
		ob, _, closeOb := open(t, t.TempDir())
		defer closeOb()
		checkOutbox(t, ob, nil)
	})

	t.Run("entries oldest first, events in write order", func(t *testing.T) {
		ob, add, closeOb := open(t, t.TempDir())
		defer closeOb()
		writes := [][][]byte{{ev(1)}, {ev(2), ev(3)}, {ev(4)}}
		for _, w := range writes {
			if err := add(w...); err != nil {
				t.Fatalf("add: %v", err)
			}
		}
		checkOutbox(t, ob, [][]byte{ev(1), ev(2), ev(3), ev(4)})
		first, err := ob.Pending(t.Context(), 1)
		if err != nil || len(first) != 1 || !bytes.Equal(first[0].Events[0], ev(1)) {
			t.Fatalf("Pending(1) = %s, %v: want the oldest entry alone", entriesText(first), err)
		}
	})

	t.Run("remove", func(t *testing.T) {
		ob, add, closeOb := open(t, t.TempDir())
		defer closeOb()
		for i := range 4 {
			if err := add(ev(i)); err != nil {
				t.Fatalf("add: %v", err)
			}
		}
		all := pending(t, ob)
		last := all[len(all)-1].Seq
		// The second entry, an unknown key, and the second again.
		for _, seqs := range [][]uint64{{all[1].Seq, last + 1000}, {all[1].Seq}} {
			if err := ob.Remove(t.Context(), seqs); err != nil {
				t.Fatalf("Remove(%v): %v", seqs, err)
			}
		}
		var want [][]byte
		for i, e := range all {
			if i != 1 {
				want = append(want, e.Events...)
			}
		}
		checkOutbox(t, ob, want)
	})

	t.Run("a restart keeps what was not removed and never reuses a key", func(t *testing.T) {
		dir := t.TempDir()
		ob, add, closeOb := open(t, dir)
		for i := range 3 {
			if err := add(ev(i)); err != nil {
				t.Fatalf("add: %v", err)
			}
		}
		all := pending(t, ob)
		if err := ob.Remove(t.Context(), []uint64{all[1].Seq, all[2].Seq}); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if s, ok := ob.(events.OutboxSyncer); ok {
			if err := s.Sync(t.Context()); err != nil {
				t.Fatalf("Sync: %v", err)
			}
		}
		closeOb()
		ob, add, closeOb = open(t, dir)
		defer closeOb()
		checkOutbox(t, ob, all[0].Events)
		if err := add(ev(9)); err != nil {
			t.Fatalf("add after the restart: %v", err)
		}
		got := pending(t, ob)
		checkOutbox(t, ob, append(append([][]byte(nil), all[0].Events...), ev(9)))
		if newest := got[len(got)-1].Seq; newest <= all[2].Seq {
			t.Fatalf("an entry written after the restart has key %d, not above %d (written, removed, before it)", newest, all[2].Seq)
		}
	})
}

// pending returns every entry of ob.
func pending(t *testing.T, ob events.Outbox) []events.OutboxEntry {
	t.Helper()
	es, err := ob.Pending(t.Context(), 1<<20)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return es
}

// checkOutbox checks that ob's entries hold want, in order, under rising
// keys, and that what the optional interfaces say agrees.
func checkOutbox(t *testing.T, ob events.Outbox, want [][]byte) {
	t.Helper()
	es := pending(t, ob)
	var got [][]byte
	for i, e := range es {
		if len(e.Events) == 0 {
			t.Errorf("entry %d (key %d) holds no events", i, e.Seq)
		}
		if i > 0 && e.Seq <= es[i-1].Seq {
			t.Errorf("entry %d has key %d after key %d: want rising keys", i, e.Seq, es[i-1].Seq)
		}
		got = append(got, e.Events...)
	}
	if !equalEvents(got, want) {
		t.Fatalf("pending events %q, want %q (entries %s)", got, want, entriesText(es))
	}
	if c, ok := ob.(events.OutboxCounter); ok {
		if n, err := c.Count(t.Context()); err != nil || n != len(want) {
			t.Errorf("Count() = %d, %v; want %d (the events pending)", n, err, len(want))
		}
	}
	if sk, ok := ob.(events.OutboxSeeker); ok {
		for i := 0; i <= len(es); i++ {
			after := uint64(0)
			if i > 0 {
				after = es[i-1].Seq
			}
			rest, err := sk.PendingAfter(t.Context(), after, 1<<20)
			if err != nil {
				t.Fatalf("PendingAfter(%d): %v", after, err)
			}
			if entriesText(rest) != entriesText(es[i:]) {
				t.Errorf("PendingAfter(%d) = %s, want %s", after, entriesText(rest), entriesText(es[i:]))
			}
		}
	}
	if s, ok := ob.(events.OutboxSyncer); ok {
		if err := s.Sync(t.Context()); err != nil {
			t.Errorf("Sync: %v", err)
		}
	}
}

func equalEvents(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func entriesText(es []events.OutboxEntry) string {
	var b bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&b, "[%d: %q]", e.Seq, e.Events)
	}
	return b.String()
}
