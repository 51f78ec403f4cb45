package node

import (
	"context"
	"net/http"

	"github.com/blnode/blnode/node/token"
)

// claimsKey is the request context key of the verified claims.
type claimsKey struct{}

// Middleware wraps next with the forward-auth rules of /auth: the bearer
// token of Config.AuthHeader (else the Config.AuthCookie cookie) must pass
// Verify — signature, expiry, blacklist, the user's not-before — and be of
// one of Config.AuthTokenTypes. A request that passes reaches next with
// the claims in its context (ClaimsFromContext); any other gets the 401
// that /auth answers (503 when the store cannot be read: it fails closed).
// The request body is never read.
//
// Backed by a validator node that follows the fleet's event stream, a
// check costs a cache lookup; a blacklisting anywhere in the fleet reaches
// it as soon as the event is applied.
func (n *Node) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, f := n.authenticate(r)
		if f != nil {
			n.writeAuthFailure(w, r, f)
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
