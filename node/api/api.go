package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/internal/flatjson"
	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// Core is what the native API needs of a node: its check and verify
// paths, verification without the blacklist (VerifySignature), its writes
// (Blacklist, AddOutstanding, RevokeUser, Flush) and status, and the
// store's reads (Lookup, List). *node.Node provides the check, the writes
// and the status; package node adds the rest when it mounts the API.
type Core interface {
	nodeapi.Tokens
	Check(jti string) (bool, error)
	AddOutstanding(ctx context.Context, r persist.Record) (persist.Result, error)
	RevokeUser(ctx context.Context, user string, notBefore time.Time) (nodeapi.RevokeResult, error)
	Flush(ctx context.Context) (nodeapi.FlushResult, error)
	Status(ctx context.Context) (nodeapi.Status, error)
	Lookup(ctx context.Context, jti string) (persist.Record, error)
	List(ctx context.Context, q persist.Query) (persist.Page, error)
	Audit(ctx context.Context, q persist.AuditQuery) (persist.AuditPage, error)
}

// Config configures the native API. A zero field means the default
// written beside it.
type Config struct {
	// Guard checks the admin token of the admin routes (and of the admin
	// fields of the others); required.
	Guard        *nodehttp.Guard
	Role         nodeapi.Role // a validator refuses every write with 403; default nodeapi.RoleFull
	MaxBodyBytes int64        // request body limit; default 64 KiB
	Now          func() time.Time
	Logger       *slog.Logger // default slog.Default()
}

// endpoints serves the native API of one mux.
type endpoints struct {
	core    Core
	cfg     Config
	log     *slog.Logger
	answers answerBuffers // of POST /v1/blacklist (encode.go)
}

// Register adds the routes under /v1/ to mux.
func Register(mux *http.ServeMux, core Core, cfg Config) {
	if cfg.Role == "" {
		cfg.Role = nodeapi.RoleFull
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &endpoints{core: core, cfg: cfg, log: cfg.Logger}
	if e.log == nil {
		e.log = slog.Default()
	}
	post := func(h http.HandlerFunc) http.HandlerFunc {
		return nodehttp.Methods(map[string]http.HandlerFunc{http.MethodPost: h})
	}
	get := func(h http.HandlerFunc) http.HandlerFunc {
		return nodehttp.Methods(map[string]http.HandlerFunc{http.MethodGet: h})
	}
	mux.HandleFunc("/v1/blacklist", post(e.blacklist))
	mux.HandleFunc("/v1/blacklist/{jti}", get(e.blacklistGet))
	mux.HandleFunc("/v1/check", post(e.check))
	mux.HandleFunc("/v1/outstanding", post(e.outstanding))
	mux.HandleFunc("/v1/tokens", get(e.tokens))
	mux.HandleFunc("/v1/flush", post(e.flush))
	mux.HandleFunc("/v1/status", get(e.status))
	mux.HandleFunc("/v1/users/{user}/revoke", post(e.revokeUser))
	mux.HandleFunc("/v1/audit", get(e.audit))
	registerRevokeBy(mux, e, post)
}

// RecordJSON is a record as the API shows it.
type RecordJSON struct {
	JTI           string     `json:"jti"`
	User          string     `json:"user,omitempty"`
	TokenType     string     `json:"token_type,omitempty"`
	IssuedAt      int64      `json:"iat,omitempty"`
	ExpiresAt     int64      `json:"exp"`
	CreatedAt     time.Time  `json:"created_at"`
	Blacklisted   bool       `json:"blacklisted"`
	BlacklistedAt *time.Time `json:"blacklisted_at,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	Origin        string     `json:"origin,omitempty"`
	Token         string     `json:"token,omitempty"`
	ClientID      string     `json:"client_id,omitempty"`
	SessionID     string     `json:"sid,omitempty"`
	Scope         string     `json:"scope,omitempty"`
}

func recordJSON(r persist.Record) RecordJSON {
	out := RecordJSON{JTI: r.JTI, User: r.User, TokenType: r.Type, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt,
		CreatedAt: time.Unix(0, r.CreatedAt).UTC(), Blacklisted: r.Blacklisted(), Reason: r.Reason, Origin: r.Origin, Token: r.Token,
		ClientID: r.ClientID, SessionID: r.SessionID, Scope: r.Scope}
	if r.Blacklisted() {
		t := time.Unix(0, r.BlacklistedAt).UTC()
		out.BlacklistedAt = &t
	}
	return out
}

// BlacklistRequest is the body of POST /v1/blacklist: a token, or (admin)
// the fields of one (JTI and Exp required). Clients encode it too; empty
// fields are left out.
type BlacklistRequest struct {
	Token     *string `json:"token,omitempty"`      // the token to verify and blacklist
	JTI       string  `json:"jti,omitempty"`        // admin: the token id
	Exp       int64   `json:"exp,omitempty"`        // admin: its expiry, Unix seconds
	IssuedAt  int64   `json:"iat,omitempty"`        // admin: when it was issued, Unix seconds
	User      string  `json:"user,omitempty"`       // admin: its user id
	TokenType string  `json:"token_type,omitempty"` // admin: its type
	Reason    string  `json:"reason,omitempty"`     // why, kept with the entry
}

func (e *endpoints) blacklist(w http.ResponseWriter, r *http.Request) {
	if !nodehttp.RequireWriter(w, e.cfg.Role) {
		return
	}
	var req BlacklistRequest
	if !e.decodeJSON(w, r, &req) {
		return
	}
	var rec persist.Record
	switch {
	case req.Token != nil:
		c, ok := e.verifySignature(w, *req.Token)
		if !ok {
			return
		}
		rec = e.core.Record(c, *req.Token, req.Reason)
	case req.JTI != "":
		var ok bool
		if r, ok = e.cfg.Guard.Admin(w, r, nodehttp.ScopeWrite, req.Reason); !ok {
			return
		}
		if req.Exp <= 0 || req.Exp > maxUnixTime {
			nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "exp must be a positive Unix time before year 10000")
			return
		}
		if req.IssuedAt < 0 || req.IssuedAt > maxUnixTime {
			nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "iat must be a Unix time before year 10000")
			return
		}
		rec = persist.Record{JTI: req.JTI, ExpiresAt: req.Exp, IssuedAt: req.IssuedAt, User: req.User, Type: req.TokenType, Reason: req.Reason}
	default:
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", `give "token", or (admin) "jti" and "exp"`)
		return
	}
	res, err := e.core.Blacklist(r.Context(), rec)
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	// A line per write is DEBUG: at thousands of writes a second it would
	// cost the node (and whatever reads its log) as much as the write.
	// Admin writes are in the audit log; blnode_http_requests_total counts
	// every write.
	if !res.Existed && e.log.Enabled(r.Context(), slog.LevelDebug) {
		actor, _ := nodeapi.ActorFrom(r.Context())
		e.log.DebugContext(r.Context(), "blacklisted", "jti", rec.JTI, "user", rec.User, "reason", rec.Reason, "via", "v1", "actor", actor.Name)
	}
	e.answers.writeBlacklistAnswer(w, res.Existed, recordJSON(res.Record))
}

func (e *endpoints) outstanding(w http.ResponseWriter, r *http.Request) {
	if !nodehttp.RequireWriter(w, e.cfg.Role) {
		return
	}
	var req struct {
		Token *string `json:"token"`
	}
	if !e.decodeJSON(w, r, &req) {
		return
	}
	if req.Token == nil {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", `"token" is required`)
		return
	}
	c, ok := e.verifySignature(w, *req.Token)
	if !ok {
		return
	}
	res, err := e.core.AddOutstanding(r.Context(), e.core.Record(c, *req.Token, ""))
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, struct {
		AlreadyRegistered bool       `json:"already_registered"`
		Record            RecordJSON `json:"record"`
	}{res.Existed, recordJSON(res.Record)})
}

// verifySignature verifies a token's signature and claims (not its blacklisting)
// and answers the error itself when it returns false.
func (e *endpoints) verifySignature(w http.ResponseWriter, raw string) (token.Claims, bool) {
	c, err := e.core.VerifySignature(raw, "")
	if err != nil {
		nodehttp.WriteError(w, http.StatusUnauthorized, "token_not_valid", token.Detail(err))
		return c, false
	}
	return c, true
}

// CheckResult is the answer of POST /v1/check.
type CheckResult struct {
	Valid       bool   `json:"valid"`
	Blacklisted bool   `json:"blacklisted"`
	Code        string `json:"code,omitempty"`
	Detail      string `json:"detail,omitempty"`
	JTI         string `json:"jti,omitempty"`
	User        string `json:"user,omitempty"`
	TokenType   string `json:"token_type,omitempty"`
	ExpiresAt   int64  `json:"exp,omitempty"`
	// The claims of OAuth access tokens, when the token has them.
	ClientID string `json:"client_id,omitempty"` // client_id, else azp
	Session  string `json:"sid,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Issuer   string `json:"iss,omitempty"`
}

func (e *endpoints) check(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token *string `json:"token"`
		JTI   string  `json:"jti"`
	}
	if !e.decodeJSON(w, r, &req) {
		return
	}
	if req.Token == nil {
		if req.JTI == "" {
			nodehttp.WriteError(w, http.StatusBadRequest, "invalid", `"token" (or "jti") is required`)
			return
		}
		b, err := e.core.Check(req.JTI)
		if err != nil {
			nodehttp.WriteNodeError(w, e.cfg.Role, err)
			return
		}
		nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"jti": req.JTI, "blacklisted": b})
		return
	}
	c, err := e.core.Verify(*req.Token, "")
	res := CheckResult{Valid: err == nil, JTI: c.JTI, User: c.User, TokenType: c.Type,
		ClientID: c.ClientID, Session: c.SessionID, Scope: c.Scope, Issuer: c.Issuer}
	if !c.ExpiresAt.IsZero() {
		res.ExpiresAt = c.ExpiresAt.Unix()
	}
	switch {
	case err == nil:
	case errors.Is(err, nodeapi.ErrUnavailable):
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	case errors.Is(err, nodeapi.ErrBlacklisted):
		res.Blacklisted, res.Code, res.Detail = true, "token_blacklisted", err.Error()
	case errors.Is(err, nodeapi.ErrUserRevoked):
		res.Blacklisted, res.Code, res.Detail = true, "user_revoked", "Token is blacklisted"
	default:
		res.Code, res.Detail = "token_not_valid", token.Detail(err)
	}
	nodehttp.WriteJSON(w, http.StatusOK, res)
}

func (e *endpoints) blacklistGet(w http.ResponseWriter, r *http.Request) {
	jti := r.PathValue("jti")
	if jti == "" || len(jti) > persist.MaxJTILen || !utf8.ValidString(jti) {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "jti must be 1..255 bytes of UTF-8")
		return
	}
	b, err := e.core.Check(jti)
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	body := map[string]any{"jti": jti, "blacklisted": b}
	if admin, _ := e.cfg.Guard.Check(r); admin {
		if rec, err := e.core.Lookup(r.Context(), jti); err == nil {
			body["record"] = recordJSON(rec)
		}
	}
	nodehttp.WriteJSON(w, http.StatusOK, body)
}

func (e *endpoints) tokens(w http.ResponseWriter, r *http.Request) {
	if !e.cfg.Guard.RequireRead(w, r) {
		return
	}
	q := r.URL.Query()
	query := persist.Query{User: q.Get("user"), JTI: q.Get("jti"), Cursor: q.Get("cursor"), Now: e.cfg.Now().Unix()}
	var err error
	if query.Blacklisted, err = nodehttp.Filter(q.Get("blacklisted")); err != nil {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "blacklisted: "+err.Error())
		return
	}
	if query.Expired, err = nodehttp.Filter(q.Get("expired")); err != nil {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "expired: "+err.Error())
		return
	}
	if s := q.Get("limit"); s != "" {
		if query.Limit, err = strconv.Atoi(s); err != nil || query.Limit < 1 || query.Limit > 1000 {
			nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "limit must be an integer from 1 to 1000")
			return
		}
	}
	page, err := e.core.List(r.Context(), query)
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	out := make([]RecordJSON, len(page.Records))
	for i, rec := range page.Records {
		out[i] = recordJSON(rec)
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out, "next_cursor": page.Next})
}

func (e *endpoints) flush(w http.ResponseWriter, r *http.Request) {
	if !nodehttp.RequireWriter(w, e.cfg.Role) {
		return
	}
	cred, ok := e.cfg.Guard.Authenticate(w, r, nodehttp.ScopeWrite)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 && !e.decodeJSON(w, r, &req) {
		return
	}
	if r, ok = e.withActor(w, r, cred, req.Reason); !ok {
		return
	}
	res, err := e.core.Flush(r.Context())
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"cutoff": res.Cutoff.UTC(), "removed": map[string]int{
		"outstanding": res.Outstanding, "blacklisted": res.Blacklisted, "user_revocations": res.UserRevocations}})
}

func (e *endpoints) status(w http.ResponseWriter, r *http.Request) {
	if !e.cfg.Guard.RequireRead(w, r) {
		return
	}
	st, err := e.core.Status(r.Context())
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, st)
}

// decodeJSON reads a JSON object body into v, rejecting unknown fields,
// trailing data, other content types and bodies over the limit. It answers
// the error itself when it returns false.
func (e *endpoints) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			nodehttp.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("Content-Type %q: want application/json", ct))
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			nodehttp.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body exceeds %d bytes", e.cfg.MaxBodyBytes))
		} else {
			nodehttp.WriteError(w, http.StatusBadRequest, "bad_body", "could not read the request body")
		}
		return false
	}
	if !utf8.Valid(body) {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid_json", "body is not valid UTF-8")
		return false
	}
	// The flat object almost every client sends is read in one pass
	// (flatbody.go); anything else goes through encoding/json.
	if f, ok := v.(flatBody); ok {
		if m, ok := flatjson.Object(body, true); ok && f.fromFlat(m) {
			return noDuplicateKey(w, body)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid_json", "invalid JSON body: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid_json", "invalid JSON body: extra data after the object")
		return false
	}
	return noDuplicateKey(w, body)
}

// noDuplicateKey answers 400 when a key of the JSON body appears twice,
// which encoding/json would let the last one win.
func noDuplicateKey(w http.ResponseWriter, body []byte) bool {
	if k, dup := nodehttp.DuplicateKey(body); dup {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid_json", fmt.Sprintf("invalid JSON body: key %q appears twice", nodehttp.ShortKey(k)))
		return false
	}
	return true
}

// maxUnixTime is the last second of year 9999, the latest exp or iat a
// token can carry (node/token refuses later ones): a later time given
// without a token is refused too.
const maxUnixTime = 253402300799

func (e *endpoints) revokeUser(w http.ResponseWriter, r *http.Request) {
	if !nodehttp.RequireWriter(w, e.cfg.Role) {
		return
	}
	cred, ok := e.cfg.Guard.Authenticate(w, r, nodehttp.ScopeWrite)
	if !ok {
		return
	}
	var req struct {
		NotBefore int64  `json:"not_before"`
		Reason    string `json:"reason"`
	}
	if r.ContentLength != 0 && !e.decodeJSON(w, r, &req) {
		return
	}
	if r, ok = e.withActor(w, r, cred, req.Reason); !ok {
		return
	}
	nb, ok := notBefore(w, req.NotBefore)
	if !ok {
		return
	}
	user := r.PathValue("user")
	res, err := e.core.RevokeUser(r.Context(), user, nb)
	if err != nil {
		nodehttp.WriteNodeError(w, e.cfg.Role, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"user": user, "not_before": res.NotBefore.Unix(), "already_revoked": res.Existed})
}

// notBefore reads a revocation body's not_before (Unix seconds; 0 means
// now, the zero time); anything else out of range is answered 400.
func notBefore(w http.ResponseWriter, unix int64) (time.Time, bool) {
	if unix < 0 || unix > maxUnixTime {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "not_before must be a positive Unix time before year 10000")
		return time.Time{}, false
	}
	if unix == 0 {
		return time.Time{}, true
	}
	return time.Unix(unix, 0), true
}
