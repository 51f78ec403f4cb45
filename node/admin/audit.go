package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/persist"
)

// Who did it: each session belongs to the admin credential that signed in
// (its name is the actor of the session's actions); a read credential
// sees every page but no action form, and its POSTs to actions are
// refused; each action's form may give a reason (the form field "reason",
// else the X-Blnode-Reason header), which travels with the action's event
// into every node's audit log, listed by the audit page.

// scopeOf is the scope of the session's credential as the guard has it
// now; zero when the guard no longer accepts it.
func (a *adminUI) scopeOf(s adminSession) nodehttp.Scope {
	if s.name == "" {
		return 0
	}
	c, ok := a.cfg.Guard.Lookup(s.name)
	if !ok {
		return 0
	}
	return c.Scope
}

// endSession forgets r's session.
func (a *adminUI) endSession(r *http.Request) {
	if c, err := r.Cookie(adminCookie); err == nil {
		a.sessions.remove(c.Value)
	}
}

// actor checks that the session may act (write scope) and returns r
// carrying it as the actor with the form's reason; otherwise it answers
// 403 (a read credential) or 400 (a bad reason) and returns false.
func (a *adminUI) actor(w http.ResponseWriter, r *http.Request, s adminSession) (*http.Request, bool) {
	if !s.scope.Allows(nodehttp.ScopeWrite) {
		a.fail(w, r, s, http.StatusForbidden, "Read-only credential",
			"You are signed in as "+s.name+", a credential with read scope: it may look but not blacklist, revoke or flush. Sign in with a write credential.")
		return r, false
	}
	reason, err := nodehttp.Reason(r, strings.TrimSpace(r.PostForm.Get("reason")))
	if err != nil {
		a.fail(w, r, s, http.StatusBadRequest, "Bad reason", "The reason cannot be recorded: "+err.Error()+".")
		return r, false
	}
	return r.WithContext(nodeapi.WithActor(r.Context(), nodeapi.Actor{Name: s.name, Reason: reason})), true
}

// auditRow is one audit entry as the page shows it.
type auditRow struct {
	Time    timeView
	Actor   string
	Reason  string
	Action  string
	Subject string
	Origin  string
	EventID string
}

// auditView is the body of the audit page.
type auditView struct {
	Rows  []auditRow
	Next  string // the next (older) page's URL; "" on the last
	First bool   // the newest page
}

// auditPage lists the audit log, newest first, a page at a time.
func (a *adminUI) auditPage(w http.ResponseWriter, r *http.Request, s adminSession) {
	q := r.URL.Query()
	query := persist.AuditQuery{Limit: adminPageSize, Before: q.Get("before")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > adminMaxLimit {
			a.fail(w, r, s, http.StatusBadRequest, "Bad page size", "limit is a number from 1 to "+strconv.Itoa(adminMaxLimit)+".")
			return
		}
		query.Limit = n
	}
	if len(query.Before) > 512 {
		a.fail(w, r, s, http.StatusBadRequest, "Bad page", "This is not a page of the audit log. Start again from its first page.")
		return
	}
	page, err := a.core.Audit(r.Context(), query)
	switch {
	case errors.Is(err, nodeapi.ErrInvalidInput):
		a.fail(w, r, s, http.StatusBadRequest, "Bad page", "This is not a page of the audit log. Start again from its first page.")
		return
	case err != nil:
		a.unavailable(w, r, s, err)
		return
	}
	v := auditView{First: query.Before == ""}
	for _, e := range page.Entries {
		v.Rows = append(v.Rows, auditRow{Time: viewNanos(e.Time), Actor: e.Actor, Reason: e.Reason, Action: e.Action,
			Subject: e.Subject, Origin: e.Origin, EventID: e.EventID})
	}
	if page.Next != "" {
		next := url.Values{"before": {page.Next}}
		if query.Limit != adminPageSize {
			next.Set("limit", strconv.Itoa(query.Limit))
		}
		v.Next = "/admin/audit?" + next.Encode()
	}
	a.render(w, r, http.StatusOK, "audit", a.data(s, "Audit log", "audit", v))
}
