package node

import (
	"context"
	"net/http"

	"github.com/blnode/blnode/node/forwardauth"
	"github.com/blnode/blnode/node/token"
)

// Headers the forward-auth check answers on success, for the gateway to
// copy to the upstream (nginx: auth_request_set $u $upstream_http_x_blnode_user).
const (
	HeaderUser      = forwardauth.HeaderUser
	HeaderJTI       = forwardauth.HeaderJTI
	HeaderTokenType = forwardauth.HeaderTokenType
	HeaderClientID  = forwardauth.HeaderClientID
	HeaderSession   = forwardauth.HeaderSession
	HeaderScope     = forwardauth.HeaderScope
)

// Middleware wraps next with the forward-auth rules of /auth: the bearer
// token of Config.AuthHeader (else the Config.AuthCookie cookie) must pass
// Verify — signature, expiry, blacklist, the user's not-before — and be of
// one of Config.AuthTokenTypes (an RFC 9068 token, header typ at+jwt and
// no type claim, is an access token). A request that passes reaches next with
// the claims in its context (ClaimsFromContext); any other gets the 401
// that /auth answers (503 when the store cannot be read: it fails closed).
// The request body is never read.
//
// Backed by a validator node that follows the fleet's event stream, a
// check costs a cache lookup; a blacklisting anywhere in the fleet reaches
// it as soon as the event is applied.
func (n *Node) Middleware(next http.Handler) http.Handler {
	return n.forwardAuth().Middleware(next)
}

// ClaimsFromContext returns the claims Middleware verified for the request
// whose context ctx is, and false when there are none.
func ClaimsFromContext(ctx context.Context) (token.Claims, bool) {
	return forwardauth.ClaimsFromContext(ctx)
}

// forwardAuth is the node's forward-auth check (/auth and Middleware).
func (n *Node) forwardAuth() *forwardauth.Checker {
	return forwardauth.New(n, forwardauth.Config{Header: n.cfg.AuthHeader, Cookie: n.cfg.AuthCookie,
		TokenTypes: n.cfg.AuthTokenTypes, CacheMaxAge: n.cfg.AuthCacheMaxAge, Now: n.cfg.Now, Logger: n.log})
}
