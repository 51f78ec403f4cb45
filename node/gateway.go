package node

import "net/http"

// gatewayRoutes registers the OAuth (RFC 7009, RFC 7662) and forward-auth
// endpoints.
func (n *Node) gatewayRoutes(mux *http.ServeMux) {}
