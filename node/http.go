package node

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/node/admin"
	"github.com/blnode/blnode/node/api"
	"github.com/blnode/blnode/node/compat"
	"github.com/blnode/blnode/node/httpmetrics"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/oauth"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// ReasonRotated is the reason recorded on a refresh token that
// POST /api/token/refresh/ rotated. Presenting such a token again is reuse.
const ReasonRotated = compat.ReasonRotated

// The native API's bodies (package node/api), kept here for the clients
// that encode or decode them.
type (
	// BlacklistRequest is the body of POST /v1/blacklist.
	BlacklistRequest = api.BlacklistRequest
	// CheckResult is the answer of POST /v1/check.
	CheckResult = api.CheckResult
	// RecordJSON is a record as the API shows it.
	RecordJSON = api.RecordJSON
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
// endpoints, the native /v1 API, the OAuth and forward-auth endpoints, the
// admin pages, the metrics and the health endpoints. Every surface is
// mounted here.
func (n *Node) Handler() http.Handler {
	core := surfaceCore{n}
	mux := http.NewServeMux()
	compat.Register(mux, core, compat.Config{Role: n.cfg.Role, BlacklistTypes: n.cfg.CompatBlacklistTypes,
		AccessLifetime: n.cfg.AccessLifetime, RefreshLifetime: n.cfg.RefreshLifetime, NoRotateRefresh: n.cfg.NoRotateRefresh,
		ReuseDetection: n.cfg.ReuseDetection, RefreshGrace: n.cfg.RefreshGrace, RefreshFamilyLifetime: n.cfg.RefreshFamilyLifetime,
		JTIClaim: n.cfg.Token.JTIClaim, TypeClaim: n.cfg.Token.TokenTypeClaim,
		MaxBodyBytes: n.cfg.MaxBodyBytes, Now: n.cfg.Now, Logger: n.log})
	api.Register(mux, core, api.Config{Guard: n.auth, Role: n.cfg.Role, MaxBodyBytes: n.cfg.MaxBodyBytes, Now: n.cfg.Now, Logger: n.log})
	// The revocation routes admit the feed token besides read credentials.
	feed := nodehttp.NewFeedGuard(n.auth, n.cfg.FeedToken)
	api.RegisterRevocations(mux, core, api.RevocationsConfig{Guard: feed, Role: n.cfg.Role, Now: n.cfg.Now, Logger: n.log})
	var stream *events.Feed
	if n.fleet != nil {
		stream = n.fleet.feed
	}
	api.RegisterFeed(mux, api.FeedConfig{Guard: feed, Feed: stream, Streams: n.streams, Logger: n.log})
	oauth.Register(mux, core, oauth.Config{Guard: n.auth, Clients: n.cfg.OAuthClients, Role: n.cfg.Role,
		UserClaim: n.cfg.Token.UserIDClaim, MaxBodyBytes: n.cfg.MaxBodyBytes, Logger: n.log})
	// Any method. Envoy's ext_authz appends the original path to its
	// path_prefix, so /auth/<anything> is the same check.
	fa := n.forwardAuth()
	mux.Handle("/auth", fa)
	mux.Handle("/auth/", fa)
	mux.Handle(admin.Prefix, admin.Handler(core, admin.Config{Guard: n.auth, NodeID: n.nodeID, Role: n.cfg.Role,
		FlushInterval: n.cfg.FlushInterval, MaxBodyBytes: n.cfg.MaxBodyBytes, Now: n.cfg.Now, Logger: n.log}))
	mux.Handle("/metrics", httpmetrics.Handler(httpmetrics.Config{Gatherer: n.metrics.reg, AdminOnly: n.cfg.MetricsAdminOnly,
		Guard: n.auth, Logger: n.log}))
	mux.HandleFunc("/healthz", nodehttp.Methods(map[string]http.HandlerFunc{http.MethodGet: n.healthz}))
	mux.HandleFunc("/readyz", nodehttp.Methods(map[string]http.HandlerFunc{http.MethodGet: n.readyz}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		nodehttp.WriteError(w, http.StatusNotFound, "not_found", "no such route")
	})
	return n.recoverer(n.metrics.requests.Instrument(mux))
}

// surfaceCore is the node as its HTTP surface packages see it: the Node's
// own methods, the store's reads that the admin pages list and count, and
// the token rules the write endpoints share. Each surface takes it through
// its own narrow interface (admin.Core, oauth.Core, compat.Core, …).
type surfaceCore struct{ *Node }

// VerifySignature verifies raw's signature and claims (of wantType unless
// ""), without the blacklist: Verify without the check.
func (c surfaceCore) VerifySignature(raw, wantType string) (token.Claims, error) {
	return c.verifier.Verify(raw, wantType)
}

// CheckClaims applies the blacklist and the user's not-before to verified
// claims.
func (c surfaceCore) CheckClaims(cl token.Claims) error { return c.checkClaims(cl) }

// CanMint reports whether the node holds a signing key.
func (c surfaceCore) CanMint() bool { return c.verifier.CanMint() }

// Mint signs a new token.
func (c surfaceCore) Mint(o token.MintOptions) (string, token.Claims, error) {
	return c.verifier.Mint(o)
}

// DeriveKey returns a key derived from the signing key for label.
func (c surfaceCore) DeriveKey(label string) []byte { return c.verifier.DeriveKey(label) }

// Record turns verified claims into a store record.
func (c surfaceCore) Record(cl token.Claims, raw, reason string) persist.Record {
	return c.recordOf(cl, raw, reason)
}

// Lookup returns the stored record of jti (persist.ErrNotFound when none).
func (c surfaceCore) Lookup(_ context.Context, jti string) (persist.Record, error) {
	return c.store.Lookup(jti)
}

// List returns one page of stored records.
func (c surfaceCore) List(_ context.Context, q persist.Query) (persist.Page, error) {
	return c.store.List(q)
}

// CountExpired counts the entries a flush at cutoff would remove.
func (c surfaceCore) CountExpired(_ context.Context, cutoff int64) (int, error) {
	return c.store.CountExpired(cutoff)
}

func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	nodehttp.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "role": n.cfg.Role, "node_id": n.nodeID})
}

func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	fs := n.FleetStatus()
	body := map[string]any{"ready": fs.Ready, "last_applied": fs.LastApplied, "stream_last": fs.StreamLast, "lag": fs.Lag}
	// A JWKS never fetched: tokens only its keys verify are refused (fail
	// closed), so the node is not ready for traffic.
	if err := n.verifier.Ready(); err != nil {
		body["ready"], body["reason"] = false, err.Error()
		nodehttp.WriteJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	if !fs.Ready {
		nodehttp.WriteJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	nodehttp.WriteJSON(w, http.StatusOK, body)
}

// recoverer turns a panic into a logged 500 so one bad request cannot take
// the node down. A panic is a bug: the tests make sure no input reaches one.
func (n *Node) recoverer(next http.Handler) http.Handler {
	// Every answer's headers, one slice each shared by all (net/http never
	// writes into a header's values; an Add appends past the cap, to a
	// copy): no allocation per request.
	nosniff, noStore := []string{"nosniff"}[:1:1], []string{"no-store"}[:1:1]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				n.log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				nodehttp.WriteError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Cache-Control"] = noStore
		next.ServeHTTP(w, r)
	})
}
