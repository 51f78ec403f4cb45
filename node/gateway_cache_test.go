package node_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// TestAuthCacheHeaders checks the caching headers of /auth: no-store on
// every answer with the option off, as on every answer of the node's (as
// before the option existed); with it on, a pass may be
// kept min(max age, time to exp) in whole seconds rounded down, never when
// that is under a second, and a refusal never; Vary names the token's
// header, and Cookie when the token may come from one.
func TestAuthCacheHeaders(t *testing.T) {
	// 300 ms into a second: exp (whole seconds) is then 0.3 s short of
	// a whole number of seconds away, and must round down.
	now := time.Now().Truncate(time.Second).Add(300 * time.Millisecond)
	type want struct {
		status       int
		cacheControl string // "" is none
		accel        string // X-Accel-Expires; "" is none
		vary         string // the Vary values joined by ", "; "" is none
	}
	type request struct {
		name string
		hdr  func(tok cacheTokens) []string
		want want
	}
	tests := []struct {
		name     string
		maxAge   time.Duration
		cookie   string
		header   string
		requests []request
	}{
		{name: "off", requests: []request{
			{"pass", bearerOf(func(k cacheTokens) string { return k.long }), want{200, "no-store", "", ""}},
			{"pass near exp", bearerOf(func(k cacheTokens) string { return k.short }), want{200, "no-store", "", ""}},
			{"blacklisted", bearerOf(func(k cacheTokens) string { return k.blacklisted }), want{401, "no-store", "", ""}},
			{"no token", noTokenHeaders, want{401, "no-store", "", ""}},
		}},
		{name: "30s", maxAge: 30 * time.Second, requests: []request{
			{"exp far: the max age", bearerOf(func(k cacheTokens) string { return k.long }), want{200, "private, max-age=30", "30", "Authorization"}},
			{"exp in 11.7s: 11", bearerOf(func(k cacheTokens) string { return k.short }), want{200, "private, max-age=11", "11", "Authorization"}},
			{"exp in 0.7s: not kept", bearerOf(func(k cacheTokens) string { return k.dying }), want{200, "no-store", "0", "Authorization"}},
			{"sliding token", bearerOf(func(k cacheTokens) string { return k.sliding }), want{200, "private, max-age=30", "30", "Authorization"}},
			{"blacklisted", bearerOf(func(k cacheTokens) string { return k.blacklisted }), want{401, "no-store", "0", "Authorization"}},
			{"revoked user", bearerOf(func(k cacheTokens) string { return k.revokedUser }), want{401, "no-store", "0", "Authorization"}},
			{"expired", bearerOf(func(k cacheTokens) string { return k.expired }), want{401, "no-store", "0", "Authorization"}},
			{"refresh token", bearerOf(func(k cacheTokens) string { return k.refresh }), want{401, "no-store", "0", "Authorization"}},
			{"forged", bearerOf(func(cacheTokens) string { return "x.y.z" }), want{401, "no-store", "0", "Authorization"}},
			{"no token", noTokenHeaders, want{401, "no-store", "0", "Authorization"}},
		}},
		{name: "5s with a cookie", maxAge: 5 * time.Second, cookie: "access_token", requests: []request{
			{"header", bearerOf(func(k cacheTokens) string { return k.long }), want{200, "private, max-age=5", "5", "Authorization, Cookie"}},
			{"cookie", func(k cacheTokens) []string { return []string{"Cookie", "access_token=" + k.long} }, want{200, "private, max-age=5", "5", "Authorization, Cookie"}},
			{"exp sooner than the max age", bearerOf(func(k cacheTokens) string { return k.dying }), want{200, "no-store", "0", "Authorization, Cookie"}},
			{"blacklisted cookie", func(k cacheTokens) []string { return []string{"Cookie", "access_token=" + k.blacklisted} }, want{401, "no-store", "0", "Authorization, Cookie"}},
			{"no token", noTokenHeaders, want{401, "no-store", "0", "Authorization, Cookie"}},
		}},
		{name: "another header", maxAge: time.Minute, header: "x-api-token", requests: []request{
			{"pass", func(k cacheTokens) []string { return []string{"X-Api-Token", "Bearer " + k.long} }, want{200, "private, max-age=60", "60", "X-Api-Token"}},
			{"no token", noTokenHeaders, want{401, "no-store", "0", "X-Api-Token"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, srv := newNode(t, func(c *node.Config) {
				c.AuthCacheMaxAge = tc.maxAge
				c.AuthCookie = tc.cookie
				c.AuthHeader = tc.header
				c.Now = func() time.Time { return now }
			})
			k := mintCacheTokens(t, n, srv.URL, now)
			for _, rq := range tc.requests {
				t.Run(rq.name, func(t *testing.T) {
					got := do(t, http.MethodGet, srv.URL+"/auth", "", "", rq.hdr(k)...)
					checkCaching(t, got, rq.want.status, rq.want.cacheControl, rq.want.accel, rq.want.vary)
				})
			}
		})
	}

	t.Run("store unreadable", func(t *testing.T) {
		n, srv := newNode(t, func(c *node.Config) { c.AuthCacheMaxAge = 30 * time.Second })
		if err := n.Store().Close(); err != nil {
			t.Fatal(err)
		}
		tok, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
		got := do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+tok)
		checkCaching(t, got, http.StatusServiceUnavailable, "no-store", "0", "Authorization")
	})

	t.Run("middleware leaves caching to the handler", func(t *testing.T) {
		n, _ := newNode(t, func(c *node.Config) { c.AuthCacheMaxAge = 30 * time.Second })
		url := httptestServer(t, n.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "handler")
		})))
		tok, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
		got := do(t, http.MethodGet, url, "", "", "Authorization", "Bearer "+tok)
		checkCaching(t, got, 200, "", "", "")
	})
}

// TestAuthCacheMaxAgeConfig: a max age is whole seconds, so one under a
// second (or negative) is refused, naming the field.
func TestAuthCacheMaxAgeConfig(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 500 * time.Millisecond} {
		t.Run(d.String(), func(t *testing.T) {
			n, err := node.New(node.Config{DataDir: t.TempDir(), NATS: node.NATSConfig{Disabled: true}, AuthCacheMaxAge: d,
				Token: token.Config{HSSecret: secret}})
			if err == nil {
				n.Close()
				t.Fatalf("node.New accepted AuthCacheMaxAge %v", d)
			}
			if !strings.Contains(err.Error(), "AuthCacheMaxAge") {
				t.Errorf("error %q does not name AuthCacheMaxAge", err)
			}
		})
	}
}

// checkCaching checks the status and caching headers of an /auth answer.
func checkCaching(t *testing.T, got response, status int, cacheControl, accel, vary string) {
	t.Helper()
	if got.status != status {
		t.Fatalf("status %d, want %d: %s", got.status, status, got.body)
	}
	if cc := got.header.Get("Cache-Control"); cc != cacheControl {
		t.Errorf("Cache-Control %q, want %q", cc, cacheControl)
	}
	if xa := got.header.Get("X-Accel-Expires"); xa != accel {
		t.Errorf("X-Accel-Expires %q, want %q", xa, accel)
	}
	if v := strings.Join(got.header.Values("Vary"), ", "); v != vary {
		t.Errorf("Vary %q, want %q", v, vary)
	}
}

// cacheTokens are the tokens TestAuthCacheHeaders presents, minted at its now.
type cacheTokens struct {
	long, short, dying, sliding       string // pass: exp in 1h, 11.7s, 0.7s; a sliding token
	blacklisted, revokedUser, expired string // refused
	refresh                           string // refused: a type /auth does not accept
}

// mintCacheTokens mints the tokens of TestAuthCacheHeaders and revokes those
// that must be refused, through the node at url.
func mintCacheTokens(t *testing.T, n *node.Node, url string, now time.Time) cacheTokens {
	t.Helper()
	mint := func(typ string, user any, ttl time.Duration, at time.Time) string {
		tok, _ := sjwt.Token{Type: typ, User: user, TTL: ttl, Now: at}.Mint(secret)
		return tok
	}
	k := cacheTokens{
		long:        mint("access", 42, time.Hour, now),
		short:       mint("access", 42, 12*time.Second, now),
		dying:       mint("access", 42, time.Second, now),
		sliding:     mint("sliding", "bob", time.Hour, now),
		blacklisted: mint("access", 42, time.Hour, now),
		revokedUser: mint("access", 7, time.Hour, now.Add(-time.Minute)),
		expired:     mint("access", 42, -time.Second, now),
		refresh:     mint("refresh", 42, time.Hour, now),
	}
	if got := do(t, http.MethodPost, url+"/oauth/revoke", formType, tokenForm(k.blacklisted)); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if _, err := n.RevokeUser(t.Context(), "7", now); err != nil {
		t.Fatal(err)
	}
	return k
}

// bearerOf is a request's headers: Authorization with the token tok picks.
func bearerOf(tok func(cacheTokens) string) func(cacheTokens) []string {
	return func(k cacheTokens) []string { return []string{"Authorization", "Bearer " + tok(k)} }
}

// noTokenHeaders is a request's headers when it sends no token.
func noTokenHeaders(cacheTokens) []string { return nil }

// authCounter serves a node's handler and counts the requests that reach
// /auth (and /auth/…) by the Authorization header they carry: the checks a
// gateway did not answer from its cache.
type authCounter struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int
}

func newAuthCounter(h http.Handler) *authCounter {
	return &authCounter{h: h, n: make(map[string]int)}
}

func (c *authCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/auth" || strings.HasPrefix(r.URL.Path, "/auth/") {
		c.mu.Lock()
		c.n[r.Header.Get("Authorization")]++
		c.mu.Unlock()
	}
	c.h.ServeHTTP(w, r)
}

// checks returns how many requests with this Authorization header reached
// /auth.
func (c *authCounter) checks(authorization string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[authorization]
}

// nginxCacheConf is nginxConf with the auth location cached as the README
// shows: keyed by the credential, Cache-Control ignored (nginx 1.22 never
// caches "private") and the time taken from X-Accel-Expires.
const nginxCacheConf = `# written by TestNginxAuthCache
daemon off;
master_process off;
worker_processes 1;
%[1]s
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;

events {
	worker_connections 64;
}

http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	proxy_cache_path %[2]s/cache keys_zone=blnode_auth:1m max_size=16m inactive=10m;

	server {
		listen %[3]s;

		location / {
			auth_request /_auth;
			auth_request_set $blnode_user $upstream_http_x_blnode_user;
			proxy_set_header X-Blnode-User $blnode_user;
			proxy_pass http://%[5]s;
		}

		location = /_auth {
			internal;
			proxy_pass http://%[4]s/auth;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header Authorization $http_authorization;
			proxy_cache blnode_auth;
			proxy_cache_key $http_authorization;
			proxy_ignore_headers Cache-Control;
		}
	}
}
`

// TestNginxAuthCache puts a real nginx with auth_request and proxy_cache
// (the README's configuration) in front of blnode and counts the checks
// that reach blnode's /auth. With --auth-cache-max-age a pass is answered
// from nginx's cache within its max age — a token revoked meanwhile still
// passes there, the documented trade — while a refusal, and a pass too
// close to exp, reach blnode every time, even at an nginx that keeps every
// answer by default. Without the option nginx keeps nothing: every
// request is a check.
func TestNginxAuthCache(t *testing.T) {
	bin := findNginx(t)
	// A gateway that keeps every answer by default (proxy_cache_valid any)
	// still keeps no refusal: X-Accel-Expires: 0 overrides it.
	keepAll := strings.Replace(nginxCacheConf, "proxy_ignore_headers Cache-Control;", "proxy_ignore_headers Cache-Control;\n\t\t\tproxy_cache_valid any 10m;", 1)
	if keepAll == nginxCacheConf {
		t.Fatal("nginxCacheConf has no proxy_ignore_headers line to add proxy_cache_valid after")
	}
	for _, run := range []struct {
		name   string
		maxAge time.Duration
		conf   string
	}{
		{"off", 0, nginxCacheConf},
		{"1m", time.Minute, nginxCacheConf},
		{"1m, nginx keeping every answer by default", time.Minute, keepAll},
	} {
		maxAge := run.maxAge
		t.Run(run.name, func(t *testing.T) {
			n, direct := newNode(t, func(c *node.Config) { c.AuthCacheMaxAge = maxAge })
			counter := newAuthCounter(n.Handler())
			blnode := httptestServer(t, counter)
			upstream := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "upstream user=%s", r.Header.Get("X-Blnode-User"))
			}))
			proxy := startNginxConf(t, bin, run.conf, hostPort(t, blnode), hostPort(t, upstream))

			now := time.Now()
			valid, _ := sjwt.Token{Type: "access", User: 42, TTL: time.Hour}.Mint(secret)
			other, _ := sjwt.Token{Type: "access", User: 43, TTL: time.Hour}.Mint(secret)
			revokedLater, _ := sjwt.Token{Type: "access", User: 42, TTL: time.Hour}.Mint(secret)
			blacklisted, _ := sjwt.Token{Type: "access", User: 42, TTL: time.Hour}.Mint(secret)
			revokedUser, _ := sjwt.Token{Type: "access", User: 7, TTL: time.Hour, Now: now.Add(-time.Minute)}.Mint(secret)
			refreshTok, _ := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
			// exp under a second away, or past by the time blnode checks:
			// never kept.
			dying, _ := sjwt.Token{Type: "access", User: 42, TTL: time.Second, Now: now}.Mint(secret)
			if got := do(t, http.MethodPost, direct.URL+"/oauth/revoke", formType, tokenForm(blacklisted)); got.status != 200 {
				t.Fatalf("revoke: %d %s", got.status, got.body)
			}
			if _, err := n.RevokeUser(t.Context(), "7", now); err != nil {
				t.Fatal(err)
			}

			const tries = 3
			through := func(t *testing.T, auth string) response {
				t.Helper()
				var hdr []string
				if auth != "" {
					hdr = []string{"Authorization", auth}
				}
				got := do(t, http.MethodGet, proxy+"/orders", "", "", hdr...)
				if !strings.HasPrefix(got.header.Get("Server"), "nginx") {
					t.Fatalf("Server %q: the answer is not nginx's", got.header.Get("Server"))
				}
				return got
			}
			cached := maxAge > 0
			for _, tc := range []struct {
				name   string
				auth   string
				status int
				body   string // on 200, unless ""
				cached bool   // one check for all tries, else one per try
			}{
				{"valid token", "Bearer " + valid, 200, "upstream user=42", cached},
				{"another token: its own entry", "Bearer " + other, 200, "upstream user=43", cached},
				{"to be revoked", "Bearer " + revokedLater, 200, "upstream user=42", cached},
				{"near its exp", "Bearer " + dying, 0, "", false},
				{"blacklisted token", "Bearer " + blacklisted, 401, "", false},
				{"token of a revoked user", "Bearer " + revokedUser, 401, "", false},
				{"refresh token", "Bearer " + refreshTok, 401, "", false},
				{"forged token", "Bearer x.y.z", 401, "", false},
				{"no token", "", 401, "", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					for i := range tries {
						got := through(t, tc.auth)
						if tc.status != 0 && got.status != tc.status {
							t.Fatalf("try %d: status %d, want %d: %s", i, got.status, tc.status, got.body)
						}
						if got.status == 200 && tc.body != "" && got.body != tc.body {
							t.Errorf("try %d: upstream answered %q, want %q (the X-Blnode-User of a cached pass too)", i, got.body, tc.body)
						}
					}
					want := tries
					if tc.cached {
						want = 1
					}
					if c := counter.checks(tc.auth); c != want {
						t.Errorf("%d checks reached blnode for %d requests, want %d", c, tries, want)
					}
				})
			}

			// Revoke a token whose pass nginx has kept: blnode refuses it
			// at once, nginx lets it through until its pass expires (the
			// revocation delay the option trades for), asking nothing.
			if got := do(t, http.MethodPost, direct.URL+"/oauth/revoke", formType, tokenForm(revokedLater)); got.status != 200 {
				t.Fatalf("revoke: %d %s", got.status, got.body)
			}
			if got := do(t, http.MethodGet, direct.URL+"/auth", "", "", "Authorization", "Bearer "+revokedLater); got.status != 401 {
				t.Fatalf("blnode after the revocation: %d, want 401", got.status)
			}
			before := counter.checks("Bearer " + revokedLater)
			got := through(t, "Bearer "+revokedLater)
			after := counter.checks("Bearer " + revokedLater)
			if cached {
				if got.status != 200 || after != before {
					t.Errorf("within its max age: status %d and %d new checks, want 200 from nginx's cache and none", got.status, after-before)
				}
			} else if got.status != 401 || after != before+1 {
				t.Errorf("without caching: status %d and %d new checks, want 401 and one", got.status, after-before)
			}
		})
	}
}
