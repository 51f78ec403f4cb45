package nodehttp

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// GuardConfig configures a Guard. A zero field means the default beside it.
type GuardConfig struct {
	// AdminToken is the single admin bearer token, a write credential
	// named AdminName; "" adds none.
	AdminToken string
	// Credentials are the named admin credentials (a credentials file,
	// ParseCredentials), checked with MergeCredentials beforehand. With
	// neither these nor AdminToken, admin is off.
	Credentials []Credential
	Burst       int           // failed authentications in a row per client; <= 0: no limit
	Refill      time.Duration // one failure regained per Refill
	Now         func() time.Time
	// Failures counts failed authentications by result: wrong (counted
	// against the client) and refused (not checked). Nil counts nothing.
	Failures *prometheus.CounterVec
	Logger   *slog.Logger // default slog.Default()
}

// Guard checks admin credentials and keeps the failure budget of every
// client (Limiter): one per node, shared by all its surfaces.
type Guard struct {
	creds    atomic.Pointer[[]storedCredential]
	limit    *Limiter
	failures *prometheus.CounterVec
	log      *slog.Logger
}

// storedCredential is a credential with the SHA-256 of its token.
type storedCredential struct {
	Credential
	sum [sha256.Size]byte
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
	g := &Guard{limit: NewLimiter(cfg.Burst, cfg.Refill, 0, now), failures: cfg.Failures, log: log}
	creds := cfg.Credentials
	if cfg.AdminToken != "" {
		creds = append([]Credential{{Name: AdminName, Token: cfg.AdminToken, Scope: ScopeWrite}}, creds...)
	}
	g.SetCredentials(creds)
	return g
}

// SetCredentials replaces the credentials the guard accepts (a reload of
// the credentials file); signed-in admin page sessions are kept.
func (g *Guard) SetCredentials(creds []Credential) {
	stored := make([]storedCredential, 0, len(creds))
	for _, c := range creds {
		if c.Token != "" {
			stored = append(stored, storedCredential{Credential: c, sum: sha256.Sum256([]byte(c.Token))})
		}
	}
	g.creds.Store(&stored)
}

// Enabled reports whether any admin credential is configured.
func (g *Guard) Enabled() bool { return len(*g.creds.Load()) > 0 }

// Require checks that r carries a write credential (Authenticate); it
// writes the refusal and returns false when the request may not proceed.
func (g *Guard) Require(w http.ResponseWriter, r *http.Request) bool {
	_, ok := g.Authenticate(w, r, ScopeWrite)
	return ok
}

// RequireRead is Require for routes that only read: a read or write
// credential passes.
func (g *Guard) RequireRead(w http.ResponseWriter, r *http.Request) bool {
	_, ok := g.Authenticate(w, r, ScopeRead)
	return ok
}

// Authenticate checks r's admin bearer token in constant time and returns
// its credential. It writes the refusal and returns false when the request
// may not proceed: 403 without admin credentials, 429 for a client with
// too many failures, 401 for a missing or wrong token, 403 for a
// credential whose scope does not allow need.
func (g *Guard) Authenticate(w http.ResponseWriter, r *http.Request, need Scope) (Credential, bool) {
	if !g.Enabled() {
		WriteError(w, http.StatusForbidden, "admin_disabled", "admin routes are disabled: no admin token is configured")
		return Credential{}, false
	}
	c, ok, wait := g.Identify(r)
	switch {
	case ok && c.Scope.Allows(need):
		return c, true
	case ok:
		w.Header().Set("WWW-Authenticate", `Bearer realm="blnode-admin", error="insufficient_scope", scope="`+need.String()+`"`)
		WriteError(w, http.StatusForbidden, "insufficient_scope",
			"credential "+c.Name+" has "+c.Scope.String()+" scope; this route needs "+need.String())
	case wait > 0:
		TooManyFailures(w, wait)
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="blnode-admin"`)
		WriteError(w, http.StatusUnauthorized, "unauthorized", "admin token required")
	}
	return Credential{}, false
}

// Check reports whether r carries an admin credential of any scope
// (Identify).
func (g *Guard) Check(r *http.Request) (ok bool, wait time.Duration) {
	_, ok, wait = g.Identify(r)
	return ok, wait
}

// Identify returns the admin credential r's bearer token is. A wrong token
// counts against the client's failure budget; once that is spent, wait > 0
// says how long until it may try again, and the token is not checked. A
// request with no bearer token tries nothing and costs nothing.
func (g *Guard) Identify(r *http.Request) (c Credential, ok bool, wait time.Duration) {
	if !g.Enabled() {
		return Credential{}, false, 0
	}
	got, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer {
		return Credential{}, false, 0
	}
	client := ClientOf(r)
	if wait, limited := g.Blocked(client); limited {
		return Credential{}, false, wait
	}
	if c, ok := g.Match(got); ok {
		return c, true, 0
	}
	g.Failed(r, client, "admin bearer token")
	return Credential{}, false, 0
}

// TokenMatches reports whether got is the token of an admin credential.
func (g *Guard) TokenMatches(got string) bool {
	_, ok := g.Match(got)
	return ok
}

// Match returns the credential whose token is got. It compares SHA-256
// digests with every credential, so neither the content nor the length of
// a configured token, nor which one matched, leaks through timing.
func (g *Guard) Match(got string) (Credential, bool) {
	sum := sha256.Sum256([]byte(got))
	var found Credential
	hit := 0
	for _, c := range *g.creds.Load() {
		eq := subtle.ConstantTimeCompare(sum[:], c.sum[:])
		if eq == 1 {
			found = c.Credential
		}
		hit |= eq
	}
	return found, hit == 1
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

// Lookup returns the credential named name, if the guard (still) accepts
// it: a session signed in with a credential that a reload removed ends.
func (g *Guard) Lookup(name string) (Credential, bool) {
	for _, c := range *g.creds.Load() {
		if c.Name == name {
			return c.Credential, true
		}
	}
	return Credential{}, false
}
