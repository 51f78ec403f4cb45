package oauth

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
)

// Core is what the OAuth endpoints need of a node: verify a token with
// (Verify) and without (VerifySignature) the blacklist, turn verified
// claims into a record, and blacklist it. *node.Node provides Verify and
// Blacklist; package node adds the rest when it mounts the endpoints.
type Core interface {
	nodeapi.Tokens
}

// Config configures the OAuth endpoints. A zero field means the default
// written beside it.
type Config struct {
	// Guard checks the admin token (introspection accepts it) and limits
	// failed client authentications; required.
	Guard *nodehttp.Guard
	// Clients are the client credentials (id → secret) accepted with HTTP
	// Basic. Empty: revocation is open, introspection needs the admin
	// token. Register keeps its own copy.
	Clients      map[string]string
	Role         nodeapi.Role // a validator refuses revocation with 403; default nodeapi.RoleFull
	UserClaim    string       // the name of the user id claim introspection echoes; default token.DefaultUserIDClaim
	MaxBodyBytes int64        // request body limit; default 64 KiB
	Logger       *slog.Logger // default slog.Default()
}

// endpoints serves the OAuth endpoints of one mux.
type endpoints struct {
	core Core
	cfg  Config
	log  *slog.Logger
}

// Register adds POST /oauth/revoke and POST /oauth/introspect to mux.
func Register(mux *http.ServeMux, core Core, cfg Config) {
	if cfg.Role == "" {
		cfg.Role = nodeapi.RoleFull
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = token.DefaultUserIDClaim
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	cfg.Clients = maps.Clone(cfg.Clients)
	e := &endpoints{core: core, cfg: cfg, log: cfg.Logger}
	if e.log == nil {
		e.log = slog.Default()
	}
	post := func(h http.HandlerFunc) http.HandlerFunc {
		return nodehttp.Methods(map[string]http.HandlerFunc{http.MethodPost: h})
	}
	mux.HandleFunc("/oauth/revoke", post(e.revoke))
	mux.HandleFunc("/oauth/introspect", post(e.introspect))
}

// oauthError is RFC 6749's error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	nodehttp.WriteJSON(w, status, oauthError{Error: code, Description: desc})
}

// revoke is RFC 7009: a token whose signature verifies and that has
// not expired is blacklisted, whatever its type; any other token is
// ignored. Both answer 200 with an empty body, so a client learns nothing
// about the token it sent. A token issued to another client than the
// authenticated caller is refused (see ownedBy).
func (e *endpoints) revoke(w http.ResponseWriter, r *http.Request) {
	if !nodehttp.RequireWriter(w, e.cfg.Role) {
		return
	}
	client, raw, ok := e.request(w, r, false)
	if !ok {
		return
	}
	// token_type_hint is optional and only a hint (RFC 7009 §2.1): the
	// token's own type claim decides, so it is read and ignored.
	c, err := e.core.VerifySignature(raw, "")
	if err != nil {
		e.log.DebugContext(r.Context(), "oauth revoke: token does not verify, ignored", "reason", token.Detail(err), "client_id", client)
		w.WriteHeader(http.StatusOK)
		return
	}
	if !ownedBy(c, client) {
		e.log.InfoContext(r.Context(), "oauth revoke: token issued to another client, refused", "jti", c.JTI, "client_id", client)
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "the token was not issued to this client")
		return
	}
	res, err := e.core.Blacklist(r.Context(), e.core.Record(c, raw, "oauth revoke"))
	switch {
	case err == nil:
		if !res.Existed { // DEBUG, as the native API's write line (node/api)
			e.log.DebugContext(r.Context(), "blacklisted", "jti", c.JTI, "user", c.User, "type", c.Type, "via", "oauth", "client_id", client)
		}
	case errors.Is(err, nodeapi.ErrUnavailable):
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the store is unavailable; try again")
		return
	case errors.Is(err, nodeapi.ErrReadOnly):
		nodehttp.RequireWriter(w, e.cfg.Role)
		return
	default:
		// Verify refuses every token the store or the event stream cannot
		// hold, so this is a bug; a 200 would tell the client the token is
		// revoked when it is not.
		e.log.ErrorContext(r.Context(), "oauth revoke: a verified token could not be stored", "jti", c.JTI, "err", err, "client_id", client)
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the token cannot be revoked")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ownedBy reports whether the authenticated client may revoke c. RFC 7009
// §2.1: "The authorization server first validates the client credentials
// [...] and then verifies whether the token was issued to the client
// making the revocation request. If this validation fails, the request is
// refused and the client is informed of the error by the authorization
// server as described below" — §2.2.1, an RFC 6749 §5.2 error body with
// status 400. Of §5.2's codes, unauthorized_client ("the authenticated
// client is not authorized") says it; Ory Hydra (fosite) and Keycloak
// answer a mismatch with it too. The token stays unrevoked.
//
// The check applies when the caller authenticated as a client and the
// token names one (client_id, else azp: tokenClient). A token that names
// none (a Simple JWT token) and an open endpoint (no clients configured:
// the caller is whoever holds the token) revoke as before.
func ownedBy(c token.Claims, client string) bool {
	id, carried := tokenClient(c)
	return client == "" || !carried || id == client
}

// introspect is RFC 7662: {"active":true,…} for a token that passes
// Verify (signature, expiry, blacklist, user not-before), {"active":false}
// for any other.
func (e *endpoints) introspect(w http.ResponseWriter, r *http.Request) {
	_, raw, ok := e.request(w, r, true)
	if !ok {
		return
	}
	c, err := e.core.Verify(raw, "")
	switch {
	case err == nil:
	case errors.Is(err, nodeapi.ErrUnavailable):
		writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the store is unavailable; try again")
		return
	default:
		nodehttp.WriteJSON(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	out := map[string]any{"active": true, "jti": c.JTI, "exp": c.ExpiresAt.Unix()}
	if !c.IssuedAt.IsZero() {
		out["iat"] = c.IssuedAt.Unix()
	}
	if c.Type != "" {
		out["token_type"] = c.Type
	}
	if c.User != "" {
		out["sub"] = c.User
		out[e.cfg.UserClaim] = c.User
	}
	for _, name := range []string{"iss", "aud", "nbf"} {
		if v, ok := c.Raw[name]; ok {
			out[name] = v
		}
	}
	// RFC 7662 §2.2: "client_id: Client identifier for the OAuth 2.0
	// client that requested this token" — the token's client, not the
	// caller's; a token that names none has none.
	if id, _ := tokenClient(c); id != "" {
		out["client_id"] = id
	}
	nodehttp.WriteJSON(w, http.StatusOK, out)
}

// request authenticates the client of an OAuth request (allowAdmin: the
// admin token is accepted too) and reads the token from its form. It
// answers the request itself and returns false when it cannot.
func (e *endpoints) request(w http.ResponseWriter, r *http.Request, allowAdmin bool) (client, raw string, ok bool) {
	if client, ok = e.clientAuth(w, r, allowAdmin); !ok {
		return "", "", false
	}
	form, ok := e.readForm(w, r)
	if !ok {
		return "", "", false
	}
	raw, ok = formToken(w, form)
	return client, raw, ok
}

// clientAuth authenticates the caller of an OAuth endpoint and
// returns the client id ("" for the admin or an open endpoint). It writes
// the refusal and returns false when the request may not proceed.
//
// With Config.Clients set, HTTP Basic client credentials are
// required. Without them revocation is open and introspection is not.
// allowAdmin also accepts the admin bearer token (introspection).
//
// Wrong credentials of either kind count against the client's failure
// budget (nodehttp.Guard); once it is spent the answer is 429 with
// Retry-After and no credential is checked.
func (e *endpoints) clientAuth(w http.ResponseWriter, r *http.Request, allowAdmin bool) (string, bool) {
	if allowAdmin {
		ok, wait := e.cfg.Guard.Check(r)
		if ok {
			return "", true
		}
		if wait > 0 {
			e.tooMany(w, wait)
			return "", false
		}
	}
	if len(e.cfg.Clients) > 0 {
		if _, _, basic := r.BasicAuth(); basic {
			client := nodehttp.ClientOf(r)
			if wait, limited := e.cfg.Guard.Blocked(client); limited {
				e.tooMany(w, wait)
				return "", false
			}
			if id, ok := e.authClient(r); ok {
				return id, true
			}
			e.cfg.Guard.Failed(r, client, "oauth client")
		}
	} else if !allowAdmin {
		return "", true
	}
	if len(e.cfg.Clients) > 0 || !allowAdmin || !e.cfg.Guard.Enabled() {
		w.Header().Add("WWW-Authenticate", `Basic realm="blnode"`)
	}
	if allowAdmin && e.cfg.Guard.Enabled() {
		w.Header().Add("WWW-Authenticate", `Bearer realm="blnode-admin"`)
	}
	e.log.InfoContext(r.Context(), "oauth client authentication failed", "path", r.URL.Path, "remote", r.RemoteAddr)
	writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
	return "", false
}

// tooMany answers a client whose failure budget is spent, in RFC
// 6749's error shape.
func (e *endpoints) tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", nodehttp.RetryAfter(wait))
	writeOAuthError(w, http.StatusTooManyRequests, "too_many_requests", "too many failed authentications from this address; try again after Retry-After seconds")
}

// authClient checks HTTP Basic credentials against Config.Clients.
// RFC 6749 §2.3.1 has clients form-encode id and secret before Basic
// encoding them; most clients (curl -u) do not, so both readings are tried.
func (e *endpoints) authClient(r *http.Request) (string, bool) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	if e.clientMatches(id, secret) {
		return id, true
	}
	uid, err1 := url.QueryUnescape(id)
	usecret, err2 := url.QueryUnescape(secret)
	if err1 == nil && err2 == nil && (uid != id || usecret != secret) && e.clientMatches(uid, usecret) {
		return uid, true
	}
	return "", false
}

// clientMatches compares SHA-256 digests in constant time, so neither the
// content nor the length of a secret leaks through timing; an unknown
// client costs the same comparison.
func (e *endpoints) clientMatches(id, secret string) bool {
	want, known := e.cfg.Clients[id]
	known = known && want != ""
	if !known {
		want = "\x00blnode: no such client"
	}
	a, b := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && known
}

// readForm reads an application/x-www-form-urlencoded body within
// MaxBodyBytes. It answers the error itself when it returns false.
func (e *endpoints) readForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("request body exceeds %d bytes", e.cfg.MaxBodyBytes))
		} else {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "could not read the request body")
		}
		return nil, false
	}
	if !utf8.Valid(body) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body is not valid UTF-8")
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return nil, false
	}
	return form, true
}

// formToken returns the one "token" parameter. RFC 6749 §3.2 forbids
// repeating a parameter. It answers the error itself when it returns false.
func formToken(w http.ResponseWriter, form url.Values) (string, bool) {
	for _, name := range []string{"token", "token_type_hint"} {
		if len(form[name]) > 1 {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter "+name+" is repeated")
			return "", false
		}
	}
	raw := strings.TrimSpace(form.Get("token"))
	if raw == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter token is required")
		return "", false
	}
	return raw, true
}

// maxClientsLine is the longest line LoadClients reads.
const maxClientsLine = 64 << 10

// LoadClients reads OAuth client credentials (Config.Clients)
// from a file: one "client_id:secret" per line, split at the first colon,
// spaces around either part trimmed; blank lines and lines starting with
// "#" are skipped. Client ids may not hold spaces or control characters,
// and neither part may be empty; a file without any client is an error
// (it would leave revocation open). Errors name the file and the line and
// never show a secret.
func LoadClients(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("node: oauth clients file: %w", err)
	}
	defer f.Close()
	clients := map[string]string{}
	defined := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxClientsLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fail := func(format string, args ...any) (map[string]string, error) {
			return nil, fmt.Errorf("node: oauth clients file %s line %d: %s", path, line, fmt.Sprintf(format, args...))
		}
		if !utf8.ValidString(text) {
			return fail("not valid UTF-8")
		}
		id, secret, ok := strings.Cut(text, ":")
		if !ok {
			return fail("want client_id:secret")
		}
		id, secret = strings.TrimSpace(id), strings.TrimSpace(secret)
		switch {
		case id == "":
			return fail("empty client id")
		case strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return fail("client id %q holds a space or control character", id)
		case secret == "":
			return fail("client %q has an empty secret", id)
		case strings.IndexFunc(secret, unicode.IsControl) >= 0:
			return fail("the secret of client %q holds a control character", id)
		}
		if first, dup := defined[id]; dup {
			return fail("client %q is already defined on line %d", id, first)
		}
		defined[id] = line
		clients[id] = secret
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("node: oauth clients file %s line %d: longer than %d bytes", path, line+1, maxClientsLine)
		}
		return nil, fmt.Errorf("node: oauth clients file %s: %w", path, err)
	}
	if len(clients) == 0 {
		return nil, fmt.Errorf("node: oauth clients file %s: no client defined", path)
	}
	return clients, nil
}
