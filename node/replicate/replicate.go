// Package replicate is the one mapping between the store's writes
// (persist.Op, persist.Record, persist.Revocation) and the events that carry
// them to the fleet (events.Event). A full node and `blnode import` announce
// a write with [Event]; every node applies an event with [Op]; snapshots
// carry a blacklisted record's claims as [Token] gives them, and a joining
// node reads them back with [Record].
//
// Op(Event(op)) gives op back, except what an event does not carry: the
// raw token text, a revocation's Expires, and a blacklisted record's
// CreatedAt (a blacklist event has one time, the blacklisting's; the
// token's outstanding event carries its creation).
//
// # Caveats
//
//   - Event sets neither ID nor Region, and Origin only from the record or
//     revocation: the writer sets them (a new events.NewID, its region, its
//     node id when the op names no origin).
//   - A token event's time is the record's: CreatedAt for an outstanding
//     token, BlacklistedAt for a blacklisting, since replicas take their
//     record times from it. A revocation records no time of its own, so the
//     caller gives the event's.
//   - Op bounds nothing: a receiver that does not trust the sender's clock
//     bounds a revocation's not-before itself, and sets its Expires (the
//     longest token lifetime it accepts after that). Flush events map to no
//     op: their cutoff is the receiver's to bound and apply.
package replicate

import (
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/persist"
)

// Token returns the claims of r that events carry.
func Token(r persist.Record) events.Token {
	return events.Token{JTI: r.JTI, User: r.User, Type: r.Type, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt,
		Reason: r.Reason, Family: r.Family, Client: r.ClientID, Session: r.SessionID, Scope: r.Scope}
}

// Record returns a record with the claims of t; times and origin are the
// caller's to set.
func Record(t events.Token) persist.Record {
	return persist.Record{JTI: t.JTI, User: t.User, Type: t.Type, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt,
		Reason: t.Reason, Family: t.Family, ClientID: t.Client, SessionID: t.Session, Scope: t.Scope}
}

// ByOf returns what a revoke_session, revoke_client or revoke_issuer
// event (or snapshot revocation) of kind k revokes, given its session,
// client and issuer fields; ByUser for any other kind.
func ByOf(k events.Kind, session, client, issuer string) (persist.RevokeBy, string) {
	switch k {
	case events.KindRevokeSession:
		return persist.BySession, session
	case events.KindRevokeClient:
		return persist.ByClient, client
	case events.KindRevokeIssuer:
		return persist.ByIssuer, issuer
	}
	return persist.ByUser, ""
}

// KindOf is ByOf the other way: the event kind of a revocation by b
// ("" for ByUser, whose kind depends on its family), and the revocation's
// id set in the matching field of session, client, issuer.
func KindOf(b persist.RevokeBy, id string) (k events.Kind, session, client, issuer string) {
	switch b {
	case persist.BySession:
		return events.KindRevokeSession, id, "", ""
	case persist.ByClient:
		return events.KindRevokeClient, "", id, ""
	case persist.ByIssuer:
		return events.KindRevokeIssuer, "", "", id
	}
	return "", "", "", ""
}

// Event returns the event that announces op: an outstanding or blacklist
// event with the record's claims, timed by its CreatedAt or BlacklistedAt,
// or a revoke_user or revoke_family event at time at. ok is false for an
// op of another kind.
func Event(op persist.Op, at time.Time) (ev events.Event, ok bool) {
	switch op.Kind {
	case persist.OpOutstanding, persist.OpBlacklist:
		r := op.Record
		t := Token(r)
		ev = events.Event{Kind: events.KindOutstanding, Origin: r.Origin, Time: time.Unix(0, r.CreatedAt).UTC(), Token: &t}
		if op.Kind == persist.OpBlacklist {
			ev.Kind, ev.Time = events.KindBlacklist, time.Unix(0, r.BlacklistedAt).UTC()
		}
		return ev, true
	case persist.OpRevoke:
		v := op.Revocation
		ev = events.Event{Kind: events.KindRevokeUser, Origin: v.Origin, Time: at, User: v.User, NotBefore: v.NotBefore}
		switch {
		case v.By == persist.BySession:
			ev.Kind, ev.Session = events.KindRevokeSession, v.ID
		case v.By == persist.ByClient:
			ev.Kind, ev.Client = events.KindRevokeClient, v.ID
		case v.By == persist.ByIssuer:
			ev.Kind, ev.Issuer = events.KindRevokeIssuer, v.ID
		case v.Family != "":
			ev.Kind, ev.Family = events.KindRevokeFamily, v.Family
		}
		return ev, true
	}
	return events.Event{}, false
}

// Op returns the store op that applies ev: the record of an outstanding or
// blacklist event, timed by the event (CreatedAt, and BlacklistedAt for a
// blacklisting), or the revocation of a revoke_user or revoke_family
// event, its Expires left zero. ok is false for a flush event, an unknown
// kind, or a token event without its token.
func Op(ev events.Event) (op persist.Op, ok bool) {
	switch ev.Kind {
	case events.KindOutstanding, events.KindBlacklist:
		if ev.Token == nil {
			return persist.Op{}, false
		}
		at := ev.Time.UnixNano()
		r := Record(*ev.Token)
		r.CreatedAt, r.Origin = at, ev.Origin
		op = persist.Op{Kind: persist.OpOutstanding, Record: r}
		if ev.Kind == events.KindBlacklist {
			op.Kind, op.Record.BlacklistedAt = persist.OpBlacklist, at
		}
		return op, true
	case events.KindRevokeUser, events.KindRevokeFamily:
		return persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{
			User: ev.User, Family: ev.Family, NotBefore: ev.NotBefore, Origin: ev.Origin}}, true
	case events.KindRevokeSession, events.KindRevokeClient, events.KindRevokeIssuer:
		by, id := ByOf(ev.Kind, ev.Session, ev.Client, ev.Issuer)
		return persist.Op{Kind: persist.OpRevoke, Revocation: persist.Revocation{
			By: by, ID: id, NotBefore: ev.NotBefore, Origin: ev.Origin}}, true
	}
	return persist.Op{}, false
}
