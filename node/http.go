package node

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/blnode/blnode/persist"
)

// HTTPLimits are the timeouts and header limit of the server HTTPServer
// makes. A zero field means the default written beside it.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration // to read the request line and headers; default 5s
	ReadTimeout       time.Duration // to read the whole request, body included; default 15s
	WriteTimeout      time.Duration // from the end of the headers to the end of the answer; default 30s
	IdleTimeout       time.Duration // a keep-alive connection may wait for its next request; default 90s
	MaxHeaderBytes    int           // request line and headers; default 32 KiB (more gets 431)
}

// HTTPServer returns an http.Server for h with the timeouts and header
// limit a public-facing node needs: slow clients are cut off. limits, when
// given, replaces the defaults field by field (the first one counts).
func HTTPServer(addr string, h http.Handler, limits ...HTTPLimits) *http.Server {
	var l HTTPLimits
	if len(limits) > 0 {
		l = limits[0]
	}
	orDefault := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	maxHeader := l.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = 32 << 10
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: orDefault(l.ReadHeaderTimeout, 5*time.Second),
		ReadTimeout:       orDefault(l.ReadTimeout, 15*time.Second),
		WriteTimeout:      orDefault(l.WriteTimeout, 30*time.Second),
		IdleTimeout:       orDefault(l.IdleTimeout, 90*time.Second),
		MaxHeaderBytes:    maxHeader,
	}
}

// Handler returns the node's HTTP surface: the Simple JWT compatible
// endpoints, the native /v1 API and the health endpoints.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	n.compatRoutes(mux)
	n.apiRoutes(mux)
	n.gatewayRoutes(mux)
	n.adminRoutes(mux)
	n.metricsRoutes(mux)
	mux.HandleFunc("/healthz", methods(map[string]http.HandlerFunc{http.MethodGet: n.healthz}))
	mux.HandleFunc("/readyz", methods(map[string]http.HandlerFunc{http.MethodGet: n.readyz}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	})
	return n.recoverer(n.instrument(mux))
}

func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "role": n.cfg.Role, "node_id": n.nodeID})
}

func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	fs := n.FleetStatus()
	body := map[string]any{"ready": fs.Ready, "last_applied": fs.LastApplied, "stream_last": fs.StreamLast, "lag": fs.Lag}
	if !fs.Ready {
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// recoverer turns a panic into a logged 500 so one bad request cannot take
// the node down. A panic is a bug: the tests make sure no input reaches one.
func (n *Node) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				n.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// methods routes by method and answers others with a JSON 405.
func methods(hs map[string]http.HandlerFunc) http.HandlerFunc {
	allowed := make([]string, 0, len(hs))
	for m := range hs {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		if h, ok := hs[r.Method]; ok {
			h(w, r)
			return
		}
		if r.Method == http.MethodHead {
			if h, ok := hs[http.MethodGet]; ok {
				h(w, r)
				return
			}
		}
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("method %s not allowed; allowed: %s", r.Method, allow))
	}
}

// apiError is the native API's error body.
type apiError struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

func writeError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, apiError{Code: code, Detail: detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"code":"internal","detail":"cannot encode response"}`)
	}
	w.Write(append(b, '\n'))
}

// requireAdmin checks the admin bearer token in constant time. It writes
// the refusal and returns false when the request may not proceed: 403
// without an admin token, 429 for a client with too many failures, 401.
func (n *Node) requireAdmin(w http.ResponseWriter, r *http.Request) bool {
	if n.cfg.AdminToken == "" {
		writeError(w, http.StatusForbidden, "admin_disabled", "admin routes are disabled: no admin token is configured")
		return false
	}
	ok, wait := n.checkAdmin(r)
	switch {
	case ok:
		return true
	case wait > 0:
		tooManyFailures(w, wait)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="blnode-admin"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "admin token required")
	}
	return false
}

// checkAdmin reports whether r carries the admin bearer token. A wrong one
// counts against the client's failure budget (authlimit.go); once that is
// spent, wait > 0 says how long until it may try again, and the token is
// not checked. A request with no bearer token tries nothing and costs
// nothing.
func (n *Node) checkAdmin(r *http.Request) (ok bool, wait time.Duration) {
	if n.cfg.AdminToken == "" {
		return false, 0
	}
	got, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer {
		return false, 0
	}
	client := authClientOf(r)
	if wait, limited := n.authBlocked(client); limited {
		return false, wait
	}
	if n.adminTokenMatches(got) {
		return true, 0
	}
	n.authFailed(r, client, "admin bearer token")
	return false, 0
}

// adminTokenMatches compares SHA-256 digests so neither the content nor the
// length of the configured token leaks through timing.
func (n *Node) adminTokenMatches(got string) bool {
	if n.cfg.AdminToken == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(n.cfg.AdminToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// authBlocked reports whether client has spent its failure budget, and how
// long until it regains a try; a refusal is counted.
func (n *Node) authBlocked(client netip.Addr) (time.Duration, bool) {
	wait, limited := n.authLimit.blocked(client)
	if limited {
		n.metrics.authFailures.WithLabelValues("refused").Inc()
	}
	return wait, limited
}

// authFailed records a failed authentication of client, and logs when it
// spends the client's budget.
func (n *Node) authFailed(r *http.Request, client netip.Addr, what string) {
	n.metrics.authFailures.WithLabelValues("wrong").Inc()
	if n.authLimit.fail(client) {
		n.log.WarnContext(r.Context(), "too many failed authentications: refusing this client for a while",
			"client", client.String(), "what", what, "remote", r.RemoteAddr)
	}
}

// requireWriter refuses writes on a validator.
func (n *Node) requireWriter(w http.ResponseWriter) bool {
	if n.cfg.Role == RoleFull {
		return true
	}
	writeJSON(w, http.StatusForbidden, map[string]string{"code": "read_only",
		"detail": "this node is a " + string(n.cfg.Role) + " and accepts no writes", "role": string(n.cfg.Role)})
	return false
}

// invalidInputMessage is what a client is told of an ErrInvalidInput: the
// reason, without the package prefixes.
func invalidInputMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), ErrInvalidInput.Error()+": ")
	return strings.TrimPrefix(msg, persist.ErrInvalidRecord.Error()+": ")
}

// writeNodeError answers an error from the node's write or check path.
func (n *Node) writeNodeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrReadOnly):
		n.requireWriter(w)
	case errors.Is(err, ErrInvalidInput):
		writeError(w, http.StatusBadRequest, "invalid", invalidInputMessage(err))
	default:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the store is unavailable; try again")
	}
}
