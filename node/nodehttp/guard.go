package nodehttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// GuardConfig configures a Guard. A zero field means the default beside it.
type GuardConfig struct {
	AdminToken string        // the admin bearer token; "" switches admin off
	Burst      int           // failed authentications in a row per client; <= 0: no limit
	Refill     time.Duration // one failure regained per Refill
	Now        func() time.Time
	// Failures counts failed authentications by result: wrong (counted
	// against the client) and refused (not checked). Nil counts nothing.
	Failures *prometheus.CounterVec
	Logger   *slog.Logger // default slog.Default()
}

// Guard checks the admin credential and keeps the failure budget of every
// client (Limiter): one per node, shared by all its surfaces.
type Guard struct {
	token    string
	limit    *Limiter
	failures *prometheus.CounterVec
	log      *slog.Logger
}

// NewGuard returns a guard for cfg.
func NewGuard(cfg GuardConfig) *Guard {
	now, log := cfg.Now, cfg.Logger
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Guard{token: cfg.AdminToken, limit: NewLimiter(cfg.Burst, cfg.Refill, 0, now), failures: cfg.Failures, log: log}
}

// Enabled reports whether an admin token is configured.
func (g *Guard) Enabled() bool { return g.token != "" }

// Require checks the admin bearer token in constant time. It writes the
// refusal and returns false when the request may not proceed: 403 without
// an admin token, 429 for a client with too many failures, 401.
func (g *Guard) Require(w http.ResponseWriter, r *http.Request) bool {
	if g.token == "" {
		WriteError(w, http.StatusForbidden, "admin_disabled", "admin routes are disabled: no admin token is configured")
		return false
	}
	ok, wait := g.Check(r)
	switch {
	case ok:
		return true
	case wait > 0:
		TooManyFailures(w, wait)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="blnode-admin"`)
		WriteError(w, http.StatusUnauthorized, "unauthorized", "admin token required")
	}
	return false
}

// Check reports whether r carries the admin bearer token. A wrong one
// counts against the client's failure budget; once that is spent, wait > 0
// says how long until it may try again, and the token is not checked. A
// request with no bearer token tries nothing and costs nothing.
func (g *Guard) Check(r *http.Request) (ok bool, wait time.Duration) {
	if g.token == "" {
		return false, 0
	}
	got, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer {
		return false, 0
	}
	client := ClientOf(r)
	if wait, limited := g.Blocked(client); limited {
		return false, wait
	}
	if g.TokenMatches(got) {
		return true, 0
	}
	g.Failed(r, client, "admin bearer token")
	return false, 0
}

// TokenMatches compares SHA-256 digests so neither the content nor the
// length of the configured token leaks through timing.
func (g *Guard) TokenMatches(got string) bool {
	if g.token == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(g.token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Blocked reports whether client has spent its failure budget, and how
// long until it regains a try; a refusal is counted.
func (g *Guard) Blocked(client netip.Addr) (time.Duration, bool) {
	wait, limited := g.limit.Blocked(client)
	if limited && g.failures != nil {
		g.failures.WithLabelValues("refused").Inc()
	}
	return wait, limited
}

// Failed records a failed authentication of client (what names the
// credential), and logs when it spends the client's budget.
func (g *Guard) Failed(r *http.Request, client netip.Addr, what string) {
	if g.failures != nil {
		g.failures.WithLabelValues("wrong").Inc()
	}
	if g.limit.Fail(client) {
		g.log.WarnContext(r.Context(), "too many failed authentications: refusing this client for a while",
			"client", client.String(), "what", what, "remote", r.RemoteAddr)
	}
}
