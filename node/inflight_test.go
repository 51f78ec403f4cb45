package node

import (
	"testing"
	"time"

	"github.com/blnode/blnode/events"
)

// A blacklisting previewed on arrival is in force before its batch
// commits, stays in force after it, and leaves nothing in flight.
func TestPreviewedBlacklistingIsInForceBeforeCommit(t *testing.T) {
	n := newTestNode(t, time.Time{})
	a := &applier{n: n}
	ev := events.Event{V: 1, ID: events.NewID(), Kind: events.KindBlacklist, Origin: "other", Time: time.Unix(1_800_000_000, 0),
		Token: &events.Token{JTI: "j-preview", User: "u1", Type: "refresh", ExpiresAt: 2_000_000_000}}
	out := events.Event{V: 1, ID: events.NewID(), Kind: events.KindOutstanding, Origin: "other", Time: time.Unix(1_800_000_000, 0),
		Token: &events.Token{JTI: "j-outstanding", User: "u1", Type: "refresh", ExpiresAt: 2_000_000_000}}
	// A checker caches the negative answer before the event arrives.
	if b, err := n.Check("j-preview"); err != nil || b {
		t.Fatalf("Check before the event = %v, %v", b, err)
	}
	if !a.Preview(ev) {
		t.Fatal("Preview of a blacklisting = false, want in force")
	}
	if !a.Preview(out) { // an outstanding registration changes no answer
		t.Fatal("Preview of an outstanding registration = false, want true (it changes no answer)")
	}
	user := events.Event{V: 1, ID: events.NewID(), Kind: events.KindRevokeUser, Origin: "other", Time: time.Unix(1_800_000_000, 0), User: "u1", NotBefore: 1_800_000_000}
	if a.Preview(user) {
		t.Fatal("Preview of a user's revocation = true; it is in force once committed, so its batch must not wait")
	}
	if b, err := n.Check("j-preview"); err != nil || !b {
		t.Fatalf("Check after Preview = %v, %v; want blacklisted at once", b, err)
	}
	if b, _ := n.Check("j-outstanding"); b {
		t.Fatal("an outstanding token answers blacklisted")
	}
	if _, err := n.store.Lookup("j-preview"); err == nil {
		t.Fatal("the record is stored before Apply; the test proves nothing")
	}
	if err := a.Apply(t.Context(), []events.Delivered{{Seq: 1, Event: ev, Previewed: true}, {Seq: 2, Event: out, Previewed: true}}, 2); err != nil {
		t.Fatal(err)
	}
	if n.inflight.n.Load() != 0 {
		t.Fatalf("%d jtis left in flight after the commit", n.inflight.n.Load())
	}
	if b, err := n.Check("j-preview"); err != nil || !b {
		t.Fatalf("Check after the commit = %v, %v", b, err)
	}
	if rec, err := n.store.Lookup("j-preview"); err != nil || !rec.Blacklisted() {
		t.Fatalf("stored %+v, %v", rec, err)
	}
}
