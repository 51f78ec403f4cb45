//go:build unix

package hydratest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// JWK is the part of a JSON Web Key the tests read.
type JWK struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// RSAPublicKey is the RSA public key of k.
func (k JWK) RSAPublicKey(t testing.TB) *rsa.PublicKey {
	t.Helper()
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	e, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if k.Kty != "RSA" || err1 != nil || err2 != nil {
		t.Fatalf("hydratest: JWK %s: kty %s, n %v, e %v: want an RSA key", k.Kid, k.Kty, err1, err2)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
}

// JWKS is what Hydra publishes at JWKSURL: the public keys of every set it
// signs with (access tokens and ID tokens).
func (h *Hydra) JWKS(t testing.TB) []JWK {
	t.Helper()
	var set struct {
		Keys []JWK `json:"keys"`
	}
	h.call(t, http.MethodGet, h.JWKSURL, nil, &set, http.StatusOK)
	return set.Keys
}

// Kids is the kids of keys.
func Kids(keys []JWK) []string {
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// AccessTokenKeys is the keys of the set Hydra signs access tokens with,
// as its admin API lists them.
func (h *Hydra) AccessTokenKeys(t testing.TB) []JWK {
	t.Helper()
	var set struct {
		Keys []JWK `json:"keys"`
	}
	h.call(t, http.MethodGet, h.AdminURL+"/admin/keys/"+AccessTokenKeySet, nil, &set, http.StatusOK)
	return set.Keys
}

// AddAccessTokenKey creates a new RS256 key in the access-token set, the
// first step of a rotation, and returns its kid. Hydra signs new access
// tokens with the newest key of the set from then on, and publishes the
// old one beside it until DeleteAccessTokenKey removes it.
func (h *Hydra) AddAccessTokenKey(t testing.TB) string {
	t.Helper()
	kid := "rotated-" + randomHex(8)
	var set struct {
		Keys []JWK `json:"keys"`
	}
	h.call(t, http.MethodPost, h.AdminURL+"/admin/keys/"+AccessTokenKeySet,
		map[string]string{"alg": "RS256", "use": "sig", "kid": kid}, &set, http.StatusCreated)
	if len(set.Keys) != 1 || set.Keys[0].Kid != kid {
		t.Fatalf("hydratest: created keys %v, want one with kid %s", Kids(set.Keys), kid)
	}
	return kid
}

// DeleteAccessTokenKey removes the key kid from the access-token set: it
// leaves the JWKS, the last step of a rotation.
func (h *Hydra) DeleteAccessTokenKey(t testing.TB, kid string) {
	t.Helper()
	h.call(t, http.MethodDelete, h.AdminURL+"/admin/keys/"+AccessTokenKeySet+"/"+url.PathEscape(kid), nil, nil, http.StatusNoContent)
}

// Decode returns the header and the claims of a JWT, unverified.
func Decode(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("hydratest: %q is not a JWT", tok)
	}
	for i, out := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("hydratest: JWT part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("hydratest: JWT part %d: %v in %s", i, err, b)
		}
	}
	return header, claims
}

// Forge returns a token with the header and claims of tok (a Hydra access
// token) and a new jti, signed RS256 by a fresh RSA key that Hydra never
// published, under kid: what an attacker who knows the token format but
// not Hydra's keys can make. It returns the forged token's jti too.
func Forge(t testing.TB, tok, kid string) (forged, jti string) {
	t.Helper()
	header, claims := Decode(t, tok)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jti = "forged-" + randomHex(8)
	claims["jti"] = jti
	j := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims))
	for k, v := range header {
		if k != "alg" {
			j.Header[k] = v
		}
	}
	j.Header["kid"] = kid
	forged, err = j.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return forged, jti
}
