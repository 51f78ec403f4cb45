package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// The native API: JSON in and out, idempotent writes, every error a JSON
// body with a stable code.

func (n *Node) apiRoutes(mux *http.ServeMux) {
	post := func(h http.HandlerFunc) http.HandlerFunc {
		return nodehttp.Methods(map[string]http.HandlerFunc{http.MethodPost: h})
	}
	get := func(h http.HandlerFunc) http.HandlerFunc {
		return nodehttp.Methods(map[string]http.HandlerFunc{http.MethodGet: h})
	}
	mux.HandleFunc("/v1/blacklist", post(n.apiBlacklist))
	mux.HandleFunc("/v1/blacklist/{jti}", get(n.apiBlacklistGet))
	mux.HandleFunc("/v1/check", post(n.apiCheck))
	mux.HandleFunc("/v1/outstanding", post(n.apiOutstanding))
	mux.HandleFunc("/v1/tokens", get(n.apiTokens))
	mux.HandleFunc("/v1/flush", post(n.apiFlush))
	mux.HandleFunc("/v1/status", get(n.apiStatus))
	mux.HandleFunc("/v1/users/{user}/revoke", post(n.apiRevokeUser))
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
}

func recordJSON(r persist.Record) RecordJSON {
	out := RecordJSON{JTI: r.JTI, User: r.User, TokenType: r.Type, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt,
		CreatedAt: time.Unix(0, r.CreatedAt).UTC(), Blacklisted: r.Blacklisted(), Reason: r.Reason, Origin: r.Origin, Token: r.Token}
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

func (n *Node) apiBlacklist(w http.ResponseWriter, r *http.Request) {
	if !n.requireWriter(w) {
		return
	}
	var req BlacklistRequest
	if !n.decodeJSON(w, r, &req) {
		return
	}
	var rec persist.Record
	switch {
	case req.Token != nil:
		c, ok := n.apiVerify(w, *req.Token)
		if !ok {
			return
		}
		rec = n.recordOf(c, *req.Token, req.Reason)
	case req.JTI != "":
		if !n.requireAdmin(w, r) {
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
	res, err := n.Blacklist(rec)
	if err != nil {
		n.writeNodeError(w, err)
		return
	}
	if !res.Existed {
		n.log.InfoContext(r.Context(), "blacklisted", "jti", rec.JTI, "user", rec.User, "reason", rec.Reason, "via", "v1")
	}
	nodehttp.WriteJSON(w, http.StatusOK, struct {
		AlreadyBlacklisted bool       `json:"already_blacklisted"`
		Record             RecordJSON `json:"record"`
	}{res.Existed, recordJSON(res.Record)})
}

func (n *Node) apiOutstanding(w http.ResponseWriter, r *http.Request) {
	if !n.requireWriter(w) {
		return
	}
	var req struct {
		Token *string `json:"token"`
	}
	if !n.decodeJSON(w, r, &req) {
		return
	}
	if req.Token == nil {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", `"token" is required`)
		return
	}
	c, ok := n.apiVerify(w, *req.Token)
	if !ok {
		return
	}
	res, err := n.AddOutstanding(n.recordOf(c, *req.Token, ""))
	if err != nil {
		n.writeNodeError(w, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, struct {
		AlreadyRegistered bool       `json:"already_registered"`
		Record            RecordJSON `json:"record"`
	}{res.Existed, recordJSON(res.Record)})
}

// apiVerify verifies a token's signature and claims (not its blacklisting)
// and answers the error itself when it returns false.
func (n *Node) apiVerify(w http.ResponseWriter, raw string) (token.Claims, bool) {
	c, err := n.verifier.Verify(raw, "")
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
}

func (n *Node) apiCheck(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token *string `json:"token"`
		JTI   string  `json:"jti"`
	}
	if !n.decodeJSON(w, r, &req) {
		return
	}
	if req.Token == nil {
		if req.JTI == "" {
			nodehttp.WriteError(w, http.StatusBadRequest, "invalid", `"token" (or "jti") is required`)
			return
		}
		b, err := n.Check(req.JTI)
		if err != nil {
			n.writeNodeError(w, err)
			return
		}
		nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"jti": req.JTI, "blacklisted": b})
		return
	}
	c, err := n.Verify(*req.Token, "")
	res := CheckResult{Valid: err == nil, JTI: c.JTI, User: c.User, TokenType: c.Type}
	if !c.ExpiresAt.IsZero() {
		res.ExpiresAt = c.ExpiresAt.Unix()
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		n.writeNodeError(w, err)
		return
	case errors.Is(err, ErrBlacklisted):
		res.Blacklisted, res.Code, res.Detail = true, "token_blacklisted", err.Error()
	case errors.Is(err, ErrUserRevoked):
		res.Blacklisted, res.Code, res.Detail = true, "user_revoked", "Token is blacklisted"
	default:
		res.Code, res.Detail = "token_not_valid", token.Detail(err)
	}
	nodehttp.WriteJSON(w, http.StatusOK, res)
}

func (n *Node) apiBlacklistGet(w http.ResponseWriter, r *http.Request) {
	jti := r.PathValue("jti")
	if jti == "" || len(jti) > persist.MaxJTILen || !utf8.ValidString(jti) {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "jti must be 1..255 bytes of UTF-8")
		return
	}
	b, err := n.Check(jti)
	if err != nil {
		n.writeNodeError(w, err)
		return
	}
	body := map[string]any{"jti": jti, "blacklisted": b}
	if admin, _ := n.checkAdmin(r); admin {
		if rec, err := n.store.Lookup(jti); err == nil {
			body["record"] = recordJSON(rec)
		}
	}
	nodehttp.WriteJSON(w, http.StatusOK, body)
}

func (n *Node) apiTokens(w http.ResponseWriter, r *http.Request) {
	if !n.requireAdmin(w, r) {
		return
	}
	q := r.URL.Query()
	query := persist.Query{User: q.Get("user"), JTI: q.Get("jti"), Cursor: q.Get("cursor"), Now: n.cfg.Now().Unix()}
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
	page, err := n.store.List(query)
	if err != nil {
		n.writeNodeError(w, err)
		return
	}
	out := make([]RecordJSON, len(page.Records))
	for i, rec := range page.Records {
		out[i] = recordJSON(rec)
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out, "next_cursor": page.Next})
}

func (n *Node) apiFlush(w http.ResponseWriter, r *http.Request) {
	if !n.requireWriter(w) || !n.requireAdmin(w, r) {
		return
	}
	res, err := n.Flush()
	if err != nil {
		n.writeNodeError(w, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"cutoff": res.Cutoff.UTC(), "removed": map[string]int{
		"outstanding": res.Outstanding, "blacklisted": res.Blacklisted, "user_revocations": res.UserRevocations}})
}

// Status is what GET /v1/status answers.
type Status = nodeapi.Status

// Status reports the node's role, stream position and entry counts.
func (n *Node) Status() (Status, error) {
	c, err := n.store.Counts()
	if err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	d, err := n.store.Digest()
	if err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	fs := n.FleetStatus()
	st := Status{BlacklistDigest: d.String(), NodeID: n.nodeID, Role: n.cfg.Role, Region: n.cfg.Region, Started: n.started.UTC(), NATS: "disabled",
		NATSURL: fs.URL, Embedded: fs.Embedded, Stream: fs.Stream, LastApplied: fs.LastApplied, StreamLast: fs.StreamLast,
		Lag: fs.Lag, Ready: fs.Ready, OutboxDepth: c.Outbox, Outstanding: c.Outstanding, Blacklisted: c.Blacklisted,
		UserRevocations: c.UserRevocations, EventsApplied: fs.Applied, EventsSkipped: fs.Skipped,
		EventsPublished: fs.Published, PublishError: fs.PublishErr, StoreBytes: n.store.Size()}
	if fs.Enabled {
		st.Following, st.LiveGaps = "consumer", fs.LiveGaps
		if fs.Live {
			st.Following = "live"
		}
		st.NATS = "disconnected"
		if fs.Connected {
			st.NATS = "connected"
		}
	}
	return st, nil
}

func (n *Node) apiStatus(w http.ResponseWriter, r *http.Request) {
	if !n.requireAdmin(w, r) {
		return
	}
	st, err := n.Status()
	if err != nil {
		n.writeNodeError(w, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, st)
}

// decodeJSON reads a JSON object body into v, rejecting unknown fields,
// trailing data, other content types and bodies over the limit. It answers
// the error itself when it returns false.
func (n *Node) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			nodehttp.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("Content-Type %q: want application/json", ct))
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, n.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			nodehttp.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body exceeds %d bytes", n.cfg.MaxBodyBytes))
		} else {
			nodehttp.WriteError(w, http.StatusBadRequest, "bad_body", "could not read the request body")
		}
		return false
	}
	if !utf8.Valid(body) {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid_json", "body is not valid UTF-8")
		return false
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

func (n *Node) apiRevokeUser(w http.ResponseWriter, r *http.Request) {
	if !n.requireWriter(w) || !n.requireAdmin(w, r) {
		return
	}
	var req struct {
		NotBefore int64 `json:"not_before"`
	}
	if r.ContentLength != 0 && !n.decodeJSON(w, r, &req) {
		return
	}
	var nb time.Time
	if req.NotBefore < 0 || req.NotBefore > maxUnixTime {
		nodehttp.WriteError(w, http.StatusBadRequest, "invalid", "not_before must be a positive Unix time before year 10000")
		return
	} else if req.NotBefore > 0 {
		nb = time.Unix(req.NotBefore, 0)
	}
	user := r.PathValue("user")
	res, err := n.RevokeUser(user, nb)
	if err != nil {
		n.writeNodeError(w, err)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"user": user, "not_before": res.NotBefore.Unix(), "already_revoked": res.Existed})
}
