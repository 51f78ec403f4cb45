package api

import (
	"context"
	"net/http"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
)

// RevokerBy is what the session, client and issuer revocation routes need
// of the core; *node.Node provides it. Register adds those routes when
// its Core is one.
type RevokerBy interface {
	RevokeSession(ctx context.Context, sid string, notBefore time.Time) (nodeapi.RevokeResult, error)
	RevokeClient(ctx context.Context, clientID string, notBefore time.Time) (nodeapi.RevokeResult, error)
	RevokeIssuer(ctx context.Context, issuer string, notBefore time.Time) (nodeapi.RevokeResult, error)
}

// registerRevokeBy adds POST /v1/sessions/{sid}/revoke,
// /v1/clients/{client_id}/revoke and /v1/issuer/revoke when core revokes
// by session, client and issuer.
func registerRevokeBy(mux *http.ServeMux, e *endpoints, post func(http.HandlerFunc) http.HandlerFunc) {
	rb, ok := e.core.(RevokerBy)
	if !ok {
		return
	}
	mux.HandleFunc("/v1/sessions/{sid}/revoke", post(func(w http.ResponseWriter, r *http.Request) {
		e.revokeBy(w, r, "sid", r.PathValue("sid"), false, rb.RevokeSession)
	}))
	mux.HandleFunc("/v1/clients/{client_id}/revoke", post(func(w http.ResponseWriter, r *http.Request) {
		e.revokeBy(w, r, "client_id", r.PathValue("client_id"), false, rb.RevokeClient)
	}))
	mux.HandleFunc("/v1/issuer/revoke", post(func(w http.ResponseWriter, r *http.Request) {
		e.revokeBy(w, r, "issuer", "", true, rb.RevokeIssuer)
	}))
}

// RevokeByRequest is the body of the session, client and issuer revocation
// routes: optional for the first two, required with Issuer for
// /v1/issuer/revoke (Issuer "" revokes the tokens of every issuer, so it
// must be said).
type RevokeByRequest struct {
	NotBefore int64   `json:"not_before,omitempty"` // Unix seconds; default now
	Issuer    *string `json:"issuer,omitempty"`     // /v1/issuer/revoke only
}

// revokeBy answers a session, client or issuer revocation: the admin
// token, the optional body's not_before, then revoke of id. name is the
// answer's key for the id. For the issuer route (fromBody) the id is the
// body's issuer, which must be there.
func (e *endpoints) revokeBy(w http.ResponseWriter, r *http.Request, name, id string, fromBody bool,
	revoke func(ctx context.Context, id string, notBefore time.Time) (nodeapi.RevokeResult, error)) {
	if !nodehttp.RequireWriter(w, e.cfg.Role) || !e.cfg.Guard.Require(w, r) {
		return
	}
	var req RevokeByRequest
	if r.ContentLength != 0 && !e.decodeJSON(w, r, &req) {
		return
	}
	switch {
	case fromBody && req.Issuer == nil:
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", `body must say "issuer": the issuer whose tokens to revoke, or "" for every issuer`)
		return
	case fromBody:
		id = *req.Issuer
	case req.Issuer != nil:
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", `"issuer" belongs to /v1/issuer/revoke only`)
		return
	}
	var nb time.Time
	if req.NotBefore < 0 || req.NotBefore > maxUnixTime {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "not_before must be a positive Unix time before year 10000")
		return
	} else if req.NotBefore > 0 {
		nb = time.Unix(req.NotBefore, 0)
	}
	res, err := revoke(r.Context(), id, nb)
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{name: id, "not_before": res.NotBefore.Unix(), "already_revoked": res.Existed})
}
