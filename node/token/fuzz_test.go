package token

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func FuzzVerify(f *testing.F) {
	v := hsVerifier(f)
	minted, _, err := v.Mint(MintOptions{Type: "refresh", User: "9", Extra: map[string]any{"fam": "x", "aud": []string{"a"}}})
	if err != nil {
		f.Fatal(err)
	}
	seeds := []string{
		simpleJWTAccess,
		simpleJWTRefresh,
		minted,
		signHMAC(f, []byte(djangoSecret), simpleJWTHeader, `{"exp":1e400,"jti":"j"}`),
		signHMAC(f, []byte(djangoSecret), simpleJWTHeader, `{"exp":-1e300,"iat":"x","nbf":null}`),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","kid":{}}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"none"}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","crit":["exp"],"typ":"JWT"}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","crit":["x-ext"],"x-ext":1}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","b64":true,"crit":["b64"]}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","crit":[]}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","crit":"exp"}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","crit":null}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","crit":[1,{}]}`, stdPayload),
		signHMAC(f, []byte(djangoSecret), simpleJWTHeader, `{"exp":1700000300,"jti":"`+strings.Repeat("j", MaxJTILen+1)+`"}`),
		signHMAC(f, []byte(djangoSecret), simpleJWTHeader, `{"exp":1700000300,"jti":"j","user_id":"4\u00002"}`),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","typ":"at+jwt"}`, accessPayload(`"sid":"s","scp":["a","b"]`)),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","typ":"application/at+jwt"}`, accessPayload(`"token_type":"refresh","azp":"x"`)),
		signHMAC(f, []byte(djangoSecret), `{"alg":"HS256","typ":["at+jwt"]}`, accessPayload(`"sid":"s\u0001"`)),
		"eyJhbGciOiJub25lIn0.e30.",
		"", ".", "..", "...", "a.b.c", "123", "null", "{}", "\x00\xff",
		strings.Repeat("A", MaxTokenSize+1),
	}
	for _, tok := range []string{simpleJWTAccess, minted} {
		for _, n := range []int{1, 10, 36, 37, len(tok) / 2, len(tok) - 1} {
			seeds = append(seeds, tok[:n])
		}
	}
	for _, s := range seeds {
		f.Add(s, "access")
		f.Add(s, "")
	}
	sentinels := map[error]bool{ErrInvalid: true, ErrExpired: true, ErrNoExp: true, ErrNoID: true, ErrNoType: true, ErrWrongType: true}
	f.Fuzz(func(t *testing.T, raw, wantType string) {
		c, err := v.Verify(raw, wantType)
		if err != nil {
			if !sentinels[err] {
				t.Fatalf("Verify returned %v (%T), not a sentinel", err, err)
			}
			if Detail(err) != err.Error() {
				t.Fatalf("Detail(%v) = %q", err, Detail(err))
			}
			return
		}
		if c.JTI == "" || c.ExpiresAt.IsZero() || c.Raw == nil {
			t.Fatalf("valid token with incomplete claims: %+v", c)
		}
		if !revocable(c) {
			t.Fatalf("valid token the store could not hold: %+v", c)
		}
		if hasCrit(raw) {
			t.Fatalf("valid token with a crit header: %q", raw)
		}
		if wantType != "" && c.Type != wantType {
			t.Fatalf("type %q accepted as %q", c.Type, wantType)
		}
		if !c.ExpiresAt.After(testNow()) {
			t.Fatalf("expired token accepted: exp %v", c.ExpiresAt)
		}
	})
}

// hasCrit reports whether raw's header decodes to a JSON object with a crit
// member, as the jwt parser would read it.
func hasCrit(raw string) bool {
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return false
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(b, &h) != nil {
		return false
	}
	_, ok := h["crit"]
	return ok
}
