package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/persist"
)

// AuditEntryJSON is an audit log entry as GET /v1/audit shows it.
type AuditEntryJSON struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason,omitempty"`
	Action  string    `json:"action"`
	Subject string    `json:"subject,omitempty"`
	Origin  string    `json:"origin"`
	EventID string    `json:"event_id"`
}

// AuditJSON is the entry's JSON form.
func AuditJSON(a persist.AuditEntry) AuditEntryJSON {
	return AuditEntryJSON{Time: time.Unix(0, a.Time).UTC(), Actor: a.Actor, Reason: a.Reason, Action: a.Action,
		Subject: a.Subject, Origin: a.Origin, EventID: a.EventID}
}

// withActor reads the reason of an admin action (given, else the
// X-Blnode-Reason header) and returns r carrying cred as its actor; it
// answers 400 itself for a bad reason.
func (e *endpoints) withActor(w http.ResponseWriter, r *http.Request, cred nodehttp.Credential, given string) (*http.Request, bool) {
	reason, err := nodehttp.Reason(r, given)
	if err != nil {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", err.Error())
		return r, false
	}
	return nodehttp.WithActor(r, cred, reason), true
}

// audit answers GET /v1/audit?limit=N&before=CURSOR: the admin actions of
// the fleet this node has recorded, newest first (read scope).
func (e *endpoints) audit(w http.ResponseWriter, r *http.Request) {
	if !e.cfg.Guard.RequireRead(w, r) {
		return
	}
	q := r.URL.Query()
	query := persist.AuditQuery{Limit: 50, Before: q.Get("before")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "limit must be an integer from 1 to 1000")
			return
		}
		query.Limit = n
	}
	if len(query.Before) > 512 {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "before is not a cursor this node gave")
		return
	}
	page, err := e.core.Audit(r.Context(), query)
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	out := make([]AuditEntryJSON, len(page.Entries))
	for i, a := range page.Entries {
		out[i] = AuditJSON(a)
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"entries": out, "next_cursor": page.Next})
}
