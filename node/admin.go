package node

import "net/http"

// adminRoutes registers the admin web pages under /admin/.
func (n *Node) adminRoutes(mux *http.ServeMux) {}
