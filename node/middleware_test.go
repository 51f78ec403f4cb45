package node_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

func TestMiddleware(t *testing.T) {
	n, _ := newNode(t, func(c *node.Config) { c.AuthCookie = "jwt" })
	var calls atomicCounter
	api := n.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.inc()
		c, ok := node.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "user=%s jti=%s type=%s", c.User, c.JTI, c.Type)
	}))
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	access, jti := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	blacklisted, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	refreshTok, _ := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
	expired, _ := sjwt.Token{Type: "access", User: 42, TTL: -time.Second}.Mint(secret)
	// Blacklisted after a first request, so the cache has seen it as valid.
	if got := do(t, http.MethodGet, srv.URL, "", "", "Authorization", "Bearer "+blacklisted); got.status != 200 {
		t.Fatalf("before the blacklisting: %d %s", got.status, got.body)
	}
	c, err := n.Verifier().Verify(blacklisted, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Blacklist(t.Context(), recordOfClaims(c, "test")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		hdr    []string
		status int
		body   string // on success
		code   string // on failure
	}{
		{"bearer token", []string{"Authorization", "Bearer " + access}, 200, "user=42 jti=" + jti + " type=access", ""},
		{"cookie", []string{"Cookie", "jwt=" + access}, 200, "user=42 jti=" + jti + " type=access", ""},
		{"no token", nil, 401, "", "no_token"},
		{"blacklisted", []string{"Authorization", "Bearer " + blacklisted}, 401, "", "token_blacklisted"},
		{"refresh token", []string{"Authorization", "Bearer " + refreshTok}, 401, "", "token_not_valid"},
		{"expired", []string{"Authorization", "Bearer " + expired}, 401, "", "token_not_valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.n.Load()
			got := do(t, http.MethodPost, srv.URL+"/orders", "text/plain", "body", tc.hdr...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			called := calls.n.Load() != before
			if tc.status == 200 {
				if !called || got.body != tc.body {
					t.Errorf("handler called %v, body %q, want %q", called, got.body, tc.body)
				}
				return
			}
			if called {
				t.Error("the handler ran for a rejected request")
			}
			if m := got.json(t); m["code"] != tc.code {
				t.Errorf("code %v, want %s", m["code"], tc.code)
			}
			if got.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate challenge")
			}
		})
	}
}

func TestClaimsFromContextWithout(t *testing.T) {
	if c, ok := node.ClaimsFromContext(context.Background()); ok || c.JTI != "" {
		t.Errorf("claims %v, %v from a bare context", c, ok)
	}
}

// recordOfClaims is the record the node's own write paths make of claims.
func recordOfClaims(c token.Claims, reason string) persist.Record {
	return persist.Record{JTI: c.JTI, User: c.User, Type: c.Type, IssuedAt: c.IssuedAt.Unix(), ExpiresAt: c.ExpiresAt.Unix(), Reason: reason}
}
