package replicate_test

import (
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/replicate"
	"github.com/blnode/blnode/persist"
)

// Every op a node writes comes back from its event, through the wire form,
// as the op a replica applies.
func TestOpOfEventGivesTheOpBack(t *testing.T) {
	created := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	revoked := created.Add(time.Minute)
	rec := persist.Record{JTI: "j1", User: "42", Type: "refresh", IssuedAt: created.Unix(), ExpiresAt: created.Add(time.Hour).Unix(),
		CreatedAt: created.UnixNano(), Origin: "n1", Family: "f1"}
	black := rec
	black.CreatedAt, black.BlacklistedAt, black.Reason = revoked.UnixNano(), revoked.UnixNano(), "stolen"
	for _, c := range []struct {
		name string
		op   persist.Op
		kind events.Kind
		at   time.Time
	}{
		{"outstanding", persist.Op{Kind: persist.OpOutstanding, Record: rec}, events.KindOutstanding, created},
		{"blacklist", persist.Op{Kind: persist.OpBlacklist, Record: black}, events.KindBlacklist, revoked},
		{"revoke user", persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{User: "42", NotBefore: created.Unix(), Origin: "n1"}},
			events.KindRevokeUser, revoked},
		{"revoke family", persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{User: "42", Family: "f1", NotBefore: created.Unix(), Origin: "n1"}},
			events.KindRevokeFamily, revoked},
		{"revoke session", persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{By: persist.BySession, ID: "sid", NotBefore: created.Unix(), Origin: "n1"}},
			events.KindRevokeSession, revoked},
		{"revoke client", persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{By: persist.ByClient, ID: "42", NotBefore: created.Unix(), Origin: "n1"}},
			events.KindRevokeClient, revoked},
		{"revoke issuer", persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{By: persist.ByIssuer, ID: "https://i/", NotBefore: created.Unix(), Origin: "n1"}},
			events.KindRevokeIssuer, revoked},
		{"revoke every issuer", persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{By: persist.ByIssuer, NotBefore: created.Unix(), Origin: "n1"}},
			events.KindRevokeIssuer, revoked},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev, ok := replicate.Event(c.op, revoked)
			if !ok {
				t.Fatal("no event")
			}
			if ev.Kind != c.kind || !ev.Time.Equal(c.at) || ev.Origin != "n1" {
				t.Fatalf("event %s at %v from %q, want %s at %v from n1", ev.Kind, ev.Time, ev.Origin, c.kind, c.at)
			}
			ev.ID, ev.Region = events.NewID(), "eu"
			data, err := ev.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			op, ok := replicate.Op(got)
			if !ok {
				t.Fatalf("no op for %s", got.Kind)
			}
			if op != c.op {
				t.Fatalf("op\n %+v\nwant\n %+v", op, c.op)
			}
		})
	}
}

func TestOnlyWritesMap(t *testing.T) {
	if _, ok := replicate.Op(events.Event{Kind: events.KindFlush, Cutoff: 5}); ok {
		t.Error("a flush event gave an op")
	}
	if _, ok := replicate.Op(events.Event{Kind: events.KindBlacklist}); ok {
		t.Error("a blacklist event without its token gave an op")
	}
	if _, ok := replicate.Event(persist.Op{Kind: persist.OpKind(99)}, time.Now()); ok {
		t.Error("an op of no known kind gave an event")
	}
}
