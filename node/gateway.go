package node

import "net/http"

// gatewayRoutes registers the forward-auth endpoints.
func (n *Node) gatewayRoutes(mux *http.ServeMux) {
	// Any method. Envoy's ext_authz appends the original path to its
	// path_prefix, so /auth/<anything> is the same check.
	mux.HandleFunc("/auth", n.forwardAuth)
	mux.HandleFunc("/auth/", n.forwardAuth)
}
