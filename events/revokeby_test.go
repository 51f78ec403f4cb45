package events_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
)

// revokeByEvent returns a valid event of one of the new revocation kinds.
func revokeByEvent(k events.Kind, id string) events.Event {
	e := events.Event{ID: events.NewID(), Kind: k, Origin: "n", Time: time.Unix(1_765_000_000, 0).UTC(), NotBefore: 1_765_000_000}
	switch k {
	case events.KindRevokeSession:
		e.Session = id
	case events.KindRevokeClient:
		e.Client = id
	case events.KindRevokeIssuer:
		e.Issuer = id
	}
	return e
}

func TestRevokeByValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name string
		e    events.Event
		want string // "" for valid
	}{
		{"session", revokeByEvent(events.KindRevokeSession, "sid"), ""},
		{"session 255 bytes", revokeByEvent(events.KindRevokeSession, long(255)), ""},
		{"session missing", revokeByEvent(events.KindRevokeSession, ""), "needs a session"},
		{"session too long", revokeByEvent(events.KindRevokeSession, long(256)), "needs a session"},
		{"client", revokeByEvent(events.KindRevokeClient, "c"), ""},
		{"client missing", revokeByEvent(events.KindRevokeClient, ""), "needs a client"},
		{"client too long", revokeByEvent(events.KindRevokeClient, long(256)), "needs a client"},
		{"issuer", revokeByEvent(events.KindRevokeIssuer, "https://issuer.example/"), ""},
		{"every issuer", revokeByEvent(events.KindRevokeIssuer, ""), ""},
		{"issuer 1024 bytes", revokeByEvent(events.KindRevokeIssuer, long(1024)), ""},
		{"issuer too long", revokeByEvent(events.KindRevokeIssuer, long(1025)), "issuer of at most"},
		{"no not_before", func() events.Event { e := revokeByEvent(events.KindRevokeClient, "c"); e.NotBefore = 0; return e }(), "not_before > 0"},
		{"negative not_before", func() events.Event { e := revokeByEvent(events.KindRevokeIssuer, ""); e.NotBefore = -1; return e }(), "not_before > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				b, err := tc.e.Encode()
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				got, err := events.Decode(b)
				if err != nil {
					t.Fatalf("Decode(%s): %v", b, err)
				}
				want := tc.e
				want.V = events.Version
				if !equalEvents(got, want) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
				}
				return
			}
			if !errors.Is(err, events.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrMalformed saying %q", err, tc.want)
			}
		})
	}
}

// The new kinds are revocations (validators consume them) and are published.
func TestRevokeByKindsAreRevocations(t *testing.T) {
	for _, k := range []events.Kind{events.KindRevokeSession, events.KindRevokeClient, events.KindRevokeIssuer} {
		if !k.Valid() {
			t.Errorf("%s is not Valid", k)
		}
		if !slices.Contains(events.RevocationKinds(), k) {
			t.Errorf("RevocationKinds() lacks %s: validators would never receive it", k)
		}
	}
}

// What a node of an older build does with an event kind it does not know,
// as the new kinds are to it: a node that follows every kind cannot decode
// it, skips it (counted, logged) and applies what follows, without
// stalling; a validator that follows only the kinds it knows (one subject
// filter per kind) is never sent it. Both stay ready. A kind this build
// does not know stands in for the new kinds here.
func TestSubscriberOfOlderBuildSkipsUnknownKinds(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{Region: "x"})
	first := publishKinds(t, p, events.KindBlacklist)

	// What a newer build publishes: a valid event in every other way.
	future := strings.Replace(`{"v":1,"id":"ID","kind":"revoke_future","origin":"n","time":"2026-12-07T00:00:00Z","not_before":1765000000,"tenant":"t"}`,
		"ID", events.NewID(), 1)
	for range 3 {
		if _, err := js.Publish(t.Context(), "blnode.ev.x.revoke_future", []byte(future)); err != nil {
			t.Fatal(err)
		}
	}
	// And the new kinds of this build, which an older validator's filters
	// do not name.
	for _, k := range []events.Kind{events.KindRevokeSession, events.KindRevokeClient, events.KindRevokeIssuer} {
		if _, err := p.Publish(t.Context(), revokeByEvent(k, "id")); err != nil {
			t.Fatal(err)
		}
	}
	last := publishKinds(t, p, events.KindRevokeUser)

	t.Run("every kind", func(t *testing.T) {
		a := newApplier(0)
		sub := newSubscriber(t, js, a, events.SubscriberConfig{})
		runSubscriber(t, sub)
		waitApplied(t, a, last)
		st := waitCaughtUp(t, sub, last)
		if st.Skipped != 3 {
			t.Fatalf("skipped %d events, want the 3 of the unknown kind", st.Skipped)
		}
		if got := appliedKinds(a); got[events.KindBlacklist] != 1 || got[events.KindRevokeUser] != 1 {
			t.Fatalf("applied %v, want the blacklist before and the revoke_user after the unknown kind", got)
		}
	})
	t.Run("the kinds an older validator knows", func(t *testing.T) {
		older := []events.Kind{events.KindBlacklist, events.KindFlush, events.KindRevokeUser, events.KindRevokeFamily}
		a := newApplier(0)
		sub := newSubscriber(t, js, a, events.SubscriberConfig{Kinds: older, StreamInfoInterval: 100 * time.Millisecond})
		runSubscriber(t, sub)
		waitApplied(t, a, last)
		st := waitCaughtUp(t, sub, last)
		if st.Skipped != 0 || st.Applied != 2 {
			t.Fatalf("status %+v: want 2 applied (seq %d and %d), none skipped: the new kinds are never sent", st, first, last)
		}
	})
}

// A snapshot without session, client or issuer revocations is written as
// version 1, which older builds read; one with them as version 2, which
// carries them through a round trip.
func TestSnapshotVersions(t *testing.T) {
	h, toks, revs, b := sampleSnapshot()
	if v := b[len("BLNSNAP")]; v != 1 {
		t.Fatalf("snapshot of user and family revocations is version %d, want 1", v)
	}
	revs = append(revs,
		events.SnapshotRevocation{Kind: events.KindRevokeSession, Session: "sid", NotBefore: 8, Expires: 9, Origin: "n3"},
		events.SnapshotRevocation{Kind: events.KindRevokeClient, Client: "cl", NotBefore: 8},
		events.SnapshotRevocation{Kind: events.KindRevokeIssuer, Issuer: "https://i/", NotBefore: 8},
		events.SnapshotRevocation{Kind: events.KindRevokeIssuer, NotBefore: 10},
		events.SnapshotRevocation{User: "after", NotBefore: 11})
	h.Revocations = uint64(len(revs))
	b = encodeSnapshot(h, toks, revs)
	if v := b[len("BLNSNAP")]; v != 2 {
		t.Fatalf("snapshot with scoped revocations is version %d, want 2", v)
	}
	h2, toks2, revs2, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if h2 != h || len(toks2) != len(toks) || !slices.Equal(revs2, revs) {
		t.Fatalf("read %+v %+v, want %+v %+v", h2, revs2, h, revs)
	}
}

// scopedSnapshot is a version 2 snapshot: a fuzz seed.
func scopedSnapshot() []byte {
	h, toks, revs, _ := sampleSnapshot()
	revs = append(revs, events.SnapshotRevocation{Kind: events.KindRevokeSession, Session: "sid", NotBefore: 8},
		events.SnapshotRevocation{Kind: events.KindRevokeIssuer, NotBefore: 9})
	toks = append(toks, events.SnapshotToken{Token: events.Token{JTI: "o", ExpiresAt: 9, Client: "c", Scope: "s"}, BlacklistedAt: 1})
	h.Tokens, h.DigestCount, h.Revocations = uint64(len(toks)), uint64(len(toks)), uint64(len(revs))
	return encodeSnapshot(h, toks, revs)
}

// A token's client, session and scope make a snapshot version 2 too,
// whenever the token comes: the tokens written before it read back whole.
func TestSnapshotTokenOAuthFields(t *testing.T) {
	h, toks, revs, _ := sampleSnapshot()
	toks = append(toks, events.SnapshotToken{Token: events.Token{JTI: "o", ExpiresAt: 9, Client: "app", Session: "s", Scope: "a b"},
		BlacklistedAt: 5})
	toks = append(toks, events.SnapshotToken{Token: events.Token{JTI: "after", ExpiresAt: 9}, BlacklistedAt: 6})
	h.Tokens, h.DigestCount = uint64(len(toks)), uint64(len(toks))
	for name, b := range map[string][]byte{
		"tokens first": encodeSnapshot(h, toks, revs),
		"revocations first": func() []byte {
			var w events.SnapshotWriter
			for _, r := range revs {
				w.AddRevocation(r)
			}
			for _, t := range toks {
				w.AddToken(t)
			}
			return w.Bytes(h)
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			if v := b[len("BLNSNAP")]; v != 2 {
				t.Fatalf("version %d, want 2", v)
			}
			h2, toks2, revs2, err := readAll(b)
			if err != nil {
				t.Fatal(err)
			}
			if h2 != h || !slices.Equal(toks2, toks) || !slices.Equal(revs2, revs) {
				t.Fatalf("read %+v %+v %+v, want %+v %+v %+v", h2, toks2, revs2, h, toks, revs)
			}
		})
	}
}
