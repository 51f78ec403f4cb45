package node

import (
	"net/http"

	"github.com/blnode/blnode/node/nodehttp"
)

// gatewayRoutes registers the OAuth (RFC 7009, RFC 7662) and forward-auth
// endpoints.
func (n *Node) gatewayRoutes(mux *http.ServeMux) {
	post := func(h http.HandlerFunc) http.HandlerFunc {
		return nodehttp.Methods(map[string]http.HandlerFunc{http.MethodPost: h})
	}
	mux.HandleFunc("/oauth/revoke", post(n.oauthRevoke))
	mux.HandleFunc("/oauth/introspect", post(n.oauthIntrospect))
	// Any method. Envoy's ext_authz appends the original path to its
	// path_prefix, so /auth/<anything> is the same check.
	mux.HandleFunc("/auth", n.forwardAuth)
	mux.HandleFunc("/auth/", n.forwardAuth)
}
