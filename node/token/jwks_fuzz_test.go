package token

import (
	"encoding/json"
	"testing"

	"github.com/MicahParks/jwkset"
)

// FuzzJWKS feeds arbitrary bytes as a JWKS response body, decoded the
// way a fetch decodes it (jwkset's JWK checks, then indexJWKs): nothing
// panics, and every key put in use has a kid, is not symmetric, and fits
// its alg.
func FuzzJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"e","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","alg":"ES256","n":"sXch","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		var set jwkset.JWKSMarshal
		if json.Unmarshal(body, &set) != nil {
			return
		}
		var jwks []jwkset.JWK
		for _, m := range set.Keys {
			j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
			if err != nil {
				return // a fetch refuses the whole set
			}
			jwks = append(jwks, j)
		}
		keys, _ := indexJWKs(jwks)
		n := 0
		for kid, ks := range keys.byKID {
			if kid == "" || len(ks) > maxKeysPerKID {
				t.Fatalf("kid %q with %d keys in use", kid, len(ks))
			}
			for _, k := range ks {
				n++
				if _, sym := k.key.([]byte); sym || k.kind == kindHMAC || k.kind == kindNone {
					t.Fatalf("kid %q: key of kind %v in use", kid, k.kind)
				}
				if k.alg != "" && kindOfAlg(k.alg) != k.kind {
					t.Fatalf("kid %q: alg %q on a %v", kid, k.alg, k.kind)
				}
			}
		}
		if n != keys.n {
			t.Fatalf("count %d, %d keys indexed", keys.n, n)
		}
	})
}

// FuzzCacheMaxAge: any Cache-Control header gives a non-negative age of at
// most a year.
func FuzzCacheMaxAge(f *testing.F) {
	for _, s := range []string{"", "max-age=60", "public, max-age=3600, must-revalidate", "no-store", `max-age="5"`, "max-age=-1", "max-age=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		age, ok := cacheMaxAge(h)
		if age < 0 || age > 365*24*3600*1e9 || (!ok && age != 0) {
			t.Fatalf("cacheMaxAge(%q) = %v, %v", h, age, ok)
		}
	})
}
