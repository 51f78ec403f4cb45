package node

import "github.com/blnode/blnode/node/forwardauth"

// ForwardAuth returns the node's forward-auth check, the rules of /auth and
// Middleware (Config.AuthHeader, AuthCookie, AuthTokenTypes), for another
// transport to serve: node/extauthz answers Envoy's gRPC check with it.
func (n *Node) ForwardAuth() *forwardauth.Checker {
	return n.forwardAuth()
}
