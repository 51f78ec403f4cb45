package node

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// newTestNode opens a node without NATS whose clock reads now (the real
// clock when now is zero).
func newTestNode(t *testing.T, now time.Time) *Node {
	t.Helper()
	clock := time.Now
	if !now.IsZero() {
		clock = func() time.Time { return now }
	}
	n, err := New(Config{DataDir: t.TempDir(), Token: token.Config{HSSecret: []byte("k")}, NATS: NATSConfig{Disabled: true}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestApplyTwiceAndReorderedGivesSameState delivers a stream of events in
// order to one node, and shuffled, duplicated and in other batch sizes to
// others: every node ends in the same state.
func TestApplyTwiceAndReorderedGivesSameState(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	var evs []events.Delivered
	for i := range 60 {
		kind := events.KindOutstanding
		if i%3 != 0 {
			kind = events.KindBlacklist
		}
		ev := events.Event{V: 1, ID: events.NewID(), Kind: kind, Origin: fmt.Sprint("n", i%4), Time: base.Add(time.Duration(i) * time.Second),
			Token: &events.Token{JTI: fmt.Sprint("j", i%20), User: fmt.Sprint("u", i%5), Type: "refresh", ExpiresAt: 2_000_000_000 + int64(i%20), Reason: fmt.Sprint("r", i)}}
		evs = append(evs, events.Delivered{Seq: uint64(i + 1), Event: ev})
	}
	evs = append(evs,
		events.Delivered{Seq: 61, Event: events.Event{V: 1, ID: "f", Kind: events.KindFlush, Origin: "n1", Time: base, Cutoff: 2_000_000_005}},
		events.Delivered{Seq: 62, Event: events.Event{V: 1, ID: "u", Kind: events.KindRevokeUser, Origin: "n1", Time: base, User: "u1", NotBefore: 1_900_000_000}})

	state := func(n *Node) string {
		p, err := n.store.List(persist.Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := n.store.Counts()
		u, _, _ := n.store.UserNotBefore("u1")
		return fmt.Sprintf("%+v|%d %d %d|%+v", p.Records, c.Outstanding, c.Blacklisted, c.UserRevocations, u)
	}
	apply := func(n *Node, evs []events.Delivered, batch int) {
		for i := 0; i < len(evs); i += batch {
			b := evs[i:min(i+batch, len(evs))]
			if err := (&applier{n: n}).Apply(t.Context(), b, b[len(b)-1].Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The nodes' clock is past the events (a receiver bounds a flush's
	// cutoff and a not-before by its own clock).
	now := time.Unix(2_000_001_000, 0)
	ref := newTestNode(t, now)
	apply(ref, evs, len(evs))
	want := state(ref)

	rng := rand.New(rand.NewPCG(9, 9))
	for trial := range 4 {
		shuffled := append([]events.Delivered(nil), evs...)
		shuffled = append(shuffled, evs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		// The flush matters relative to what it removes: deliver it last, as
		// the stream does to every node, after the events it follows.
		n := newTestNode(t, now)
		apply(n, append(withoutFlush(shuffled), evs[60]), 1+trial*7)
		if got := state(n); got != want {
			t.Fatalf("trial %d:\n got %s\nwant %s", trial, got, want)
		}
	}
	if b, _ := ref.Check("j3"); b {
		t.Error("flushed j3 still blacklisted")
	}
	if b, _ := ref.Check("j19"); !b {
		t.Error("j19 lost")
	}
}

func withoutFlush(evs []events.Delivered) []events.Delivered {
	var out []events.Delivered
	for _, d := range evs {
		if d.Event.Kind != events.KindFlush {
			out = append(out, d)
		}
	}
	return out
}

// A not-before far ahead is bounded at the time the stream stored the event
// (or the node's now, if earlier): a replica that replays the event later
// (a new validator, a rebuild) bounds it as the live nodes did, instead of
// locking the user out of every token issued in between.
func TestNotBeforeBoundIsTheSameInALaterReplay(t *testing.T) {
	stored := time.Unix(1_900_000_000, 0)
	ev := events.Event{V: 1, ID: "r", Kind: events.KindRevokeUser, Origin: "n1", Time: stored, User: "u1",
		NotBefore: stored.AddDate(1, 0, 0).Unix()}
	for _, tc := range []struct {
		name   string
		now    time.Time
		stored time.Time
		want   time.Time
	}{
		{name: "live", now: stored.Add(time.Second), stored: stored, want: stored},
		{name: "replayed a day later", now: stored.Add(24 * time.Hour), stored: stored, want: stored},
		{name: "stored time unknown", now: stored.Add(24 * time.Hour), want: stored.Add(24 * time.Hour)},
		{name: "server clock ahead of the node's", now: stored.Add(-time.Hour), stored: stored, want: stored.Add(-time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNode(t, tc.now)
			d := events.Delivered{Seq: 1, Event: ev, Stored: tc.stored}
			if err := (&applier{n: n}).Apply(t.Context(), []events.Delivered{d}, 1); err != nil {
				t.Fatal(err)
			}
			r, ok, err := n.store.UserNotBefore("u1")
			if err != nil || !ok || r.NotBefore != tc.want.Unix() {
				t.Fatalf("not-before %v (%v, %v), want %v", time.Unix(r.NotBefore, 0).UTC(), ok, err, tc.want.UTC())
			}
		})
	}
}
