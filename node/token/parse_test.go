package token

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// parseSentinels are the jwt errors Verify tells apart.
func parseSentinels() []error {
	return []error{jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenInvalidClaims,
		jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer}
}

// checkParse: parse and golang-jwt's ParseWithClaims, with the same
// options and key function, agree on raw: the same sentinels, the same
// header and claims.
func checkParse(t *testing.T, v *Verifier, raw string) {
	t.Helper()
	var mine claimMap
	mt, merr := v.parse(raw, &mine, false)
	theirs := jwt.MapClaims{}
	tt, terr := v.parser.ParseWithClaims(raw, theirs, v.keyfunc)
	for _, s := range parseSentinels() {
		if errors.Is(merr, s) != errors.Is(terr, s) {
			t.Fatalf("%q: parse %v, ParseWithClaims %v (%v)", raw, merr, terr, s)
		}
	}
	if (merr == nil) != (terr == nil) {
		t.Fatalf("%q: parse %v, ParseWithClaims %v", raw, merr, terr)
	}
	if errors.Is(terr, jwt.ErrTokenMalformed) {
		return // what was decoded before the failure does not matter
	}
	if tt != nil && mt != nil && !reflect.DeepEqual(mt.Header, tt.Header) {
		t.Fatalf("%q: header %#v, ParseWithClaims %#v", raw, mt.Header, tt.Header)
	}
	if mine.m == nil {
		mine.m = jwt.MapClaims{}
	}
	if !reflect.DeepEqual(mine.m, theirs) {
		t.Fatalf("%q: claims %#v, ParseWithClaims %#v", raw, mine.m, theirs)
	}
}

func parseSeeds(tb testing.TB, v *Verifier) []string {
	minted, _, err := v.Mint(MintOptions{Type: "refresh", User: "9", Extra: map[string]any{"fam": "x", "aud": []string{"a"}}})
	if err != nil {
		tb.Fatal(err)
	}
	key := []byte(djangoSecret)
	return []string{
		simpleJWTAccess, simpleJWTRefresh, minted,
		signHMAC(tb, key, simpleJWTHeader, `{"exp":1e400,"jti":"j"}`),
		signHMAC(tb, key, simpleJWTHeader, `{"exp":1,"jti":"j"}`),
		signHMAC(tb, key, simpleJWTHeader, `{"exp":4000000000,"nbf":3999999999,"iat":3999999999,"jti":"j"}`),
		signHMAC(tb, key, simpleJWTHeader, `{"exp":4000000000,"jti":"j"} trailing`),
		signHMAC(tb, key, simpleJWTHeader, `{"exp":4000000000,"jti":"j\u0041"}`),
		signHMAC(tb, key, `{"alg":"HS256","kid":7}`, stdPayload),
		signHMAC(tb, key, `{"alg":"HS512"}`, stdPayload),
		signHMAC(tb, key, `{"alg":"none"}`, stdPayload),
		signHMAC(tb, key, `{"alg":"XX1"}`, stdPayload),
		signHMAC(tb, key, `{"typ":"JWT"}`, stdPayload),
		signHMAC(tb, []byte("another key"), simpleJWTHeader, stdPayload),
		signHMAC(tb, key, simpleJWTHeader, `[]`),
		signHMAC(tb, key, simpleJWTHeader, `{"exp":"soon"}`),
		"eyJhbGciOiJub25lIn0.e30.", "", ".", "..", "a.b.c", "a.b.c.d", "e30.e30.e30",
		strings.Replace(simpleJWTAccess, ".", "=.", 1),
		signHMAC(tb, key, simpleJWTHeader, "[1]"), signHMAC(tb, key, "{\"alg\":\"HS256\",\"x\":\"\xff\"}", stdPayload),
		signHMAC(tb, key, simpleJWTHeader, "{\"exp\":4000000000,\"jti\":\"\xff\"}"), signHMAC(tb, key, simpleJWTHeader, " \n{\"exp\":4000000000,\"jti\":\"j\"}"),
	}
}

// With PyJWT's checks, parse refuses exactly what pyjwtSegments refuses
// besides what ParseWithClaims refuses.
func checkPyJWT(t *testing.T, v *Verifier, raw string) {
	t.Helper()
	var a, b claimMap
	_, strict := v.parse(raw, &a, true)
	_, loose := v.parse(raw, &b, false)
	if want := loose != nil || !pyjwtSegments(raw); (strict != nil) != want {
		t.Fatalf("%q: with PyJWT's checks %v; without %v, pyjwtSegments %v", raw, strict, loose, pyjwtSegments(raw))
	}
}

func TestParseMatchesGolangJWT(t *testing.T) {
	v := hsVerifier(t)
	for _, raw := range parseSeeds(t, v) {
		checkParse(t, v, raw)
		checkPyJWT(t, v, raw)
	}
}

func FuzzParseMatchesGolangJWT(f *testing.F) {
	v := hsVerifier(f)
	for _, raw := range parseSeeds(f, v) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkParse(t, v, raw)
		checkPyJWT(t, v, raw)
	})
}
