package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/persist"
)

// The audit log: every admin action (a write whose context carries a
// nodeapi.Actor) is recorded with its actor, reason, action and subject in
// the same store transaction as the write, and its event carries actor and
// reason to the fleet, where every node records the same entry when it
// applies the event (keyed by time and event id, so the writer's own
// event and any replay leave one entry). A write that changes nothing
// (already blacklisted, an earlier revocation) publishes no event and
// leaves no entry.

// AuditQuery selects a page of the audit log (persist.AuditQuery).
type AuditQuery = persist.AuditQuery

// AuditPage is a page of the audit log, newest first.
type AuditPage = persist.AuditPage

// Audit returns a page of this node's audit log, newest first: the admin
// actions of the whole fleet that reached it. A Before that is no page's
// Next is ErrInvalidInput.
func (n *Node) Audit(_ context.Context, q AuditQuery) (AuditPage, error) {
	p, err := n.store.Audit(q)
	switch {
	case errors.Is(err, persist.ErrInvalidRecord):
		return p, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	case err != nil:
		return p, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return p, nil
}

// withActor sets ev's actor and reason from ctx.
func withActor(ctx context.Context, ev *events.Event) {
	if a, ok := nodeapi.ActorFrom(ctx); ok {
		ev.Actor, ev.Reason = a.Name, a.Reason
	}
}

// auditEntry is the audit entry of the admin action ev announces, or nil
// when no admin took it (no actor).
func auditEntry(ev events.Event) *persist.AuditEntry {
	if ev.Actor == "" {
		return nil
	}
	return &persist.AuditEntry{Time: ev.Time.UnixNano(), EventID: ev.ID, Actor: ev.Actor, Reason: ev.Reason,
		Action: string(ev.Kind), Subject: auditSubject(ev), Origin: ev.Origin}
}

// auditSubject is what ev acted on, as the audit log shows it.
func auditSubject(ev events.Event) string {
	switch {
	case ev.Token != nil:
		return ev.Token.JTI
	case ev.Kind == events.KindFlush:
		return "cutoff " + time.Unix(ev.Cutoff, 0).UTC().Format(time.RFC3339)
	case ev.Family != "" && ev.User != "":
		return ev.Family + " (user " + ev.User + ")"
	case ev.Family != "":
		return ev.Family
	case ev.Kind == events.KindRevokeSession:
		return "sid " + ev.Session
	case ev.Kind == events.KindRevokeClient:
		return "client " + ev.Client
	case ev.Kind == events.KindRevokeIssuer && ev.Issuer == "":
		return "every issuer"
	case ev.Kind == events.KindRevokeIssuer:
		return "issuer " + ev.Issuer
	}
	return ev.User
}

// auditOps appends to ops the audit op of a replicated event that carries
// an actor.
func auditOps(ops []persist.Op, ev events.Event) []persist.Op {
	if a := auditEntry(ev); a != nil {
		ops = append(ops, persist.Op{Kind: persist.OpAudit, Audit: a})
	}
	return ops
}

// SetAdminCredentials replaces the named admin credentials the node
// accepts (a reload of --admin-credentials-file); Config.AdminToken stays.
// Sessions of the admin pages stay signed in.
func (n *Node) SetAdminCredentials(creds []nodehttp.Credential) error {
	all, err := nodehttp.MergeCredentials(n.cfg.AdminToken, creds)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.auth.SetCredentials(all)
	return nil
}
