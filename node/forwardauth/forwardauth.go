package forwardauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
)

// Headers the forward-auth check answers on success, for the gateway to
// copy to the upstream (nginx: auth_request_set $u $upstream_http_x_blnode_user).
const (
	HeaderUser      = "X-Blnode-User"
	HeaderJTI       = "X-Blnode-Jti"
	HeaderTokenType = "X-Blnode-Token-Type"
	// HeaderClientID, HeaderSession and HeaderScope carry the client_id
	// (else azp), sid and scope claims of tokens that have them (RFC 9068
	// access tokens); they are left out when the token has none, and the
	// scope also when it is not a valid header value.
	HeaderClientID = "X-Blnode-Client-Id"
	HeaderSession  = "X-Blnode-Session"
	HeaderScope    = "X-Blnode-Scope"
)

// Core is what the forward-auth check needs of a node: Verify, which
// checks the signature, the expiry, the blacklist and the user's
// not-before. *node.Node provides it.
type Core interface {
	Verify(raw, wantType string) (token.Claims, error)
}

// Config configures a Checker. A zero field means the default written
// beside it.
type Config struct {
	Header     string       // the header read for "Bearer <token>"; default "Authorization"
	Cookie     string       // when set, a cookie holding the token, read when the header is absent
	TokenTypes []string     // the token types accepted; default access and sliding
	Logger     *slog.Logger // default slog.Default()

	// CacheMaxAge, when positive, lets a gateway cache the check: a pass
	// of /auth carries Cache-Control: private, max-age=S and
	// X-Accel-Expires: S (nginx), S being CacheMaxAge or the time left to
	// the token's exp if less, in whole seconds rounded down (no-store
	// when S < 1); a refusal stays no-store and gets X-Accel-Expires: 0;
	// both carry Vary on Header (and Cookie when Cookie is set). A token
	// revoked meanwhile passes at such a gateway until its cached pass
	// expires. Default 0: no caching headers of its own (package node
	// answers every route no-store). Middleware ignores it.
	CacheMaxAge time.Duration
	Now         func() time.Time // the clock S is counted with; default time.Now
}

// Checker applies the forward-auth rules: as the /auth handler
// (ServeHTTP) and as Go middleware (Middleware).
type Checker struct {
	core Core
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
}

// New returns a Checker of core's tokens.
func New(core Core, cfg Config) *Checker {
	if cfg.Header == "" {
		cfg.Header = "Authorization"
	}
	if len(cfg.TokenTypes) == 0 {
		cfg.TokenTypes = []string{"access", "sliding"}
	}
	cfg.TokenTypes = slices.Clone(cfg.TokenTypes)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Checker{core: core, cfg: cfg, log: log, now: now}
}

// Failure is why a request does not pass the forward-auth rules: the
// status, code and detail /auth answers it with.
type Failure struct {
	Status int    // 401, or 503 when the store cannot be read
	Code   string // no_token, token_not_valid, token_blacklisted, unavailable
	Detail string // short reason, also the error_description
}

// Challenge is the WWW-Authenticate value /auth answers f with: an RFC
// 6750 Bearer challenge, without an error when no token was sent (§3.1),
// and "" for a 503.
func (f *Failure) Challenge() string {
	switch f.Code {
	case "no_token":
		return `Bearer realm="api"`
	case "unavailable":
		return ""
	default:
		return `Bearer realm="api", error="invalid_token", error_description=` + quote(f.Detail)
	}
}

// Check applies the forward-auth rules to a request's headers: a bearer
// token from Config.Header (else the Config.Cookie cookie) that passes
// Verify (signature, expiry, blacklist, user not-before) and whose type is
// one of Config.TokenTypes. It is the decision of /auth and Middleware,
// exported for other transports (node/extauthz: Envoy's gRPC check). A
// failure other than a 401 (the store cannot be read) is logged as a WARN.
func (k *Checker) Check(ctx context.Context, h http.Header) (token.Claims, *Failure) {
	c, f := k.check(h)
	if f != nil && f.Status != http.StatusUnauthorized {
		k.log.WarnContext(ctx, "forward auth failing closed", "code", f.Code)
	}
	return c, f
}

// check is Check without the log line.
func (k *Checker) check(h http.Header) (token.Claims, *Failure) {
	raw := k.bearerToken(h)
	if raw == "" {
		return token.Claims{}, &Failure{http.StatusUnauthorized, "no_token", "Authentication credentials were not provided."}
	}
	c, err := k.core.Verify(raw, "")
	switch {
	case err == nil:
	case errors.Is(err, nodeapi.ErrUnavailable):
		return c, &Failure{http.StatusServiceUnavailable, "unavailable", "the store is unavailable; try again"}
	case errors.Is(err, nodeapi.ErrBlacklisted), errors.Is(err, nodeapi.ErrUserRevoked):
		return c, &Failure{http.StatusUnauthorized, "token_blacklisted", "Token is blacklisted"}
	default:
		return c, &Failure{http.StatusUnauthorized, "token_not_valid", token.Detail(err)}
	}
	if !slices.Contains(k.cfg.TokenTypes, c.Type) {
		return c, &Failure{http.StatusUnauthorized, "token_not_valid", token.ErrWrongType.Error()}
	}
	return c, nil
}

// bearerToken returns the token of "<Header>: Bearer <token>" (the scheme
// in any case), else the Cookie cookie's value, else "".
func (k *Checker) bearerToken(h http.Header) string {
	if v := strings.TrimSpace(h.Get(k.cfg.Header)); v != "" {
		scheme, tok, _ := strings.Cut(v, " ")
		if strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	if k.cfg.Cookie != "" {
		// http.Request.Cookie is the parser net/http gives /auth: lenient
		// with the other cookies of the header.
		if ck, err := (&http.Request{Header: h}).Cookie(k.cfg.Cookie); err == nil {
			v := strings.TrimSpace(ck.Value)
			if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
				v = strings.TrimSpace(tok)
			}
			return v
		}
	}
	return ""
}

// writeAuthFailure answers f: its status, its challenge and a JSON body.
func writeAuthFailure(w http.ResponseWriter, f *Failure) {
	if ch := f.Challenge(); ch != "" {
		w.Header().Set("WWW-Authenticate", ch)
	}
	w.Header().Set("Cache-Control", "no-store")
	nodehttp.WriteError(w, f.Status, f.Code, f.Detail)
}

// quote makes s an HTTP quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Field is one fact a pass answers: a header for the gateway to copy to
// the upstream and the key of the same value in /auth's JSON body.
type Field struct {
	Header, Key, Value string
}

// PassFields is what a pass of c answers, in order: the user, jti and type
// always, then the client, session and scope when c has them and they are
// valid header values. /auth sends them as headers and JSON; node/extauthz
// as headers Envoy adds to the upstream request.
func PassFields(c token.Claims) []Field {
	fs := []Field{{HeaderUser, "user", c.User}, {HeaderJTI, "jti", c.JTI}, {HeaderTokenType, "token_type", c.Type}}
	for _, f := range [...]Field{
		{HeaderClientID, "client_id", c.ClientID}, {HeaderSession, "sid", c.SessionID}, {HeaderScope, "scope", c.Scope},
	} {
		if f.Value != "" && headerSafe(f.Value) {
			fs = append(fs, f)
		}
	}
	return fs
}

// ServeHTTP is /auth: any method, no body read, never a redirect. A request
// that passes gets 200, the token's user, jti and type in the Header…
// headers, and the same as JSON; with Config.CacheMaxAge, caching headers
// (see there).
func (k *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, f := k.Check(r.Context(), r.Header)
	h := w.Header()
	if f != nil {
		k.setRefusalCaching(h)
		writeAuthFailure(w, f)
		return
	}
	k.setPassCaching(h, c.ExpiresAt)
	body := make(map[string]string, 6)
	for _, fd := range PassFields(c) {
		h.Set(fd.Header, fd.Value)
		body[fd.Key] = fd.Value
	}
	nodehttp.WriteJSON(w, http.StatusOK, body)
}

// headerSafe reports whether s travels unchanged as an HTTP header value:
// no control character and no space or tab at either end. (Verify already
// refuses tokens whose client_id or sid is not; a scope is not a
// revocation key, so it is left out instead.)
func headerSafe(s string) bool {
	if s == "" || s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// claimsKey is the request context key of the verified claims.
type claimsKey struct{}

// Middleware wraps next with the rules of /auth: a request that passes
// reaches next with the claims in its context (ClaimsFromContext); any
// other gets the 401 that /auth answers (503 when the store cannot be
// read: it fails closed). The request body is never read.
func (k *Checker) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, f := k.Check(r.Context(), r.Header)
		if f != nil {
			writeAuthFailure(w, f)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// ClaimsFromContext returns the claims Middleware verified for the request
// whose context ctx is, and false when there are none.
func ClaimsFromContext(ctx context.Context) (token.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(token.Claims)
	return c, ok
}
