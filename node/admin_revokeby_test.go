package node_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/node"
)

// The revoke page's forms revoke a session, a client and an issuer (or
// every issuer, once its box is ticked); the tokens they cover are turned
// away at once.
func TestAdminRevokeBy(t *testing.T) {
	clk := newClock(time.Now().Truncate(time.Second))
	n, srv := newNode(t, func(c *node.Config) { c.Now = clk.Now })
	a := adminSignIn(t, srv.URL)
	wantHTML(t, a.get("/admin/revoke"), http.StatusOK, `action="/admin/sessions/revoke"`, `action="/admin/clients/revoke"`,
		`action="/admin/issuer/revoke"`, `aria-current="page">Revoke<`)
	issued := clk.Now().Add(-time.Minute)
	for _, tc := range []struct {
		name, path string
		form       url.Values
		claims     jwt.MapClaims
		msg        string
	}{
		{"session", "/admin/sessions/revoke", url.Values{"sid": {"s-1"}}, jwt.MapClaims{"sid": "s-1"}, "Session revoked"},
		{"client", "/admin/clients/revoke", url.Values{"client_id": {"c-1"}}, jwt.MapClaims{"azp": "c-1"}, "Client revoked"},
		{"issuer", "/admin/issuer/revoke", url.Values{"issuer": {"https://i/"}}, jwt.MapClaims{"iss": "https://i/"}, "Issuer revoked"},
		{"every issuer", "/admin/issuer/revoke", url.Values{"issuer": {""}, "all": {"yes"}}, jwt.MapClaims{"iss": "https://other/"}, "Every issuer revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := accessToken(t, "at+jwt", issued, tc.claims)
			if _, err := n.Verify(tok, "access"); err != nil {
				t.Fatalf("before: %v", err)
			}
			res := a.post(tc.path, tc.form)
			loc := res.header.Get("Location")
			if res.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/revoke?") {
				t.Fatalf("%d to %q, want 303 to the revoke page", res.status, loc)
			}
			wantHTML(t, a.get(loc), http.StatusOK, tc.msg, `id="revoke-result"`)
			if _, err := n.Verify(tok, "access"); !errors.Is(err, node.ErrUserRevoked) {
				t.Fatalf("after: %v, want revoked", err)
			}
		})
	}
	// Posting the same again says so.
	res := a.post("/admin/sessions/revoke", url.Values{"sid": {"s-1"}})
	wantHTML(t, a.get(res.header.Get("Location")), http.StatusOK, "already revoked")
}

func TestAdminRevokeByBadInputs(t *testing.T) {
	_, srv := newNode(t, nil)
	a := adminSignIn(t, srv.URL)
	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		says       string
	}{
		{"empty session", "/admin/sessions/revoke", url.Values{"sid": {""}}, 400, "Give the session"},
		{"long session", "/admin/sessions/revoke", url.Values{"sid": {strings.Repeat("s", 256)}}, 400, "at most 255"},
		{"control character", "/admin/clients/revoke", url.Values{"client_id": {"a\x01b"}}, 400, "control characters"},
		{"empty client", "/admin/clients/revoke", url.Values{}, 400, "Give the client"},
		{"every issuer unticked", "/admin/issuer/revoke", url.Values{"issuer": {""}}, 400, "tick the box"},
		{"long issuer", "/admin/issuer/revoke", url.Values{"issuer": {strings.Repeat("i", 1025)}}, 400, "at most 1024"},
		{"no CSRF", "/admin/clients/revoke", url.Values{"client_id": {"c"}, "csrf": {"wrong"}}, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantHTML(t, a.post(tc.path, tc.form), tc.status, tc.says)
		})
	}
	anon := newAdminClient(t, srv.URL)
	wantHTML(t, anon.post("/admin/sessions/revoke", url.Values{"sid": {"s"}}), http.StatusUnauthorized, "Sign in")
}

func TestAdminRevokeByOnValidator(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.Role = node.RoleValidator })
	a := adminSignIn(t, srv.URL)
	res := a.get("/admin/revoke")
	wantHTML(t, res, http.StatusOK, "revoke on a full node")
	if strings.Contains(res.body, `action="/admin/sessions/revoke"`) {
		t.Error("a validator shows the revoke forms")
	}
	for path, form := range map[string]url.Values{
		"/admin/sessions/revoke": {"sid": {"s"}},
		"/admin/clients/revoke":  {"client_id": {"c"}},
		"/admin/issuer/revoke":   {"issuer": {"i"}},
	} {
		wantHTML(t, a.post(path, form), http.StatusForbidden, "Read-only node")
	}
}
