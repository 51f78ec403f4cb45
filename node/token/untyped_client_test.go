package token

import (
	"errors"
	"fmt"
	"testing"
)

// An untyped token is an access token only when it names its client_id
// (RFC 9068 §2.2): an OpenID Connect ID token shares the issuer's keys and
// typ "JWT" (Ory Hydra's do) but names its client in aud (and azp) alone.
func TestUntypedTokenNamesItsClient(t *testing.T) {
	key := []byte(djangoSecret)
	v := newVerifier(t, Config{HSSecret: key, Now: testNow, UntypedTokensAreAccess: true})
	for _, tc := range []struct {
		name     string
		payload  string
		wantType string
		access   error
	}{
		{"client_id", `"client_id":"app"`, "access", nil},
		{"azp alone (an ID token may carry it)", `"azp":"app"`, "", ErrNoType},
		{"ID token: client in aud alone", `"aud":"app","nonce":"n","at_hash":"h"`, "", ErrNoType},
		{"empty client_id", `"client_id":""`, "", ErrNoType},
		{"client_id not a string", `"client_id":7`, "", ErrNoType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := fmt.Sprintf(`{"iss":"https://issuer.example/","sub":"u1","exp":%d,"iat":%d,"jti":"t-1",%s}`, expiresAt, issuedAt, tc.payload)
			raw := signHMAC(t, key, `{"alg":"HS256","typ":"JWT"}`, payload)
			c, err := v.Verify(raw, "")
			if err != nil || c.Type != tc.wantType {
				t.Fatalf("Verify(raw, \"\") = type %q, %v; want %q", c.Type, err, tc.wantType)
			}
			if _, err := v.Verify(raw, "access"); !errors.Is(err, tc.access) && err != tc.access {
				t.Fatalf("Verify(raw, access) = %v, want %v", err, tc.access)
			}
		})
	}
}
