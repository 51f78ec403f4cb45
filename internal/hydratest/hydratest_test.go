//go:build unix

package hydratest_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/internal/hydratest"
)

// verify checks tok's signature against the published JWKS by its kid
// and returns the kid; it fails the test unless the token verifies.
func verify(t *testing.T, h *hydratest.Hydra, tok string) string {
	t.Helper()
	keys := h.JWKS(t)
	parsed, err := jwt.Parse(tok, func(j *jwt.Token) (any, error) {
		kid, _ := j.Header["kid"].(string)
		i := slices.IndexFunc(keys, func(k hydratest.JWK) bool { return k.Kid == kid })
		if i < 0 {
			t.Fatalf("kid %q of the token is not in the JWKS %v", kid, hydratest.Kids(keys))
		}
		return keys[i].RSAPublicKey(t), nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(h.PublicURL), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	return parsed.Header["kid"].(string)
}

// claimsOf is the claims of tok, which must carry want (a nil value: the
// claim must be absent).
func claimsOf(t *testing.T, tok string, want map[string]any) map[string]any {
	t.Helper()
	_, claims := hydratest.Decode(t, tok)
	for k, v := range want {
		got, ok := claims[k]
		switch {
		case v == nil && ok:
			t.Errorf("claim %s = %v, want it absent (claims %v)", k, got, claims)
		case v != nil && (!ok || !equalJSON(got, v)):
			t.Errorf("claim %s = %v, want %v (claims %v)", k, got, v, claims)
		}
	}
	return claims
}

func equalJSON(a, b any) bool {
	if as, ok := a.([]any); ok {
		bs, ok := b.([]any)
		return ok && slices.EqualFunc(as, bs, func(x, y any) bool { return x == y })
	}
	return a == b
}

func TestHydraTokens(t *testing.T) {
	h := hydratest.Start(t, hydratest.Config{})

	t.Run("client credentials", func(t *testing.T) {
		c := h.CreateClient(t, "read write", "client_credentials")
		tok := h.ClientCredentials(t, c, "read")
		verify(t, h, tok.AccessToken)
		header, _ := hydratest.Decode(t, tok.AccessToken)
		if header["typ"] != "JWT" || header["alg"] != "RS256" {
			t.Errorf("header %v: want typ JWT (Hydra does not write at+jwt), alg RS256", header)
		}
		claims := claimsOf(t, tok.AccessToken, map[string]any{"iss": h.PublicURL, "client_id": c.ID, "sub": c.ID,
			"scp": []any{"read"}, "scope": nil, "sid": nil, "token_type": nil})
		if jti, _ := claims["jti"].(string); jti == "" {
			t.Errorf("no jti in %v", claims)
		}
	})

	t.Run("scope claim both", func(t *testing.T) {
		h := hydratest.Start(t, hydratest.Config{ScopeClaim: "both"})
		c := h.CreateClient(t, "read write", "client_credentials")
		tok := h.ClientCredentials(t, c, "read write")
		verify(t, h, tok.AccessToken)
		claimsOf(t, tok.AccessToken, map[string]any{"scp": []any{"read", "write"}, "scope": "read write"})
	})

	t.Run("authorization code", func(t *testing.T) {
		c := h.CreateClient(t, "openid read", "authorization_code", "refresh_token")
		tok := h.AuthorizationCode(t, c, "alice", "openid read")
		verify(t, h, tok.AccessToken)
		claimsOf(t, tok.AccessToken, map[string]any{"iss": h.PublicURL, "client_id": c.ID, "sub": "alice",
			"scp": []any{"openid", "read"}, "sid": tok.SessionID})
		if tok.IDToken == "" {
			t.Fatal("no id token for scope openid")
		}
		// The ID token looks like an access token to a rule that reads
		// typ alone: typ JWT, a jti, a sid, signed by a key of the same
		// JWKS; it names the client in aud, never in client_id.
		if header, _ := hydratest.Decode(t, tok.IDToken); header["typ"] != "JWT" {
			t.Errorf("ID token header %v: want typ JWT", header)
		}
		idClaims := claimsOf(t, tok.IDToken, map[string]any{"sid": tok.SessionID, "sub": "alice", "aud": []any{c.ID}, "client_id": nil, "scp": nil})
		if jti, _ := idClaims["jti"].(string); jti == "" {
			t.Errorf("ID token without a jti: %v", idClaims)
		}
		if tok.RefreshToken != "" {
			t.Errorf("refresh token %q without offline scope", tok.RefreshToken)
		}
		again := h.AuthorizationCode(t, c, "alice", "openid read")
		if again.SessionID == tok.SessionID {
			t.Errorf("a second login reused session %s", tok.SessionID)
		}
	})

	t.Run("refresh token", func(t *testing.T) {
		c := h.CreateClient(t, "openid offline read", "authorization_code", "refresh_token")
		tok := h.AuthorizationCode(t, c, "alice", "openid offline read")
		if !strings.HasPrefix(tok.RefreshToken, "ory_rt_") || strings.Count(tok.RefreshToken, ".") == 2 {
			t.Errorf("refresh token %q: want Hydra's opaque ory_rt_ form, not a JWT", tok.RefreshToken)
		}
	})

	t.Run("audience", func(t *testing.T) {
		api := []string{"https://api.example.test"}
		cc := h.CreateClientFor(t, api, "read", "client_credentials")
		claimsOf(t, h.ClientCredentials(t, cc, "read").AccessToken, map[string]any{"aud": []any{api[0]}})
		web := h.CreateClientFor(t, api, "openid read", "authorization_code")
		tok := h.AuthorizationCode(t, web, "alice", "openid read")
		claimsOf(t, tok.AccessToken, map[string]any{"aud": []any{api[0]}, "client_id": web.ID})
		claimsOf(t, tok.IDToken, map[string]any{"aud": []any{web.ID}})
	})

	t.Run("key rotation", func(t *testing.T) {
		c := h.CreateClient(t, "read", "client_credentials")
		oldKid := verify(t, h, h.ClientCredentials(t, c, "").AccessToken)
		if kids := hydratest.Kids(h.AccessTokenKeys(t)); !slices.Equal(kids, []string{oldKid}) {
			t.Fatalf("access-token key set %v, want [%s]", kids, oldKid)
		}
		newKid := h.AddAccessTokenKey(t)
		published := hydratest.Kids(h.JWKS(t))
		if !slices.Contains(published, oldKid) || !slices.Contains(published, newKid) {
			t.Fatalf("JWKS %v after adding %s: want it beside %s", published, newKid, oldKid)
		}
		if kid := verify(t, h, h.ClientCredentials(t, c, "").AccessToken); kid != newKid {
			t.Fatalf("a token after the new key signed with %s, want the new key %s", kid, newKid)
		}
		h.DeleteAccessTokenKey(t, oldKid)
		if published := hydratest.Kids(h.JWKS(t)); slices.Contains(published, oldKid) || !slices.Contains(published, newKid) {
			t.Fatalf("JWKS %v after deleting %s: want %s without it", published, oldKid, newKid)
		}
		if kid := verify(t, h, h.ClientCredentials(t, c, "").AccessToken); kid != newKid {
			t.Fatalf("a token after the rotation signed with %s, want %s", kid, newKid)
		}
	})

	t.Run("forged", func(t *testing.T) {
		c := h.CreateClient(t, "read", "client_credentials")
		tok := h.ClientCredentials(t, c, "read").AccessToken
		header, _ := hydratest.Decode(t, tok)
		for _, kid := range []string{header["kid"].(string), "never-published"} {
			forged, jti := hydratest.Forge(t, tok, kid)
			_, claims := hydratest.Decode(t, forged)
			if claims["jti"] != jti || claims["client_id"] != c.ID {
				t.Errorf("forged claims %v: want jti %s, client_id %s", claims, jti, c.ID)
			}
			keys := h.JWKS(t)
			_, err := jwt.Parse(forged, func(j *jwt.Token) (any, error) {
				i := slices.IndexFunc(keys, func(k hydratest.JWK) bool { return k.Kid == j.Header["kid"] })
				if i < 0 {
					return nil, jwt.ErrTokenUnverifiable
				}
				return keys[i].RSAPublicKey(t), nil
			}, jwt.WithValidMethods([]string{"RS256"}))
			if err == nil {
				t.Errorf("a token forged under kid %s verified against Hydra's JWKS", kid)
			}
		}
	})
}
