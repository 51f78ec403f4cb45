package node_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// transportFrom is a transport whose connections leave from the loopback
// address ip (Linux routes all of 127/8 to lo), so a test can be several
// clients.
func transportFrom(ip string) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
}

// TestAuthFailureLimit is issue 17: nothing limited guessing the admin
// token or an OAuth client secret. Each surface that checks one now allows
// a client IP 10 failures in a row, then answers 429 with Retry-After
// (JSON; HTML on the sign-in page) without checking what it is sent — the
// right credential included, or a 200 among the 429s would tell a guesser
// which guess was right — while other clients go on as before. A failure
// is regained every second; successes never take from the budget.
func TestAuthFailureLimit(t *testing.T) {
	tok, _ := sjwt.Token{Type: "access", User: 7}.Mint(secret)
	type surface struct {
		name string
		mod  func(*node.Config)
		// try authenticates with the right or a wrong credential from
		// the client at ip and returns the answer.
		try func(t *testing.T, base, ip string, right bool) response
		ok  int    // status of a success
		ct  string // content type of the 429
	}
	bearer := func(method, path, ctype, body string) func(t *testing.T, base, ip string, right bool) response {
		return func(t *testing.T, base, ip string, right bool) response {
			cred := "Bearer wrong-admin-token"
			if right {
				cred = "Bearer admin-secret"
			}
			return sendFrom(t, ip, method, base+path, ctype, body, "Authorization", cred)
		}
	}
	basic := func(path string) func(t *testing.T, base, ip string, right bool) response {
		return func(t *testing.T, base, ip string, right bool) response {
			u, p := "client", "wrong"
			if right {
				p = "client-secret"
			}
			return sendFrom(t, ip, http.MethodPost, base+path, formType, tokenForm(tok), "Authorization", basicAuth(u, p))
		}
	}
	surfaces := []surface{
		{name: "v1 admin route", try: bearer(http.MethodGet, "/v1/status", "", ""), ok: 200, ct: "application/json"},
		{name: "v1 admin blacklist by jti", try: bearer(http.MethodPost, "/v1/blacklist", "application/json", `{"jti":"j-limit","exp":4102444800}`), ok: 200, ct: "application/json"},
		{name: "metrics, admin only", mod: func(c *node.Config) { c.MetricsAdminOnly = true }, try: bearer(http.MethodGet, "/metrics", "", ""), ok: 200, ct: "application/json"},
		{name: "introspection, admin bearer", try: bearer(http.MethodPost, "/oauth/introspect", formType, tokenForm(tok)), ok: 200, ct: "application/json"},
		{name: "introspection, OAuth client", mod: withClient, try: basic("/oauth/introspect"), ok: 200, ct: "application/json"},
		{name: "revocation, OAuth client", mod: withClient, try: basic("/oauth/revoke"), ok: 200, ct: "application/json"},
		{name: "admin sign-in", try: func(t *testing.T, base, ip string, right bool) response {
			a := newAdminClient(t, base)
			a.c.Transport = transportFrom(ip)
			cred := "wrong-admin-token"
			if right {
				cred = "admin-secret"
			}
			return a.post("/admin/login", url.Values{"token": {cred}})
		}, ok: http.StatusSeeOther, ct: "text/html; charset=utf-8"},
	}
	const attacker, other = "127.0.0.1", "127.0.0.2"
	for _, s := range surfaces {
		t.Run(s.name, func(t *testing.T) {
			clock := &testClock{t: time.Now().Truncate(time.Second)}
			n, srv := newNode(t, func(c *node.Config) {
				c.Now = clock.Now
				if s.mod != nil {
					s.mod(c)
				}
			})
			wrongWant := http.StatusUnauthorized
			for i := range 10 {
				if got := s.try(t, srv.URL, attacker, false); got.status != wrongWant {
					t.Fatalf("wrong credential %d: %d %s, want %d", i+1, got.status, got.body, wrongWant)
				}
			}
			got := s.try(t, srv.URL, attacker, false)
			if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") != "1" || got.header.Get("Content-Type") != s.ct {
				t.Fatalf("11th wrong credential: %d, Retry-After %q, %q %s; want 429, Retry-After 1, %s",
					got.status, got.header.Get("Retry-After"), got.header.Get("Content-Type"), got.body, s.ct)
			}
			if s.ct == "application/json" && !json.Valid([]byte(got.body)) {
				t.Errorf("429 body %q is not JSON", got.body)
			}
			// Locked out: the right credential is not checked either.
			if got := s.try(t, srv.URL, attacker, true); got.status != http.StatusTooManyRequests {
				t.Errorf("right credential while locked out: %d %s, want 429", got.status, got.body)
			}
			// Another client is not affected, and its successes are never limited.
			if got := s.try(t, srv.URL, other, false); got.status != wrongWant {
				t.Errorf("another IP, wrong credential: %d %s, want %d", got.status, got.body, wrongWant)
			}
			for i := range 15 {
				if got := s.try(t, srv.URL, other, true); got.status != s.ok {
					t.Fatalf("another IP, right credential %d: %d %s, want %d", i+1, got.status, got.body, s.ok)
				}
			}
			// One second later one failure is regained: the right
			// credential passes, and successes take nothing, so one
			// wrong guess is still allowed after them; the next is not.
			clock.advance(time.Second)
			for i := range 5 {
				if got := s.try(t, srv.URL, attacker, true); got.status != s.ok {
					t.Fatalf("a second later, right credential %d: %d %s, want %d", i+1, got.status, got.body, s.ok)
				}
			}
			if got := s.try(t, srv.URL, attacker, false); got.status != wrongWant {
				t.Errorf("a second later, wrong credential: %d %s, want %d", got.status, got.body, wrongWant)
			}
			if got := s.try(t, srv.URL, attacker, false); got.status != http.StatusTooManyRequests {
				t.Errorf("then another wrong credential: %d %s, want 429", got.status, got.body)
			}
			// Ten seconds on, the whole budget is back.
			clock.advance(10 * time.Second)
			for i := range 10 {
				if got := s.try(t, srv.URL, attacker, false); got.status != wrongWant {
					t.Fatalf("ten seconds later, wrong credential %d: %d %s, want %d", i+1, got.status, got.body, wrongWant)
				}
			}
			// The operator sees it: 22 wrong credentials, 3 refused unchecked.
			byName := gather(t, n)
			for result, want := range map[string]float64{"wrong": 22, "refused": 3} {
				if got, _ := value(byName, "blnode_auth_failures_total", "result", result); got != want {
					t.Errorf("blnode_auth_failures_total{result=%q} = %v, want %v", result, got, want)
				}
			}
		})
	}
}

// TestAuthFailureLimitOff: a negative AuthFailureBurst turns the limit off.
func TestAuthFailureLimitOff(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.AuthFailureBurst = -1 })
	for i := range 30 {
		if got := do(t, http.MethodGet, srv.URL+"/v1/status", "", "", "Authorization", "Bearer wrong"); got.status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d %s, want 401", i+1, got.status, got.body)
		}
	}
}

func withClient(c *node.Config) { c.OAuthClients = map[string]string{"client": "client-secret"} }

// sendFrom is do, from the loopback address ip.
func sendFrom(t testing.TB, ip, method, url, contentType, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{Transport: transportFrom(ip), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, strings.TrimSpace(string(b))}
}

func basicAuth(user, pass string) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}
