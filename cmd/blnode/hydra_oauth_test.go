//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/hydratest"
	"github.com/blnode/blnode/internal/poll"
)

// oauthPost posts form to a node's OAuth endpoint path as client c (HTTP
// Basic, as RFC 6749 §2.3.1 encodes it).
func oauthPost(t *testing.T, nodeURL, path string, c hydratest.Client, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, nodeURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := fleetClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// The OAuth endpoints with Hydra's clients and tokens: the resource
// server knows Hydra's clients (--oauth-clients-file), a client revokes
// its own token at /oauth/revoke (RFC 7009) but not another client's
// (§2.1), and introspection (RFC 7662) names the token's client.
func TestProcessHydraOAuthEndpoints(t *testing.T) {
	bin := buildBinary(t)
	h := hydratest.Start(t, hydratest.Config{})
	alice, bob := h.CreateClient(t, "read", "client_credentials"), h.CreateClient(t, "read", "client_credentials")
	clients := filepath.Join(t.TempDir(), "oauth-clients")
	if err := os.WriteFile(clients, []byte(alice.ID+":"+alice.Secret+"\n"+bob.ID+":"+bob.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := startServe(t, bin, append([]string{"--data", t.TempDir(), "--no-nats", "--oauth-clients-file", clients}, hydraVerifyArgs(h)...)...)
	poll.For(t, 30*time.Second, pollEvery, func() error { return wantStatus(node.url+"/readyz", http.StatusOK) })
	tokA := h.ClientCredentials(t, alice, "read").AccessToken
	tokB := h.ClientCredentials(t, bob, "read").AccessToken
	auth := func(what, tok string, want int) {
		t.Helper()
		if status, _, body, err := authAt(node.url, tok); err != nil || status != want {
			t.Errorf("/auth of %s: %d %s %v, want %d", what, status, body, err, want)
		}
	}
	introspect := func(as hydratest.Client, tok string) map[string]any {
		t.Helper()
		status, body := oauthPost(t, node.url, "/oauth/introspect", as, url.Values{"token": {tok}})
		var out map[string]any
		if status != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("introspection as %s: %d %s, want 200 and a JSON object", as.ID, status, body)
		}
		return out
	}

	// Introspection names the token's client, whoever asks.
	if got := introspect(bob, tokA); got["active"] != true || got["client_id"] != alice.ID || got["sub"] != alice.ID {
		t.Errorf("introspection of alice's token as bob: %v, want active, client_id and sub %s", got, alice.ID)
	}

	// Bob cannot revoke alice's token: 400 unauthorized_client, and it
	// stays valid.
	status, body := oauthPost(t, node.url, "/oauth/revoke", bob, url.Values{"token": {tokA}, "token_type_hint": {"access_token"}})
	var oauthErr struct {
		Error string `json:"error"`
	}
	if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &oauthErr) != nil || oauthErr.Error != "unauthorized_client" {
		t.Errorf("bob revoking alice's token: %d %s, want 400 unauthorized_client", status, body)
	}
	auth("alice's token after bob's attempt", tokA, http.StatusOK)

	// Alice revokes her own: gone at /auth and inactive; bob's stays.
	if status, body := oauthPost(t, node.url, "/oauth/revoke", alice, url.Values{"token": {tokA}}); status != http.StatusOK {
		t.Errorf("alice revoking her token: %d %s, want 200", status, body)
	}
	auth("alice's revoked token", tokA, http.StatusUnauthorized)
	if got := introspect(alice, tokA); fmt.Sprint(got) != "map[active:false]" {
		t.Errorf("introspection of a revoked token: %v, want only active false", got)
	}
	auth("bob's token", tokB, http.StatusOK)

	// A wrong secret is refused (401 invalid_client), whatever the token.
	status, body = oauthPost(t, node.url, "/oauth/revoke", hydratest.Client{ID: bob.ID, Secret: "not-" + bob.Secret}, url.Values{"token": {tokB}})
	if status != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("revocation with a wrong client secret: %d %s, want 401 invalid_client", status, body)
	}
	auth("bob's token after a revocation with a wrong secret", tokB, http.StatusOK)
}
