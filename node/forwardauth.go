package node

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
)

// The forward-auth check (/auth) that nginx auth_request, Traefik
// ForwardAuth and Envoy ext_authz (HTTP service) call before they pass a
// request on, and the rules it shares with the Go middleware.

// Headers the forward-auth check answers on success, for the gateway to
// copy to the upstream (nginx: auth_request_set $u $upstream_http_x_blnode_user).
const (
	HeaderUser      = "X-Blnode-User"
	HeaderJTI       = "X-Blnode-Jti"
	HeaderTokenType = "X-Blnode-Token-Type"
)

// authFailure is why a request does not pass the forward-auth rules.
type authFailure struct {
	status int    // 401, or 503 when the store cannot be read
	code   string // no_token, token_not_valid, token_blacklisted, unavailable
	detail string // short reason, also the error_description
}

// authenticate applies the forward-auth rules to r: a bearer token from
// Config.AuthHeader (else the Config.AuthCookie cookie) that passes Verify
// (signature, expiry, blacklist, user not-before) and whose type is one of
// Config.AuthTokenTypes. It never reads the body.
func (n *Node) authenticate(r *http.Request) (token.Claims, *authFailure) {
	raw := n.bearerToken(r)
	if raw == "" {
		return token.Claims{}, &authFailure{http.StatusUnauthorized, "no_token", "Authentication credentials were not provided."}
	}
	c, err := n.Verify(raw, "")
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		return c, &authFailure{http.StatusServiceUnavailable, "unavailable", "the store is unavailable; try again"}
	case errors.Is(err, ErrBlacklisted), errors.Is(err, ErrUserRevoked):
		return c, &authFailure{http.StatusUnauthorized, "token_blacklisted", "Token is blacklisted"}
	default:
		return c, &authFailure{http.StatusUnauthorized, "token_not_valid", token.Detail(err)}
	}
	if !slices.Contains(n.cfg.AuthTokenTypes, c.Type) {
		return c, &authFailure{http.StatusUnauthorized, "token_not_valid", token.ErrWrongType.Error()}
	}
	return c, nil
}

// bearerToken returns the token of "<AuthHeader>: Bearer <token>" (the
// scheme in any case), else the AuthCookie cookie's value, else "".
func (n *Node) bearerToken(r *http.Request) string {
	if h := strings.TrimSpace(r.Header.Get(n.cfg.AuthHeader)); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	if n.cfg.AuthCookie != "" {
		if ck, err := r.Cookie(n.cfg.AuthCookie); err == nil {
			v := strings.TrimSpace(ck.Value)
			if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
				v = strings.TrimSpace(tok)
			}
			return v
		}
	}
	return ""
}

// writeAuthFailure answers f: 401 with an RFC 6750 challenge (without an
// error when no token was sent, §3.1) or 503, and a JSON body.
func (n *Node) writeAuthFailure(w http.ResponseWriter, r *http.Request, f *authFailure) {
	switch f.code {
	case "no_token":
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	case "unavailable":
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description=`+quote(f.detail))
	}
	w.Header().Set("Cache-Control", "no-store")
	if f.status != http.StatusUnauthorized {
		n.log.WarnContext(r.Context(), "forward auth failing closed", "code", f.code)
	}
	nodehttp.WriteError(w, f.status, f.code, f.detail)
}

// quote makes s an HTTP quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// forwardAuth is /auth: any method, no body read, never a redirect.
func (n *Node) forwardAuth(w http.ResponseWriter, r *http.Request) {
	c, f := n.authenticate(r)
	if f != nil {
		n.writeAuthFailure(w, r, f)
		return
	}
	h := w.Header()
	h.Set(HeaderUser, c.User)
	h.Set(HeaderJTI, c.JTI)
	h.Set(HeaderTokenType, c.Type)
	nodehttp.WriteJSON(w, http.StatusOK, map[string]string{"user": c.User, "jti": c.JTI, "token_type": c.Type})
}
