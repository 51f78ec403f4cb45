package node_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

func TestAuthForward(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	n, srv := newNode(t, func(c *node.Config) {
		c.AuthCookie = "access_token"
		c.Now = func() time.Time { return now }
	})
	access, accessJTI := sjwt.Token{Type: "access", User: 42, Now: now}.Mint(secret)
	sliding, slidingJTI := sjwt.Token{Type: "sliding", User: "bob", Now: now}.Mint(secret)
	refreshTok, _ := sjwt.Token{Type: "refresh", User: 42, Now: now}.Mint(secret)
	untyped, _ := sjwt.Token{Type: "-", User: 42, Now: now}.Mint(secret)
	expired, _ := sjwt.Token{Type: "access", User: 42, Now: now, TTL: -time.Second}.Mint(secret)
	forged, _ := sjwt.Token{Type: "access", User: 42, Now: now}.Mint([]byte("not-the-secret-not-the-secret-not-the"))
	blacklisted, _ := sjwt.Token{Type: "access", User: 42, Now: now}.Mint(secret)
	if got := do(t, http.MethodPost, srv.URL+"/oauth/revoke", formType, tokenForm(blacklisted)); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if _, err := n.RevokeUser(t.Context(), "7", now); err != nil {
		t.Fatal(err)
	}
	revokedUser, _ := sjwt.Token{Type: "access", User: 7, Now: now.Add(-time.Minute)}.Mint(secret)
	afterRevoke, afterJTI := sjwt.Token{Type: "access", User: 7, Now: now}.Mint(secret)

	invalid := func(desc string) string {
		return `Bearer realm="api", error="invalid_token", error_description="` + desc + `"`
	}
	tests := []struct {
		name      string
		method    string
		path      string
		hdr       []string
		status    int
		code      string // the JSON code on failure
		challenge string
		user, jti string // on success
		typ       string
	}{
		{name: "header", hdr: []string{"Authorization", "Bearer " + access}, status: 200, user: "42", jti: accessJTI, typ: "access"},
		{name: "lower-case bearer", hdr: []string{"Authorization", "bearer " + access}, status: 200, user: "42", jti: accessJTI, typ: "access"},
		{name: "upper-case bearer, extra spaces", hdr: []string{"Authorization", "  BEARER   " + access + " "}, status: 200, user: "42", jti: accessJTI, typ: "access"},
		{name: "cookie", hdr: []string{"Cookie", "session=x; access_token=" + access}, status: 200, user: "42", jti: accessJTI, typ: "access"},
		{name: "header before cookie", hdr: []string{"Authorization", "Bearer " + sliding, "Cookie", "access_token=" + access}, status: 200, user: "bob", jti: slidingJTI, typ: "sliding"},
		{name: "sliding token", hdr: []string{"Authorization", "Bearer " + sliding}, status: 200, user: "bob", jti: slidingJTI, typ: "sliding"},
		{name: "HEAD", method: http.MethodHead, hdr: []string{"Authorization", "Bearer " + access}, status: 200, user: "42", jti: accessJTI, typ: "access"},
		{name: "POST", method: http.MethodPost, hdr: []string{"Authorization", "Bearer " + access}, status: 200, user: "42", jti: accessJTI, typ: "access"},
		{name: "Envoy path prefix", path: "/auth/api/v2/orders?x=1", hdr: []string{"Authorization", "Bearer " + access}, status: 200, user: "42", jti: accessJTI, typ: "access"},
		{name: "user's token issued after the revoke", hdr: []string{"Authorization", "Bearer " + afterRevoke}, status: 200, user: "7", jti: afterJTI, typ: "access"},
		{name: "refresh token", hdr: []string{"Authorization", "Bearer " + refreshTok}, status: 401, code: "token_not_valid", challenge: invalid("Token has wrong type")},
		{name: "untyped token", hdr: []string{"Authorization", "Bearer " + untyped}, status: 401, code: "token_not_valid", challenge: invalid("Token has wrong type")},
		{name: "blacklisted", hdr: []string{"Authorization", "Bearer " + blacklisted}, status: 401, code: "token_blacklisted", challenge: invalid("Token is blacklisted")},
		{name: "revoked user", hdr: []string{"Authorization", "Bearer " + revokedUser}, status: 401, code: "token_blacklisted", challenge: invalid("Token is blacklisted")},
		{name: "expired", hdr: []string{"Authorization", "Bearer " + expired}, status: 401, code: "token_not_valid", challenge: invalid("Token is expired")},
		{name: "forged", hdr: []string{"Authorization", "Bearer " + forged}, status: 401, code: "token_not_valid", challenge: invalid("Token is invalid")},
		{name: "garbage", hdr: []string{"Authorization", "Bearer x.y.z"}, status: 401, code: "token_not_valid", challenge: invalid("Token is invalid")},
		{name: "blacklisted in the cookie", hdr: []string{"Cookie", "access_token=" + blacklisted}, status: 401, code: "token_blacklisted", challenge: invalid("Token is blacklisted")},
		{name: "no token", status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "empty bearer", hdr: []string{"Authorization", "Bearer "}, status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "basic credentials", hdr: []string{"Authorization", basic("u", "p")}, status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "token without a scheme", hdr: []string{"Authorization", access}, status: 401, code: "no_token", challenge: `Bearer realm="api"`},
		{name: "other cookie", hdr: []string{"Cookie", "session=" + access}, status: 401, code: "no_token", challenge: `Bearer realm="api"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodGet
			}
			if path == "" {
				path = "/auth"
			}
			got := do(t, method, srv.URL+path, "", "", tc.hdr...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			if ch := got.header.Get("WWW-Authenticate"); ch != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", ch, tc.challenge)
			}
			if tc.status != 200 {
				if m := got.json(t); m["code"] != tc.code || m["detail"] == "" {
					t.Errorf("body %s, want code %s", got.body, tc.code)
				}
				for _, h := range []string{node.HeaderUser, node.HeaderJTI, node.HeaderTokenType} {
					if v := got.header.Values(h); v != nil {
						t.Errorf("%s: %q on a failure", h, v)
					}
				}
				return
			}
			if u, j, ty := got.header.Get(node.HeaderUser), got.header.Get(node.HeaderJTI), got.header.Get(node.HeaderTokenType); u != tc.user || j != tc.jti || ty != tc.typ {
				t.Errorf("headers user %q jti %q type %q, want %q %q %q", u, j, ty, tc.user, tc.jti, tc.typ)
			}
			if method == http.MethodHead {
				if got.body != "" {
					t.Errorf("HEAD body %q", got.body)
				}
				return
			}
			if m := got.json(t); m["user"] != tc.user || m["jti"] != tc.jti || m["token_type"] != tc.typ {
				t.Errorf("body %s", got.body)
			}
		})
	}
}

// tripwire is a request body that fails the test when read.
type tripwire struct{ t *testing.T }

func (tw tripwire) Read([]byte) (int, error) {
	tw.t.Error("the request body was read")
	return 0, http.ErrBodyReadAfterClose
}

func TestAuthForwardNeverReadsBodyNorRedirects(t *testing.T) {
	n, _ := newNode(t, nil)
	h := n.Handler()
	access, _ := sjwt.Token{Type: "access", User: 1}.Mint(secret)
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"valid", "Bearer " + access, 200},
		{"invalid", "Bearer nope", 401},
		{"none", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPut, "/auth", tripwire{t})
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Header().Get("Location") != "" {
				t.Errorf("status %d, Location %q", rec.Code, rec.Header().Get("Location"))
			}
		})
	}
}

func TestAuthForwardCustomHeader(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.AuthHeader = "X-Access-Token" })
	access, _ := sjwt.Token{Type: "access", User: 3}.Mint(secret)
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"configured header", []string{"X-Access-Token", "Bearer " + access}, 200},
		{"Authorization is not read", []string{"Authorization", "Bearer " + access}, 401},
		{"no cookie configured", []string{"Cookie", "access_token=" + access}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(t, http.MethodGet, srv.URL+"/auth", "", "", tc.hdr...); got.status != tc.status {
				t.Errorf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
		})
	}
}

func TestAuthForwardTokenTypes(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.AuthTokenTypes = []string{"refresh"} })
	for _, tc := range []struct {
		typ    string
		status int
	}{{"refresh", 200}, {"access", 401}, {"sliding", 401}} {
		t.Run(tc.typ, func(t *testing.T) {
			tok, _ := sjwt.Token{Type: tc.typ, User: 3}.Mint(secret)
			if got := do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+tok); got.status != tc.status {
				t.Errorf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
		})
	}
}

func TestAuthForwardFailsClosed(t *testing.T) {
	n, srv := newNode(t, nil)
	access, _ := sjwt.Token{Type: "access", User: 1}.Mint(secret)
	if err := n.Store().Close(); err != nil {
		t.Fatal(err)
	}
	got := do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+access)
	if got.status != 503 || got.json(t)["code"] != "unavailable" || got.header.Get(node.HeaderUser) != "" {
		t.Errorf("%d %v %s", got.status, got.header, got.body)
	}
	if !strings.Contains(got.header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control %q", got.header.Get("Cache-Control"))
	}
}
