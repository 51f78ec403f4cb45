package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/persist"
)

// The admin actions: form POSTs that reach here have passed the session,
// same-origin, CSRF and writer-role checks in adminUI.route. Each answers
// with a redirect to a page that shows the outcome (POST, redirect, GET),
// except flush, which shows its counts at once.

// blacklist blacklists a registered token by jti, keeping what the store
// knows of it (user, type, expiry) and adding the operator's reason.
func (a *adminUI) blacklist(w http.ResponseWriter, r *http.Request, s adminSession) {
	jti, reason := r.PostForm.Get("jti"), strings.TrimSpace(r.PostForm.Get("reason"))
	switch {
	case !validJTI(jti):
		a.fail(w, r, s, http.StatusBadRequest, "Bad token id", fmt.Sprintf("A token id (jti) is 1 to %d bytes.", persist.MaxJTILen))
		return
	case len(reason) > maxReasonLen:
		a.fail(w, r, s, http.StatusBadRequest, "Reason too long", fmt.Sprintf("A reason is at most %d bytes.", maxReasonLen))
		return
	}
	rec, err := a.core.Lookup(r.Context(), jti)
	switch {
	case errors.Is(err, persist.ErrNotFound):
		a.fail(w, r, s, http.StatusNotFound, "Token not found",
			"No token with this id is registered on this node. To blacklist a token id the node has never seen, use POST /v1/blacklist with its jti and exp.")
		return
	case err != nil:
		a.unavailable(w, r, s, err)
		return
	}
	rec.Reason, rec.BlacklistedAt = reason, 0
	res, err := a.core.Blacklist(r.Context(), rec)
	if err != nil {
		a.actionFailed(w, r, s, err, "Cannot blacklist", "The stored record of this token cannot be blacklisted: "+
			strings.TrimPrefix(err.Error(), nodeapi.ErrInvalidInput.Error()+": "))
		return
	}
	msg := "already_blacklisted"
	if !res.Existed {
		msg = "blacklisted"
		a.log.InfoContext(r.Context(), "blacklisted", "jti", rec.JTI, "user", rec.User, "reason", reason, "via", "admin", "actor", s.name)
	}
	http.Redirect(w, r, "/admin/tokens/"+url.PathEscape(jti)+"?msg="+msg, http.StatusSeeOther)
}

// revokeUser logs a user out everywhere: every token issued to them before
// now is rejected on every node.
func (a *adminUI) revokeUser(w http.ResponseWriter, r *http.Request, s adminSession) {
	user := r.PostForm.Get("user")
	if user == "" || len(user) > maxUserLen || strings.IndexByte(user, 0) >= 0 {
		a.fail(w, r, s, http.StatusBadRequest, "Bad user id", fmt.Sprintf("A user id is 1 to %d bytes, without NUL.", maxUserLen))
		return
	}
	res, err := a.core.RevokeUser(r.Context(), user, time.Time{})
	if err != nil {
		a.actionFailed(w, r, s, err, "Bad user id", "This user id cannot be revoked.")
		return
	}
	msg := "already_revoked"
	if !res.Existed {
		msg = "revoked"
		a.log.InfoContext(r.Context(), "user revoked", "user", user, "via", "admin", "actor", s.name)
	}
	http.Redirect(w, r, "/admin/tokens?"+url.Values{"user": {user}, "msg": {msg}}.Encode(), http.StatusSeeOther)
}

// flush runs flushexpiredtokens on every node and shows what it removed
// here.
func (a *adminUI) flush(w http.ResponseWriter, r *http.Request, s adminSession) {
	res, err := a.core.Flush(r.Context())
	if err != nil {
		a.actionFailed(w, r, s, err, "Cannot flush", "The flush was refused.")
		return
	}
	a.log.InfoContext(r.Context(), "flush run from the admin pages", "removed", res.Removed(), "actor", s.name)
	a.render(w, r, http.StatusOK, "flush", a.data(s, "Flush done", "flush", flushView{Cutoff: viewTime(res.Cutoff), Done: true, Result: res}))
}

// actionFailed answers an action that the node refused: 400 with title and
// detail for invalid input, 403 on a validator, 503 when the store fails.
func (a *adminUI) actionFailed(w http.ResponseWriter, r *http.Request, s adminSession, err error, title, detail string) {
	switch {
	case errors.Is(err, nodeapi.ErrInvalidInput):
		a.fail(w, r, s, http.StatusBadRequest, title, detail)
	case errors.Is(err, nodeapi.ErrReadOnly):
		a.readOnly(w, r, s)
	default:
		a.unavailable(w, r, s, err)
	}
}
