package admin

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
)

// RevokerBy is what the revoke page needs of a node besides Core: the
// session, client and issuer revocations. *node.Node provides them; the
// page and its forms are there when the Core is one.
type RevokerBy interface {
	RevokeSession(ctx context.Context, sid string, notBefore time.Time) (nodeapi.RevokeResult, error)
	RevokeClient(ctx context.Context, clientID string, notBefore time.Time) (nodeapi.RevokeResult, error)
	RevokeIssuer(ctx context.Context, issuer string, notBefore time.Time) (nodeapi.RevokeResult, error)
}

// The longest ids the revoke page's forms take, as the store does.
const (
	maxSessionLen = 255
	maxClientLen  = 255
	maxIssuerLen  = 1024
)

// revokeFlashes are the results the revoke page shows after its forms.
var revokeFlashes = map[string]string{
	"session_revoked": "Session revoked: every token of it issued before the time below is rejected on every node.",
	"client_revoked":  "Client revoked: every token of it issued before the time below is rejected on every node.",
	"issuer_revoked":  "Issuer revoked: every token of it issued before the time below is rejected on every node.",
	"all_revoked":     "Every issuer revoked: every token issued before the time below is rejected on every node.",
	"already_revoked": "That was already revoked at this time or later; nothing changed.",
}

// revokeView is the body of the revoke page.
type revokeView struct {
	What, ID  string   // what the last form revoked, for the result line
	NotBefore timeView // its not-before; zero when no result is shown
}

// registerRevokeBy adds the revoke page (GET /admin/revoke) and its forms
// when the Core revokes by session, client and issuer.
func (a *adminUI) registerRevokeBy(mux *http.ServeMux) {
	rb, ok := a.core.(RevokerBy)
	if !ok {
		return
	}
	a.pages["revoke"] = template.Must(template.New("revoke").ParseFS(adminTemplateFS, "templates/layout.html", "templates/revoke.html"))
	mux.HandleFunc(adminPrefix+"revoke", a.route(adminRoute{get: a.revokePage}))
	mux.HandleFunc(adminPrefix+"sessions/revoke", a.route(adminRoute{write: true,
		post: func(w http.ResponseWriter, r *http.Request, s adminSession) {
			a.revokeBy(w, r, s, "session", "sid", maxSessionLen, false, rb.RevokeSession)
		}}))
	mux.HandleFunc(adminPrefix+"clients/revoke", a.route(adminRoute{write: true,
		post: func(w http.ResponseWriter, r *http.Request, s adminSession) {
			a.revokeBy(w, r, s, "client", "client_id", maxClientLen, false, rb.RevokeClient)
		}}))
	mux.HandleFunc(adminPrefix+"issuer/revoke", a.route(adminRoute{write: true,
		post: func(w http.ResponseWriter, r *http.Request, s adminSession) {
			a.revokeBy(w, r, s, "issuer", "issuer", maxIssuerLen, true, rb.RevokeIssuer)
		}}))
}

// revokePage shows the forms, and the result of the last one (?msg=,
// ?what=, ?id=, ?not_before=).
func (a *adminUI) revokePage(w http.ResponseWriter, r *http.Request, s adminSession) {
	q := r.URL.Query()
	d := a.data(s, "Revoke", "revoke", revokeView{})
	if msg, ok := revokeFlashes[q.Get("msg")]; ok {
		nb, _ := strconv.ParseInt(q.Get("not_before"), 10, 64)
		d.Flash = msg
		d.Data = revokeView{What: q.Get("what"), ID: q.Get("id"), NotBefore: viewUnix(nb)}
	}
	a.render(w, r, http.StatusOK, "revoke", d)
}

// revokeBy runs one of the revoke page's forms: the id in field (required
// unless emptyAll, where "" means every issuer and the "all" box must be
// ticked), revoked as of now.
func (a *adminUI) revokeBy(w http.ResponseWriter, r *http.Request, s adminSession, what, field string, maxLen int, emptyAll bool,
	revoke func(context.Context, string, time.Time) (nodeapi.RevokeResult, error)) {
	id := strings.TrimSpace(r.PostForm.Get(field))
	switch {
	case len(id) > maxLen || strings.ContainsFunc(id, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		a.fail(w, r, s, http.StatusBadRequest, "Bad "+what, fmt.Sprintf("A %s is at most %d bytes, without control characters.", what, maxLen))
		return
	case id == "" && !emptyAll:
		a.fail(w, r, s, http.StatusBadRequest, "Bad "+what, fmt.Sprintf("Give the %s to revoke.", what))
		return
	case id == "" && r.PostForm.Get("all") != "yes":
		a.fail(w, r, s, http.StatusBadRequest, "Say which issuer",
			"Give the issuer (iss) to revoke, or tick the box to revoke the tokens of every issuer.")
		return
	}
	res, err := revoke(r.Context(), id, time.Time{})
	if err != nil {
		a.actionFailed(w, r, s, err, "Bad "+what, "This "+what+" cannot be revoked.")
		return
	}
	msg := "already_revoked"
	if !res.Existed {
		msg = what + "_revoked"
		if emptyAll && id == "" {
			msg = "all_revoked"
		}
		a.log.InfoContext(r.Context(), what+" revoked", what, id, "via", "admin")
	}
	http.Redirect(w, r, "/admin/revoke?"+url.Values{"msg": {msg}, "what": {what}, "id": {id},
		"not_before": {strconv.FormatInt(res.NotBefore.Unix(), 10)}}.Encode(), http.StatusSeeOther)
}
