package node_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// admin is a browser-like client of the admin pages: a cookie jar, no
// redirects followed, the CSRF token of the last page it read.
type adminClient struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newAdminClient(t testing.TB, base string) *adminClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &adminClient{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// adminSignIn returns a client that has signed in with the admin token.
func adminSignIn(t testing.TB, base string) *adminClient {
	t.Helper()
	a := newAdminClient(t, base)
	res := a.post("/admin/login", url.Values{"token": {"admin-secret"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/admin/tokens" {
		t.Fatalf("sign in: %d %s, want 303 to /admin/tokens", res.status, res.header.Get("Location"))
	}
	a.get("/admin/tokens")
	if a.csrf == "" {
		t.Fatal("no CSRF token on the tokens page after sign in")
	}
	return a
}

func (a *adminClient) do(req *http.Request) response {
	a.t.Helper()
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		a.csrf = string(m[1])
	}
	if resp.StatusCode >= 500 {
		a.t.Errorf("%s %s: %d, want no 5xx; body %.300s", req.Method, req.URL, resp.StatusCode, b)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (a *adminClient) get(path string) response {
	a.t.Helper()
	req, err := http.NewRequestWithContext(a.t.Context(), http.MethodGet, a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.do(req)
}

// post sends a form as a same-origin browser would, with the session's
// CSRF token unless form sets one.
func (a *adminClient) post(path string, form url.Values, hdr ...string) response {
	a.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && a.csrf != "" {
		form.Set("csrf", a.csrf)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), http.MethodPost, a.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", a.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	return a.do(req)
}

func wantHTML(t testing.TB, res response, status int, contains ...string) {
	t.Helper()
	if res.status != status {
		t.Errorf("status %d, want %d; body %.400s", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	for _, s := range contains {
		if !strings.Contains(res.body, s) {
			t.Errorf("page lacks %q; body %.600s", s, res.body)
		}
	}
}

// registerToken mints and registers a token through POST /v1/outstanding.
func registerToken(t testing.TB, base string, tok sjwt.Token) (string, string) {
	t.Helper()
	raw, jti := tok.Mint(secret)
	if res := postJSON(t, base+"/v1/outstanding", `{"token":`+jsonString(raw)+`}`); res.status != http.StatusOK {
		t.Fatalf("register: %d %s", res.status, res.body)
	}
	return raw, jti
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.AdminToken = "" })
	a := newAdminClient(t, srv.URL)
	for _, path := range []string{"/admin/", "/admin/login", "/admin/tokens", "/admin/node", "/admin/nope"} {
		wantHTML(t, a.get(path), http.StatusForbidden, "Admin is disabled", `<html lang="en">`)
	}
	wantHTML(t, a.post("/admin/login", url.Values{"token": {""}}), http.StatusForbidden, "Admin is disabled")
	if res := a.get("/admin/static/admin.css"); res.status != http.StatusOK {
		t.Errorf("style sheet: %d, want 200 even with admin disabled", res.status)
	}
}

func TestAdminSignInAndOut(t *testing.T) {
	clk := newClock(time.Now())
	_, srv := newNode(t, func(c *node.Config) { c.Now = clk.Now })
	a := newAdminClient(t, srv.URL)

	res := a.get("/admin/tokens?user=42")
	wantHTML(t, res, http.StatusUnauthorized, "Sign in to continue", `name="next" value="/admin/tokens?user=42"`, `<label for="token">`)
	wantHTML(t, a.post("/admin/login", url.Values{"token": {"wrong"}}), http.StatusUnauthorized, "not this node&#39;s admin token")
	wantHTML(t, a.post("/admin/login", url.Values{"token": {strings.Repeat("x", 5000)}}), http.StatusUnauthorized)

	res = a.post("/admin/login", url.Values{"token": {"admin-secret"}, "next": {"/admin/tokens?user=42"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/admin/tokens?user=42" {
		t.Fatalf("sign in: %d to %q, want 303 to the page asked for", res.status, res.header.Get("Location"))
	}
	cookie := res.header.Get("Set-Cookie")
	for _, attr := range []string{"blnode_admin=", "Path=/admin/", "HttpOnly", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("Set-Cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("Set-Cookie %q is Secure on plain HTTP: the browser would drop it", cookie)
	}
	wantHTML(t, a.get("/admin/tokens"), http.StatusOK, "Outstanding tokens", "Sign out")

	// Signing out ends the session on the server, not only in the browser.
	old := a.csrf
	res = a.post("/admin/logout", nil)
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/admin/login") {
		t.Fatalf("logout: %d %q", res.status, res.header.Get("Location"))
	}
	wantHTML(t, a.get("/admin/login?signed_out=1"), http.StatusOK, "You are signed out")
	wantHTML(t, a.get("/admin/tokens"), http.StatusUnauthorized, "Sign in to continue")

	// A session expires after 12 hours of the node's clock.
	a = adminSignIn(t, srv.URL)
	if a.csrf == old {
		t.Error("a new session reused the old CSRF token")
	}
	clk.Add(12*time.Hour + time.Second)
	wantHTML(t, a.get("/admin/node"), http.StatusUnauthorized, "Sign in to continue")
}

func TestAdminSignInOverTLSSetsSecureCookie(t *testing.T) {
	n, _ := newNode(t, nil)
	srv := httptest.NewTLSServer(n.Handler())
	t.Cleanup(srv.Close)
	a := newAdminClient(t, srv.URL)
	a.c.Transport = srv.Client().Transport
	res := a.post("/admin/login", url.Values{"token": {"admin-secret"}})
	if res.status != http.StatusSeeOther || !strings.Contains(res.header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("sign in over TLS: %d, Set-Cookie %q, want 303 and a Secure cookie", res.status, res.header.Get("Set-Cookie"))
	}
}

func TestAdminNextCannotLeaveTheAdmin(t *testing.T) {
	_, srv := newNode(t, nil)
	for _, next := range []string{"//evil.example/admin/", "https://evil.example/admin/", "/admin/../v1/tokens", "/\\evil.example",
		"/admin/login", "/admin/logout", "/v1/status", "javascript:alert(1)"} {
		a := newAdminClient(t, srv.URL)
		res := a.post("/admin/login", url.Values{"token": {"admin-secret"}, "next": {next}})
		if loc := res.header.Get("Location"); loc != "/admin/tokens" {
			t.Errorf("next=%q: redirected to %q, want /admin/tokens", next, loc)
		}
	}
}

func TestAdminSessionsAreBounded(t *testing.T) {
	_, srv := newNode(t, nil)
	first := adminSignIn(t, srv.URL)
	for range 70 {
		adminSignIn(t, srv.URL)
	}
	wantHTML(t, first.get("/admin/tokens"), http.StatusUnauthorized, "Sign in to continue")
}

func TestAdminTokenList(t *testing.T) {
	clk := newClock(time.Now().Truncate(time.Second))
	_, srv := newNode(t, func(c *node.Config) { c.Now = clk.Now })
	var user42 []string
	for range 3 {
		_, jti := registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: 42, Now: clk.Now()})
		user42 = append(user42, jti)
	}
	_, other := registerToken(t, srv.URL, sjwt.Token{Type: "access", User: "alice", Now: clk.Now(), TTL: 2 * time.Hour})
	_, short := registerToken(t, srv.URL, sjwt.Token{Type: "access", User: "bob", Now: clk.Now(), TTL: time.Minute})
	a := adminSignIn(t, srv.URL)

	res := a.get("/admin/tokens")
	wantHTML(t, res, http.StatusOK, "5 tokens on this page", "Token id (jti)", "Created", "Expires", "Status", other)
	for _, jti := range user42 {
		if !strings.Contains(res.body, jti) {
			t.Errorf("list lacks %s", jti)
		}
	}

	res = a.get("/admin/tokens?user=42")
	wantHTML(t, res, http.StatusOK, "3 tokens on this page", "Revoke all tokens of user 42")
	if strings.Contains(res.body, other) {
		t.Error("search by user 42 shows alice's token")
	}
	wantHTML(t, a.get("/admin/tokens?jti="+other), http.StatusOK, "1 token on this page", other)

	// Blacklist one: the blacklisted filter and the status column follow.
	if res := a.post("/admin/blacklist", url.Values{"jti": {user42[0]}, "reason": {"laptop stolen"}}); res.status != http.StatusSeeOther {
		t.Fatalf("blacklist: %d %s", res.status, res.body)
	}
	res = a.get("/admin/tokens?blacklisted=yes")
	wantHTML(t, res, http.StatusOK, "1 token on this page", user42[0], `status-blacklisted`)
	res = a.get("/admin/tokens?blacklisted=no")
	wantHTML(t, res, http.StatusOK, "4 tokens on this page")
	if strings.Contains(res.body, user42[0]) {
		t.Error("blacklisted=no shows the blacklisted token")
	}

	// Expiry follows the node's clock.
	clk.Add(5 * time.Minute)
	res = a.get("/admin/tokens?expired=yes")
	wantHTML(t, res, http.StatusOK, "1 token on this page", short, "status-expired")
	wantHTML(t, a.get("/admin/tokens?expired=no"), http.StatusOK, "4 tokens on this page")

	// Sorting orders the page; the header says which way.
	res = a.get("/admin/tokens?sort=-expires")
	wantHTML(t, res, http.StatusOK, `aria-sort="descending"`, "sorted within the page")
	if i, j := strings.Index(res.body, user42[1]), strings.Index(res.body, short); i < 0 || j < 0 || i > j {
		t.Error("sort=-expires: the 24h refresh token is not above the 1m access token")
	}
	res = a.get("/admin/tokens?sort=expires")
	if i, j := strings.Index(res.body, user42[1]), strings.Index(res.body, short); i < 0 || j < 0 || i < j {
		t.Error("sort=expires: the 1m access token is not above the 24h refresh token")
	}
	res = a.get("/admin/tokens?sort=-jti")
	if rows := jtisIn(res.body); len(rows) != 5 || rows[0] < rows[4] {
		t.Errorf("sort=-jti: rows %v not in descending order", rows)
	}

	// Pages: a cursor walks the list, two at a time, each token once.
	seen := map[string]bool{}
	path := "/admin/tokens?limit=2"
	for page := 0; path != "" && page < 10; page++ {
		res := a.get(path)
		wantHTML(t, res, http.StatusOK)
		for _, jti := range jtisIn(res.body) {
			if seen[jti] {
				t.Errorf("%s on two pages", jti)
			}
			seen[jti] = true
		}
		path = ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(res.body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
			if page > 0 && !strings.Contains(res.body, "First page") {
				t.Error("a later page has no link to the first")
			}
		}
	}
	if len(seen) != 5 {
		t.Errorf("pages showed %d tokens, want 5", len(seen))
	}
}

// jtisIn returns the token ids of a list page's rows, in order.
func jtisIn(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<tr data-jti="([^"]+)">`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestAdminActions(t *testing.T) {
	clk := newClock(time.Now().Truncate(time.Second))
	_, srv := newNode(t, func(c *node.Config) { c.Now = clk.Now })
	raw, jti := registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: 42, Now: clk.Now()})
	_, jti2 := registerToken(t, srv.URL, sjwt.Token{Type: "access", User: 42, Now: clk.Now()})
	_, bob := registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: "bob", Now: clk.Now()})
	a := adminSignIn(t, srv.URL)

	t.Run("blacklist", func(t *testing.T) {
		res := a.post("/admin/blacklist", url.Values{"jti": {jti}, "reason": {"  laptop <stolen>  "}})
		if res.status != http.StatusSeeOther || res.header.Get("Location") != "/admin/tokens/"+jti+"?msg=blacklisted" {
			t.Fatalf("blacklist: %d %q", res.status, res.header.Get("Location"))
		}
		wantHTML(t, a.get("/admin/tokens/"+jti+"?msg=blacklisted"), http.StatusOK,
			"Token blacklisted", "status-blacklisted", "laptop &lt;stolen&gt;", "refresh")
		if res := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(raw)+`}`); res.status != http.StatusBadRequest ||
			!strings.Contains(res.body, "Token is blacklisted") {
			t.Errorf("verify after admin blacklist: %d %s", res.status, res.body)
		}
		res = a.get("/admin/blacklisted")
		wantHTML(t, res, http.StatusOK, jti, "laptop &lt;stolen&gt;", "Blacklisted at", "Origin node")
		if strings.Contains(res.body, jti2) {
			t.Error("the blacklisted list shows a token that is not blacklisted")
		}
		res = a.post("/admin/blacklist", url.Values{"jti": {jti}, "reason": {"again"}})
		if loc := res.header.Get("Location"); !strings.HasSuffix(loc, "msg=already_blacklisted") {
			t.Errorf("second blacklist redirected to %q", loc)
		}
	})

	t.Run("revoke user", func(t *testing.T) {
		clk.Add(2 * time.Second) // iat has one-second resolution
		res := a.post("/admin/users/revoke", url.Values{"user": {"42"}})
		if res.status != http.StatusSeeOther || res.header.Get("Location") != "/admin/tokens?msg=revoked&user=42" {
			t.Fatalf("revoke: %d %q", res.status, res.header.Get("Location"))
		}
		res = a.get("/admin/tokens?msg=revoked&user=42")
		wantHTML(t, res, http.StatusOK, "User revoked", "2 tokens on this page")
		if strings.Contains(res.body, "status-active") {
			t.Error("a token of the revoked user is still shown active")
		}
		if res := a.get("/admin/tokens/" + bob); !strings.Contains(res.body, "status-active") {
			t.Error("revoking user 42 changed bob's token")
		}
	})

	t.Run("flush", func(t *testing.T) {
		clk.Add(48 * time.Hour)
		a = adminSignIn(t, srv.URL) // the move expired the session too
		res := a.get("/admin/flush")
		m := regexp.MustCompile(`id="flush-count">(\d+)<`).FindStringSubmatch(res.body)
		if m == nil {
			t.Fatalf("no count on the confirmation page: %.600s", res.body)
		}
		if m[1] == "0" {
			t.Fatal("the confirmation counts nothing to remove after every token expired")
		}
		res = a.post("/admin/flush", nil)
		wantHTML(t, res, http.StatusOK, `id="flush-removed">`+m[1]+`<`)
		wantHTML(t, a.get("/admin/tokens"), http.StatusOK, "No tokens match")
		wantHTML(t, a.get("/admin/flush"), http.StatusOK, `id="flush-count">0<`)
	})
}

func TestAdminNodePage(t *testing.T) {
	_, srv := newNode(t, nil)
	registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: 42})
	a := adminSignIn(t, srv.URL)
	wantHTML(t, a.get("/admin/node"), http.StatusOK, `id="node-role">full<`, `id="node-nats">disabled<`,
		`id="node-outstanding">1<`, "Outbox depth", "Lag", "Store size", "Region", "Last applied sequence")
}

func TestAdminOnValidator(t *testing.T) {
	n, srv := newNode(t, func(c *node.Config) { c.Role = node.RoleValidator })
	if _, err := n.Store().AddOutstanding(adminRecord(t, "v-jti"), nil); err != nil {
		t.Fatal(err)
	}
	a := adminSignIn(t, srv.URL)
	for _, path := range []string{"/admin/tokens", "/admin/tokens?user=42", "/admin/tokens/v-jti", "/admin/flush"} {
		res := a.get(path)
		wantHTML(t, res, http.StatusOK)
		for _, action := range []string{`action="/admin/blacklist"`, `action="/admin/users/revoke"`, `action="/admin/flush"`} {
			if strings.Contains(res.body, action) {
				t.Errorf("%s on a validator shows the form %s", path, action)
			}
		}
	}
	for path, form := range map[string]url.Values{
		"/admin/blacklist":    {"jti": {"v-jti"}, "reason": {"x"}},
		"/admin/users/revoke": {"user": {"42"}},
		"/admin/flush":        {},
	} {
		wantHTML(t, a.post(path, form), http.StatusForbidden, "Read-only node")
	}
	if b, _ := n.Check("v-jti"); b {
		t.Error("the validator blacklisted a token")
	}
}

// TestAdminBadInputs sends what a careless or hostile client might: each
// gets an HTML page with a 4xx status, never a 5xx or a panic.
func TestAdminBadInputs(t *testing.T) {
	_, srv := newNode(t, nil)
	_, jti := registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: 42})
	a := adminSignIn(t, srv.URL)
	anon := newAdminClient(t, srv.URL)
	long := strings.Repeat("x", 300)
	cases := []struct {
		name   string
		send   func() response
		status int
		want   string
	}{
		{"blacklist without CSRF token", func() response {
			return a.post("/admin/blacklist", url.Values{"jti": {jti}, "csrf": {""}})
		}, 403, "security token"},
		{"blacklist with a wrong CSRF token", func() response {
			return a.post("/admin/blacklist", url.Values{"jti": {jti}, "csrf": {"forged"}})
		}, 403, "security token"},
		{"CSRF token in the query only", func() response {
			return a.post("/admin/blacklist?csrf="+url.QueryEscape(a.csrf), url.Values{"jti": {jti}, "csrf": {""}})
		}, 403, "security token"},
		{"blacklist without a session", func() response {
			return anon.post("/admin/blacklist", url.Values{"jti": {jti}, "csrf": {a.csrf}})
		}, 401, "Sign in"},
		{"revoke without a session", func() response { return anon.post("/admin/users/revoke", url.Values{"user": {"42"}}) }, 401, "Sign in"},
		{"flush without a session", func() response { return anon.post("/admin/flush", nil) }, 401, "Sign in"},
		{"logout without a session", func() response { return anon.post("/admin/logout", nil) }, 401, "Sign in"},
		{"page without a session", func() response { return anon.get("/admin/blacklisted") }, 401, "Sign in"},
		{"detail without a session", func() response { return anon.get("/admin/tokens/" + jti) }, 401, "Sign in"},
		{"forged session cookie", func() response {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/admin/node", nil)
			req.AddCookie(&http.Cookie{Name: "blnode_admin", Value: "forged"})
			return anon.do(req)
		}, 401, "Sign in"},
		{"cross-origin POST (Sec-Fetch-Site)", func() response {
			return a.post("/admin/flush", nil, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
		}, 403, "another site"},
		{"cross-origin POST (Origin only)", func() response {
			return a.post("/admin/flush", nil, "Sec-Fetch-Site", "", "Origin", "http://evil.example")
		}, 403, "another site"},
		{"cross-origin POST (Referer only)", func() response {
			return a.post("/admin/flush", nil, "Sec-Fetch-Site", "", "Origin", "", "Referer", "http://evil.example/page")
		}, 403, "another site"},
		{"cross-origin sign in", func() response {
			return anon.post("/admin/login", url.Values{"token": {"admin-secret"}}, "Sec-Fetch-Site", "cross-site")
		}, 403, "another site"},
		{"unknown jti: detail", func() response { return a.get("/admin/tokens/no-such-token") }, 404, "Token not found"},
		{"unknown jti: blacklist", func() response {
			return a.post("/admin/blacklist", url.Values{"jti": {"no-such-token"}})
		}, 404, "Token not found"},
		{"over-long jti: detail", func() response { return a.get("/admin/tokens/" + long) }, 400, "Bad token id"},
		{"over-long jti: blacklist", func() response { return a.post("/admin/blacklist", url.Values{"jti": {long}}) }, 400, "Bad token id"},
		{"empty jti: blacklist", func() response { return a.post("/admin/blacklist", url.Values{"jti": {""}}) }, 400, "Bad token id"},
		{"over-long reason", func() response {
			return a.post("/admin/blacklist", url.Values{"jti": {jti}, "reason": {strings.Repeat("r", 501)}})
		}, 400, "Reason too long"},
		{"over-long user: revoke", func() response {
			return a.post("/admin/users/revoke", url.Values{"user": {strings.Repeat("u", 1025)}})
		}, 400, "Bad user id"},
		{"empty user: revoke", func() response { return a.post("/admin/users/revoke", url.Values{"user": {""}}) }, 400, "Bad user id"},
		{"NUL in user: revoke", func() response { return a.post("/admin/users/revoke", url.Values{"user": {"a\x00b"}}) }, 400, "Bad user id"},
		{"invalid UTF-8 in a form", func() response {
			return a.post("/admin/blacklist", url.Values{"jti": {jti}, "reason": {"\xff\xfe"}})
		}, 400, "UTF-8"},
		{"over-long user: search", func() response { return a.get("/admin/tokens?user=" + strings.Repeat("u", 1025)) }, 400, "user id"},
		{"over-long jti: search", func() response { return a.get("/admin/tokens?jti=" + long) }, 400, "token id"},
		{"bad cursor", func() response { return a.get("/admin/tokens?cursor=" + long) }, 400, "cursor"},
		{"bad cursor encoding", func() response { return a.get("/admin/tokens?cursor=%ff") }, 400, "UTF-8"},
		{"bad filter", func() response { return a.get("/admin/tokens?blacklisted=maybe") }, 400, "yes or no"},
		{"bad expired filter", func() response { return a.get("/admin/blacklisted?expired=2") }, 400, "yes or no"},
		{"bad sort", func() response { return a.get("/admin/tokens?sort=password") }, 400, "sort"},
		{"bad limit", func() response { return a.get("/admin/tokens?limit=100000") }, 400, "limit"},
		{"negative limit", func() response { return a.get("/admin/tokens?limit=-1") }, 400, "limit"},
		{"GET an action", func() response { return a.get("/admin/blacklist") }, 405, "Method not allowed"},
		{"POST a page", func() response { return a.post("/admin/tokens", nil) }, 405, "Method not allowed"},
		{"DELETE a page", func() response {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, srv.URL+"/admin/node", nil)
			return a.do(req)
		}, 405, "Method not allowed"},
		{"PUT the style sheet", func() response {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, srv.URL+"/admin/static/admin.css", nil)
			return a.do(req)
		}, 405, "Method not allowed"},
		{"unknown page", func() response { return a.get("/admin/passwords") }, 404, "Not found"},
		{"unknown page, other method", func() response {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, srv.URL+"/admin/passwords", nil)
			return anon.do(req)
		}, 404, "Not found"},
		{"invalid UTF-8 jti in the path", func() response { return a.get("/admin/tokens/%ff%fe") }, 400, "Bad token id"},
		{"encoded slash in the jti", func() response { return a.get("/admin/tokens/a%2Fb") }, 404, "Token not found"},
		{"script in the jti", func() response { return a.get("/admin/tokens/%3Cscript%3E") }, 404, "Token not found"},
		{"JSON body", func() response {
			return a.post("/admin/blacklist", nil, "Content-Type", "application/json")
		}, 415, "x-www-form-urlencoded"},
		{"body over the limit", func() response {
			return a.post("/admin/blacklist", url.Values{"jti": {jti}, "reason": {strings.Repeat("r", 70<<10)}})
		}, 413, "larger"},
		{"malformed form encoding", func() response {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/admin/blacklist", strings.NewReader("jti=%zz"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return a.do(req)
		}, 400, "could not be read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.t, anon.t = t, t
			wantHTML(t, tc.send(), tc.status, tc.want)
		})
	}
	// None of it blacklisted the token.
	a.t = t
	if res := a.get("/admin/tokens/" + jti); !strings.Contains(res.body, "status-active") {
		t.Error("a refused request changed the token")
	}
}

func TestAdminPagesAreAccessible(t *testing.T) {
	_, srv := newNode(t, nil)
	_, jti := registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: 42})
	a := newAdminClient(t, srv.URL)
	login := a.get("/admin/login")
	a = adminSignIn(t, srv.URL)
	pages := map[string]response{"login": login}
	for _, p := range []string{"/admin/tokens", "/admin/tokens?user=42", "/admin/blacklisted", "/admin/tokens/" + jti, "/admin/node", "/admin/flush", "/admin/nope"} {
		pages[p] = a.get(p)
	}
	inputID := regexp.MustCompile(`<(?:input|select)[^>]*\bid="([^"]+)"`)
	for name, res := range pages {
		for _, s := range []string{`<html lang="en">`, `name="viewport" content="width=device-width, initial-scale=1"`, "<h1>", `<main id="main">`} {
			if !strings.Contains(res.body, s) {
				t.Errorf("%s lacks %s", name, s)
			}
		}
		if c := strings.Count(res.body, "<h1>"); c != 1 {
			t.Errorf("%s has %d h1 headings, want 1", name, c)
		}
		// Every visible input has a label.
		inputs := regexp.MustCompile(`<(?:input|select)[^>]*>`).FindAllString(res.body, -1)
		for _, in := range inputs {
			if strings.Contains(in, `type="hidden"`) {
				continue
			}
			m := inputID.FindStringSubmatch(in)
			if m == nil || !strings.Contains(res.body, fmt.Sprintf(`<label for="%s"`, m[1])) {
				t.Errorf("%s: input without a label: %s", name, in)
			}
		}
		if res.header.Get("Content-Security-Policy") == "" || res.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: security headers missing", name)
		}
	}
}

// adminRecord is a minimal stored record for tests that write the store
// directly (a validator refuses writes through the node).
func adminRecord(t testing.TB, jti string) persist.Record {
	t.Helper()
	return persist.Record{JTI: jti, User: "42", Type: "refresh", ExpiresAt: time.Now().Add(time.Hour).Unix()}
}

// TestAdminEscapesWhatItShows: text from tokens and from the URL is shown
// as text, never as markup.
func TestAdminEscapesWhatItShows(t *testing.T) {
	_, srv := newNode(t, nil)
	_, jti := registerToken(t, srv.URL, sjwt.Token{Type: "refresh", User: `<img src=x onerror=alert(1)>`})
	a := adminSignIn(t, srv.URL)
	if res := a.post("/admin/blacklist", url.Values{"jti": {jti}, "reason": {`<script>alert(1)</script>`}}); res.status != http.StatusSeeOther {
		t.Fatalf("blacklist: %d", res.status)
	}
	for _, path := range []string{"/admin/tokens/" + jti, "/admin/blacklisted", "/admin/tokens?user=" + url.QueryEscape(`"><script>alert(1)</script>`)} {
		res := a.get(path)
		wantHTML(t, res, http.StatusOK)
		if strings.Contains(res.body, "<script>") || strings.Contains(res.body, "<img src=x") {
			t.Errorf("%s shows markup from its data: %.800s", path, res.body)
		}
	}
}

// FuzzAdminRequest sends arbitrary signed-in requests to the admin pages:
// any method, path, query and form body. Each must answer below 500.
func FuzzAdminRequest(f *testing.F) {
	n, _ := newNode(f, nil)
	h := n.Handler()
	login := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader("token=admin-secret"))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, login)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		f.Fatalf("sign in set %d cookies", len(cookies))
	}
	page := httptest.NewRequest(http.MethodGet, "/admin/tokens", nil)
	page.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, page)
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if m == nil {
		f.Fatal("no CSRF token on the tokens page")
	}
	csrf := m[1]
	for _, seed := range []struct {
		post         bool
		target, body string
	}{
		{false, "/admin/tokens?user=42&blacklisted=yes&expired=no&sort=-created&limit=3&cursor=abc", ""},
		{false, "/admin/tokens/abc", ""},
		{false, "/admin/blacklisted?jti=%ff", ""},
		{true, "/admin/blacklist", "jti=abc&reason=x"},
		{true, "/admin/users/revoke", "user=42"},
		{true, "/admin/flush", ""},
		{true, "/admin/login", "token=x&next=/admin/node"},
		{true, "/admin/blacklist", "jti=%zz"},
	} {
		f.Add(seed.post, seed.target, seed.body)
	}
	f.Fuzz(func(t *testing.T, post bool, target, body string) {
		u, err := url.ParseRequestURI("/admin/" + strings.TrimPrefix(target, "/admin/"))
		if err != nil {
			return
		}
		method := http.MethodGet
		if post {
			method = http.MethodPost
			body = "csrf=" + csrf + "&" + body
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL, req.RequestURI = u, u.RequestURI()
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookies[0])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q: status %d %s", method, target, body, rec.Code, rec.Body)
		}
	})
}
