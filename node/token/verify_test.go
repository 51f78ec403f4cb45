package token

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestVerifySimpleJWTTokens(t *testing.T) {
	v := hsVerifier(t)
	tests := []struct {
		name     string
		token    string
		wantType string
		want     Claims
	}{
		{
			name: "access token with integer user id", token: simpleJWTAccess, wantType: "access",
			want: Claims{JTI: accessJTI, Type: "access", User: "42", IssuedAt: time.Unix(issuedAt, 0), ExpiresAt: time.Unix(expiresAt, 0)},
		},
		{
			name: "access token as an untyped token", token: simpleJWTAccess, wantType: "",
			want: Claims{JTI: accessJTI, Type: "access", User: "42", IssuedAt: time.Unix(issuedAt, 0), ExpiresAt: time.Unix(expiresAt, 0)},
		},
		{
			name: "refresh token with string user id", token: simpleJWTRefresh, wantType: "refresh",
			want: Claims{JTI: refreshJTI, Type: "refresh", User: "c0ffee-user", IssuedAt: time.Unix(issuedAt, 0), ExpiresAt: time.Unix(1700086400, 0)},
		},
		{
			name: "hand-built token equals the golden one",
			token: signHMAC(t, []byte(djangoSecret), simpleJWTHeader,
				stdPayload),
			wantType: "access",
			want:     Claims{JTI: accessJTI, Type: "access", User: "42", IssuedAt: time.Unix(issuedAt, 0), ExpiresAt: time.Unix(expiresAt, 0)},
		},
		{
			name: "sliding token",
			token: signHMAC(t, []byte(djangoSecret), simpleJWTHeader,
				`{"token_type":"sliding","exp":1700000300,"iat":1700000000,"jti":"`+accessJTI+`","refresh_exp":1700086400,"user_id":7}`),
			wantType: "sliding",
			want:     Claims{JTI: accessJTI, Type: "sliding", User: "7", IssuedAt: time.Unix(issuedAt, 0), ExpiresAt: time.Unix(expiresAt, 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.token, tt.wantType)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			assertClaims(t, got, tt.want)
		})
	}
	if simpleJWTAccess != signHMAC(t, []byte(djangoSecret), simpleJWTHeader, stdPayload) {
		t.Errorf("hand-built token differs from the one PyJWT's code path produced")
	}
}

// assertClaims compares the typed fields of Claims (not Raw).
func assertClaims(tb testing.TB, got, want Claims) {
	tb.Helper()
	got.Raw, want.Raw = nil, nil
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("claims:\n got %+v\nwant %+v", got, want)
	}
}

func TestVerifyErrors(t *testing.T) {
	secret := []byte(djangoSecret)
	hs := func(payload string) string { return signHMAC(t, secret, simpleJWTHeader, payload) }
	withHeader := func(header, payload string) string { return signHMAC(t, secret, header, payload) }
	// claims builds a payload from the standard claims, with overrides:
	// a value of "" drops the claim, any other value is raw JSON.
	claims := func(kv ...string) string {
		names := []string{"token_type", "exp", "iat", "jti", "user_id"}
		vals := map[string]string{
			"token_type": `"access"`, "exp": "1700000300", "iat": "1700000000",
			"jti": `"` + accessJTI + `"`, "user_id": "42",
		}
		for i := 0; i < len(kv); i += 2 {
			if _, ok := vals[kv[i]]; !ok {
				names = append(names, kv[i])
			}
			vals[kv[i]] = kv[i+1]
		}
		var parts []string
		for _, n := range names {
			if vals[n] != "" {
				parts = append(parts, fmt.Sprintf("%q:%s", n, vals[n]))
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	valid := hs(stdPayload)
	h, p, _ := strings.Cut(valid, ".")
	p, s, _ := strings.Cut(p, ".")
	flipped := []byte(s)
	flipped[3] ^= 1 // still base64url: letters differ in their low bit
	longPad := strings.Repeat("a", MaxTokenSize)

	tests := []struct {
		name     string
		token    string
		wantType string
		wantErr  error
	}{
		{"valid", valid, "access", nil},
		// Order of checks: expired → no exp → no id → no type → wrong type.
		{"no exp", hs(claims("exp", "")), "access", ErrNoExp},
		{"no exp, no jti, no type", hs(claims("exp", "", "jti", "", "token_type", "")), "access", ErrNoExp},
		{"no jti", hs(claims("jti", "")), "access", ErrNoID},
		{"no jti, no type", hs(claims("jti", "", "token_type", "")), "access", ErrNoID},
		{"empty jti", hs(claims("jti", `""`)), "access", ErrNoID},
		{"null jti", hs(claims("jti", "null")), "access", ErrNoID},
		{"numeric jti", hs(claims("jti", "12345")), "access", nil},
		{"no type", hs(claims("token_type", "")), "access", ErrNoType},
		{"no type, untyped", hs(claims("token_type", "")), "", nil},
		{"wrong type", hs(claims("token_type", `"refresh"`)), "access", ErrWrongType},
		{"wrong type, untyped", hs(claims("token_type", `"refresh"`)), "", nil},
		{"null type", hs(claims("token_type", "null")), "access", ErrWrongType},
		{"numeric type", hs(claims("token_type", "1")), "1", ErrWrongType},
		{"expired", hs(claims("exp", "1700000099")), "access", ErrExpired},
		{"expires this second", hs(claims("exp", "1700000100")), "access", ErrExpired},
		{"expires next second", hs(claims("exp", "1700000101")), "access", nil},
		{"exp zero", hs(claims("exp", "0")), "access", ErrExpired},
		{"exp negative", hs(claims("exp", "-5")), "access", ErrExpired},
		{"expired, no jti, wrong type", hs(claims("exp", "1", "jti", "", "token_type", `"x"`)), "access", ErrExpired},
		{"expired with bad signature", withHeader(simpleJWTHeader, claims("exp", "1")) + "x", "access", ErrInvalid},
		{"exp float", hs(claims("exp", "1700000300.75")), "access", nil},
		{"exp exponent", hs(claims("exp", "1.7000003e9")), "access", nil},
		{"exp string", hs(claims("exp", `"1700000300"`)), "access", ErrInvalid},
		{"exp null", hs(claims("exp", "null")), "access", ErrInvalid},
		{"exp bool", hs(claims("exp", "true")), "access", ErrInvalid},
		{"exp after year 9999", hs(claims("exp", "253402300800")), "access", ErrInvalid},
		{"exp huge", hs(claims("exp", "1e400")), "access", ErrInvalid},
		{"exp before year 1", hs(claims("exp", "-1e300")), "access", ErrInvalid},
		{"iat string", hs(claims("iat", `"x"`)), "access", ErrInvalid},
		{"iat in the future", hs(claims("iat", "1700000101")), "access", ErrInvalid},
		{"iat absent", hs(claims("iat", "")), "access", nil},
		{"nbf in the future", hs(claims("nbf", "1700000101")), "access", ErrInvalid},
		{"nbf now", hs(claims("nbf", "1700000100")), "access", nil},
		{"nbf string", hs(claims("nbf", `"soon"`)), "access", ErrInvalid},
		{"nbf in the future and expired", hs(claims("nbf", "1700000101", "exp", "5")), "access", ErrInvalid},
		{"bad signature", h + "." + p + "." + string(flipped), "access", ErrInvalid},
		{"other secret", signHMAC(t, []byte("another secret"), simpleJWTHeader, stdPayload), "access", ErrInvalid},
		{"no signature", h + "." + p + ".", "access", ErrInvalid},
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + p + ".", "access", ErrInvalid},
		{"alg none with a signature", withHeader(`{"alg":"none","typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"alg None", withHeader(`{"alg":"None","typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"alg HS512 not accepted", signAlg(t, "HS512", secret, stdPayload), "access", ErrInvalid},
		{"alg RS256 not configured", withHeader(`{"alg":"RS256","typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"alg missing", withHeader(`{"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"alg not a string", withHeader(`{"alg":256,"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"alg unknown", withHeader(`{"alg":"XS256","typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"kid string is ignored", withHeader(`{"alg":"HS256","kid":"k1","typ":"JWT"}`, stdPayload), "access", nil},
		{"kid number", withHeader(`{"alg":"HS256","kid":1,"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"kid null", withHeader(`{"alg":"HS256","kid":null,"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"b64 false", withHeader(`{"alg":"HS256","b64":false,"crit":["b64"],"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		// RFC 7515 §4.1.11: a crit naming an extension the verifier does
		// not understand makes the token invalid; blnode understands none.
		{"crit naming a registered claim", withHeader(`{"alg":"HS256","crit":["exp"],"exp":1700000300,"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"crit naming an unknown extension", withHeader(`{"alg":"HS256","crit":["http://example.invalid/ext"],"http://example.invalid/ext":true,"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"crit naming b64, b64 true", withHeader(`{"alg":"HS256","b64":true,"crit":["b64"],"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"crit empty", withHeader(`{"alg":"HS256","crit":[],"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"crit a string", withHeader(`{"alg":"HS256","crit":"exp","typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"crit null", withHeader(`{"alg":"HS256","crit":null,"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"crit a number", withHeader(`{"alg":"HS256","crit":1,"typ":"JWT"}`, stdPayload), "access", ErrInvalid},
		{"header not JSON", withHeader(`{"alg":"HS256"`, stdPayload), "access", ErrInvalid},
		{"header is an array", withHeader(`["HS256"]`, stdPayload), "access", ErrInvalid},
		{"payload not JSON", hs(`{"exp":`), "access", ErrInvalid},
		{"payload is a number", hs(`1700000300`), "access", ErrInvalid},
		{"payload is an array", hs(`[1,2]`), "access", ErrInvalid},
		{"payload is a string", hs(`"token"`), "access", ErrInvalid},
		{"payload bad base64", h + ".!!!." + s, "access", ErrInvalid},
		{"signature bad base64", h + "." + p + ".***", "access", ErrInvalid},
		{"padded base64", h + "." + p + "=." + s, "access", ErrInvalid},
		{"token is a number", "1700000300", "access", ErrInvalid},
		{"empty", "", "access", ErrInvalid},
		{"one segment", h, "access", ErrInvalid},
		{"two segments", h + "." + p, "access", ErrInvalid},
		{"four segments", valid + "." + s, "access", ErrInvalid},
		{"surrounding space", " " + valid + " ", "access", ErrInvalid},
		{"Bearer prefix", "Bearer " + valid, "access", ErrInvalid},
		// A token the store or the event stream could not hold could never
		// be revoked: it is invalid (issue 17).
		{"jti of MaxJTILen bytes", hs(claims("jti", `"`+strings.Repeat("j", MaxJTILen)+`"`)), "access", nil},
		{"jti over MaxJTILen bytes", hs(claims("jti", `"`+strings.Repeat("j", MaxJTILen+1)+`"`)), "access", ErrInvalid},
		{"jti over MaxJTILen bytes, fewer runes", hs(claims("jti", `"`+strings.Repeat("é", 128)+`"`)), "access", ErrInvalid},
		{"numeric jti over MaxJTILen digits", hs(claims("jti", strings.Repeat("9", MaxJTILen+1))), "access", ErrInvalid},
		{"user of MaxUserLen bytes", hs(claims("user_id", `"`+strings.Repeat("u", MaxUserLen)+`"`)), "access", nil},
		{"user over MaxUserLen bytes", hs(claims("user_id", `"`+strings.Repeat("u", MaxUserLen+1)+`"`)), "access", ErrInvalid},
		{"user with NUL", hs(claims("user_id", `"4\u00002"`)), "access", ErrInvalid},
		// The jti, user id and type must reach /auth's headers unchanged.
		{"user with spaces around", hs(claims("user_id", `" 42 "`)), "access", ErrInvalid},
		{"user with a trailing space", hs(claims("user_id", `"42 "`)), "access", ErrInvalid},
		{"user with a leading tab", hs(claims("user_id", `"\t42"`)), "access", ErrInvalid},
		{"user with a newline", hs(claims("user_id", `"4\n2"`)), "access", ErrInvalid},
		{"user with CR LF", hs(claims("user_id", `"4\r\nX-Admin: 1"`)), "access", ErrInvalid},
		{"user with DEL", hs(claims("user_id", `"4\u007f2"`)), "access", ErrInvalid},
		{"user with a space inside and non-ASCII", hs(claims("user_id", `"José 42"`)), "access", nil},
		{"user with a no-break space at the end", hs(claims("user_id", `"42\u00a0"`)), "access", nil},
		{"jti with spaces around", hs(claims("jti", `" j "`)), "access", ErrInvalid},
		{"jti with a control character", hs(claims("jti", `"j\u0001"`)), "access", ErrInvalid},
		{"type with spaces around", hs(claims("token_type", `" access "`)), "", ErrInvalid},
		{"type of MaxTypeLen bytes", hs(claims("token_type", `"`+strings.Repeat("t", MaxTypeLen)+`"`)), "", nil},
		{"type over MaxTypeLen bytes", hs(claims("token_type", `"`+strings.Repeat("t", MaxTypeLen+1)+`"`)), "", ErrInvalid},
		{"family of MaxFamilyLen bytes", hs(claims("fam", `"`+strings.Repeat("f", MaxFamilyLen)+`"`)), "access", nil},
		{"family over MaxFamilyLen bytes", hs(claims("fam", `"`+strings.Repeat("f", MaxFamilyLen+1)+`"`)), "access", ErrInvalid},
		{"just under 16 KiB", hs(claims("pad", `"`+longPad[:MaxTokenSize*3/4-200]+`"`)), "access", nil},
		{"over 16 KiB", hs(claims("pad", `"`+longPad+`"`)), "access", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := hsVerifier(t)
			c, err := v.Verify(tt.token, tt.wantType)
			if err != tt.wantErr { // the sentinels themselves, not wrapped
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (c.JTI == "" || c.ExpiresAt.IsZero() || c.Raw == nil) {
				t.Errorf("claims of a valid token incomplete: %+v", c)
			}
			if err != nil && !reflect.DeepEqual(c, Claims{}) {
				t.Errorf("claims of an invalid token not empty: %+v", c)
			}
		})
	}
}

func TestVerifyClaimValues(t *testing.T) {
	v := hsVerifier(t)
	secret := []byte(djangoSecret)
	tests := []struct {
		name    string
		payload string
		want    Claims
	}{
		{"user id bigger than int64", `{"token_type":"access","exp":1700000300,"jti":"j","user_id":123456789012345678901234567890}`,
			Claims{JTI: "j", Type: "access", User: "123456789012345678901234567890", ExpiresAt: time.Unix(expiresAt, 0)}},
		{"user id absent", `{"token_type":"access","exp":1700000300,"jti":"j"}`,
			Claims{JTI: "j", Type: "access", ExpiresAt: time.Unix(expiresAt, 0)}},
		{"user id object", `{"token_type":"access","exp":1700000300,"jti":"j","user_id":{"id":1}}`,
			Claims{JTI: "j", Type: "access", ExpiresAt: time.Unix(expiresAt, 0)}},
		{"family", `{"token_type":"refresh","exp":1700000300,"jti":"j","fam":"f-1"}`,
			Claims{JTI: "j", Type: "refresh", Family: "f-1", ExpiresAt: time.Unix(expiresAt, 0)}},
		{"fractional exp", `{"exp":1700000300.5,"jti":"j"}`,
			Claims{JTI: "j", ExpiresAt: time.Unix(expiresAt, 5e8)}},
		{"numeric type is not a Type", `{"exp":1700000300,"jti":"j","token_type":5}`,
			Claims{JTI: "j", ExpiresAt: time.Unix(expiresAt, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(signHMAC(t, secret, simpleJWTHeader, tt.payload), "")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			assertClaims(t, c, tt.want)
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	secret := []byte(djangoSecret)
	tests := []struct {
		name    string
		leeway  time.Duration
		payload string
		wantErr error
	}{
		{"expired 30s ago, no leeway", 0, `{"exp":1700000070,"jti":"j"}`, ErrExpired},
		{"expired 30s ago, leeway 60s", time.Minute, `{"exp":1700000070,"jti":"j"}`, nil},
		{"expired 60s ago, leeway 60s", time.Minute, `{"exp":1700000040,"jti":"j"}`, ErrExpired},
		{"expired 90s ago, leeway 60s", time.Minute, `{"exp":1700000010,"jti":"j"}`, ErrExpired},
		{"iat 30s ahead, leeway 60s", time.Minute, `{"exp":1700000300,"iat":1700000130,"jti":"j"}`, nil},
		{"nbf 30s ahead, leeway 60s", time.Minute, `{"exp":1700000300,"nbf":1700000130,"jti":"j"}`, nil},
		{"nbf 90s ahead, leeway 60s", time.Minute, `{"exp":1700000300,"nbf":1700000190,"jti":"j"}`, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Config{HSSecret: secret, Leeway: tt.leeway, Now: testNow})
			if _, err := v.Verify(signHMAC(t, secret, simpleJWTHeader, tt.payload), ""); err != tt.wantErr {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyAudienceIssuer(t *testing.T) {
	secret := []byte(djangoSecret)
	tests := []struct {
		name     string
		audience string
		issuer   string
		extra    string
		wantErr  error
	}{
		{"audience matches", "api", "", `,"aud":"api"`, nil},
		{"audience in list", "api", "", `,"aud":["web","api"]`, nil},
		{"audience mismatch", "api", "", `,"aud":"web"`, ErrInvalid},
		{"audience missing", "api", "", ``, ErrInvalid},
		{"audience not a string", "api", "", `,"aud":7`, ErrInvalid},
		{"audience unchecked when not configured", "", "", `,"aud":"web"`, nil},
		{"issuer matches", "", "auth", `,"iss":"auth"`, nil},
		{"issuer mismatch", "", "auth", `,"iss":"evil"`, ErrInvalid},
		{"issuer missing", "", "auth", ``, ErrInvalid},
		{"issuer unchecked when not configured", "", "", `,"iss":"evil"`, nil},
		{"expired with wrong audience", "api", "", `,"aud":"web","exp":1`, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Config{HSSecret: secret, Audience: tt.audience, Issuer: tt.issuer, Now: testNow})
			payload := `{"token_type":"access","exp":1700000300,"jti":"j"` + tt.extra + `}`
			if _, err := v.Verify(signHMAC(t, secret, simpleJWTHeader, payload), "access"); err != tt.wantErr {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyPublicKeys(t *testing.T) {
	tests := []struct {
		name  string
		kind  string // genKey kind
		other string // another key of the same family
		alg   string
	}{
		{name: "RS256", kind: "rsa", other: "rsa2", alg: "RS256"},
		{name: "RS384", kind: "rsa", other: "rsa2", alg: "RS384"},
		{name: "RS512", kind: "rsa", other: "rsa2", alg: "RS512"},
		{name: "PS256", kind: "rsa", other: "rsa2", alg: "PS256"},
		{name: "PS512", kind: "rsa", other: "rsa2", alg: "PS512"},
		{name: "ES256", kind: "p256", other: "p256", alg: "ES256"},
		{name: "ES384", kind: "p384", other: "p384", alg: "ES384"},
		{name: "ES512", kind: "p521", other: "p521", alg: "ES512"},
		{name: "EdDSA", kind: "ed25519", other: "ed25519", alg: "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			priv := genKey(t, tt.kind)
			pemBytes := pubPEM(t, priv.Public())
			v := newVerifier(t, Config{PublicKeyPEMs: loadPEMs(t, pemBytes), Now: testNow})

			good := signAlg(t, tt.alg, priv, stdPayload)
			c, err := v.Verify(good, "access")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.User != "42" || c.JTI != accessJTI {
				t.Errorf("claims = %+v", c)
			}
			other := genKey(t, tt.other)
			if _, err := v.Verify(signAlg(t, tt.alg, other, stdPayload), "access"); err != ErrInvalid {
				t.Errorf("token of another key: Verify = %v, want ErrInvalid", err)
			}
			tampered := good[:len(good)-2] + "AA"
			if tampered == good {
				tampered = good[:len(good)-2] + "BA"
			}
			if _, err := v.Verify(tampered, "access"); err != ErrInvalid {
				t.Errorf("tampered signature: Verify = %v, want ErrInvalid", err)
			}
			if _, err := v.Verify(signHMAC(t, pemBytes, simpleJWTHeader, stdPayload), "access"); err != ErrInvalid {
				t.Errorf("HS256 with the public key as secret: Verify = %v, want ErrInvalid", err)
			}
			expired := signAlg(t, tt.alg, priv, `{"token_type":"access","exp":1,"jti":"j"}`)
			if _, err := v.Verify(expired, "access"); err != ErrExpired {
				t.Errorf("expired: Verify = %v, want ErrExpired", err)
			}
		})
	}
}

func TestVerifyPEMForms(t *testing.T) {
	priv := genKey(t, "rsa").(*rsa.PrivateKey)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)})
	ed := genKey(t, "ed25519")
	tests := []struct {
		name string
		pem  []byte
		alg  string
		key  any
	}{
		{"PUBLIC KEY", pubPEM(t, priv.Public()), "RS256", priv},
		{"RSA PUBLIC KEY", pkcs1, "RS256", priv},
		{"RSA CERTIFICATE", certPEM(t, priv), "PS384", priv},
		{"Ed25519 CERTIFICATE", certPEM(t, ed), "EdDSA", ed},
		{"text around the block", append(append([]byte("comment\n"), pkcs1...), "trailer\n"...), "RS256", priv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Config{PublicKeyPEMs: loadPEMs(t, tt.pem), Now: testNow})
			if _, err := v.Verify(signAlg(t, tt.alg, tt.key, stdPayload), "access"); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyAlgorithmConfusion(t *testing.T) {
	priv := genKey(t, "rsa")
	pemBytes := pubPEM(t, priv.Public())
	secret := []byte(djangoSecret)
	// The classic attack: sign HS256 with the public key's PEM text as the
	// HMAC secret, hoping the verifier feeds its RS256 key to HMAC.
	forged := signHMAC(t, pemBytes, simpleJWTHeader, stdPayload)
	forgedDER := signHMAC(t, mustDER(t, pemBytes), simpleJWTHeader, stdPayload)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"RS only, default algorithms", Config{PublicKeyPEMs: [][]byte{pemBytes}}},
		{"RS only, algorithms RS256", Config{PublicKeyPEMs: [][]byte{pemBytes}, Algorithms: []string{"RS256"}}},
		{"RS and HS", Config{PublicKeyPEMs: [][]byte{pemBytes}, HSSecret: secret}},
		{"RS and HS, all HS algorithms", Config{PublicKeyPEMs: [][]byte{pemBytes}, HSSecret: secret, Algorithms: []string{"HS256", "HS384", "HS512", "RS256"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Now = testNow
			v := newVerifier(t, tt.cfg)
			for _, tok := range []string{forged, forgedDER} {
				if _, err := v.Verify(tok, "access"); err != ErrInvalid {
					t.Errorf("forged HS256 token: Verify = %v, want ErrInvalid", err)
				}
			}
			if _, err := v.Verify(signAlg(t, "RS256", priv, stdPayload), "access"); err != nil {
				t.Errorf("genuine RS256 token: %v", err)
			}
			if tt.cfg.HSSecret != nil {
				if _, err := v.Verify(simpleJWTAccess, "access"); err != nil {
					t.Errorf("genuine HS256 token: %v", err)
				}
			}
		})
	}
}

func mustDER(tb testing.TB, p []byte) []byte {
	tb.Helper()
	blk, _ := pem.Decode(p)
	if blk == nil {
		tb.Fatal("no PEM block")
	}
	return blk.Bytes
}

func TestVerifySeveralKeysOfOneFamily(t *testing.T) {
	k1, k2, k3 := genKey(t, "rsa"), genKey(t, "rsa2"), genKey(t, "rsa3")
	e1, e2 := genKey(t, "p256"), genKey(t, "p384")
	bundle := append(pubPEM(t, k2.Public()), certPEM(t, k3)...)
	v := newVerifier(t, Config{
		PublicKeyPEMs: loadPEMs(t, pubPEM(t, k1.Public()), bundle, pubPEM(t, e1.Public()), pubPEM(t, e2.Public())),
		Now:           testNow,
	})
	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"first RSA key", signAlg(t, "RS256", k1, stdPayload), nil},
		{"second RSA key, from a bundle", signAlg(t, "RS256", k2, stdPayload), nil},
		{"third RSA key, a certificate in a bundle", signAlg(t, "PS256", k3, stdPayload), nil},
		{"kid naming another key is ignored", signWithHeader(t, "RS256", `{"alg":"RS256","kid":"k1","typ":"JWT"}`, k3, stdPayload), nil},
		{"P-256 key", signAlg(t, "ES256", e1, stdPayload), nil},
		{"P-384 key", signAlg(t, "ES384", e2, stdPayload), nil},
		{"P-384 key claiming ES256", signWithHeader(t, "ES384", `{"alg":"ES256","typ":"JWT"}`, e2, stdPayload), ErrInvalid},
		{"unknown RSA key", signAlg(t, "RS256", genKey(t, "rsa4"), stdPayload), ErrInvalid},
		{"unknown P-256 key", signAlg(t, "ES256", genKey(t, "p256"), stdPayload), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Verify(tt.token, "access"); err != tt.wantErr {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if got, want := v.Algorithms(), []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Algorithms = %v, want %v", got, want)
	}
}

func TestNew(t *testing.T) {
	rsaPEM := pubPEM(t, genKey(t, "rsa").Public())
	p256PEM := pubPEM(t, genKey(t, "p256").Public())
	edPriv := genKey(t, "ed25519")
	secret := []byte(djangoSecret)
	tests := []struct {
		name     string
		cfg      Config
		wantErr  []string // substrings of the error; nil means success
		wantAlgs []string
	}{
		{name: "secret only", cfg: Config{HSSecret: secret}, wantAlgs: []string{"HS256"}},
		{name: "RSA key", cfg: Config{PublicKeyPEMs: [][]byte{rsaPEM}}, wantAlgs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}},
		{name: "secret and P-256 key", cfg: Config{HSSecret: secret, PublicKeyPEMs: [][]byte{p256PEM}}, wantAlgs: []string{"HS256", "ES256"}},
		{name: "private Ed25519 key only", cfg: Config{PrivateKeyPEM: pkcs8PEM(t, edPriv)}, wantAlgs: []string{"EdDSA"}},
		{name: "explicit algorithms, duplicates dropped", cfg: Config{HSSecret: secret, Algorithms: []string{"HS512", "HS256", "HS512"}}, wantAlgs: []string{"HS512", "HS256"}},
		{name: "no key", cfg: Config{}, wantErr: []string{"token: ", "HSSecret"}},
		{name: "empty secret is no key", cfg: Config{HSSecret: []byte{}}, wantErr: []string{"token: ", "no key"}},
		{name: "none", cfg: Config{HSSecret: secret, Algorithms: []string{"HS256", "none"}}, wantErr: []string{"token: ", "Algorithms", `"none"`}},
		{name: "NONE", cfg: Config{HSSecret: secret, Algorithms: []string{"NONE"}}, wantErr: []string{"Algorithms", `"NONE"`}},
		{name: "unknown algorithm", cfg: Config{HSSecret: secret, Algorithms: []string{"HS1"}}, wantErr: []string{"Algorithms", `"HS1"`}},
		{name: "RS256 without RSA key", cfg: Config{HSSecret: secret, Algorithms: []string{"RS256"}}, wantErr: []string{"Algorithms", `"RS256"`, "RSA"}},
		{name: "HS256 without secret", cfg: Config{PublicKeyPEMs: [][]byte{rsaPEM}, Algorithms: []string{"HS256"}}, wantErr: []string{"Algorithms", `"HS256"`, "HSSecret"}},
		{name: "ES384 with a P-256 key", cfg: Config{PublicKeyPEMs: [][]byte{p256PEM}, Algorithms: []string{"ES384"}}, wantErr: []string{"Algorithms", `"ES384"`, "P-384"}},
		{name: "garbage PEM", cfg: Config{PublicKeyPEMs: [][]byte{rsaPEM, []byte("not a key")}}, wantErr: []string{"token: ", "PublicKeyPEMs[1]"}},
		{name: "corrupt PEM body", cfg: Config{PublicKeyPEMs: [][]byte{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})}}, wantErr: []string{"PublicKeyPEMs[0]"}},
		{name: "private key as public", cfg: Config{PublicKeyPEMs: [][]byte{pkcs8PEM(t, edPriv)}}, wantErr: []string{"PublicKeyPEMs[0]", "private key", "PrivateKeyPEM"}},
		{name: "public key as private", cfg: Config{PrivateKeyPEM: rsaPEM}, wantErr: []string{"token: ", "PrivateKeyPEM", "PUBLIC KEY"}},
		{name: "encrypted private key", cfg: Config{PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})}, wantErr: []string{"PrivateKeyPEM", "encrypted"}},
		{name: "negative leeway", cfg: Config{HSSecret: secret, Leeway: -time.Second}, wantErr: []string{"token: ", "Leeway", "-1s"}},
		{name: "jti claim named exp", cfg: Config{HSSecret: secret, JTIClaim: "exp"}, wantErr: []string{"JTIClaim", `"exp"`}},
		{name: "two claims with one name", cfg: Config{HSSecret: secret, UserIDClaim: "token_type"}, wantErr: []string{"UserIDClaim", `"token_type"`, "TokenTypeClaim"}},
		{name: "too many keys of a kind", cfg: Config{PublicKeyPEMs: manyP256(t, maxKeysPerKind+1)}, wantErr: []string{"PublicKeyPEMs", "17", "16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if got := v.Algorithms(); !reflect.DeepEqual(got, tt.wantAlgs) {
					t.Errorf("Algorithms = %v, want %v", got, tt.wantAlgs)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want error with %q", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if !strings.HasPrefix(err.Error(), "token: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func manyP256(tb testing.TB, n int) [][]byte {
	tb.Helper()
	var out [][]byte
	for range n {
		out = append(out, pubPEM(tb, genKey(tb, "p256").Public()))
	}
	return out
}

func TestNewDoesNotKeepCallerSlices(t *testing.T) {
	secret := []byte(djangoSecret)
	rsaPEM := pubPEM(t, genKey(t, "rsa").Public())
	cfg := Config{HSSecret: secret, PublicKeyPEMs: [][]byte{rsaPEM}, Algorithms: []string{"HS256", "RS256"}}
	before := Config{
		HSSecret:      append([]byte(nil), secret...),
		PublicKeyPEMs: [][]byte{append([]byte(nil), rsaPEM...)},
		Algorithms:    []string{"HS256", "RS256"},
	}
	v := newVerifier(t, cfg)
	if !reflect.DeepEqual(cfg, before) {
		t.Fatalf("New changed the Config:\n got %+v\nwant %+v", cfg, before)
	}
	// Scribbling on the caller's slices afterwards changes nothing.
	for i := range secret {
		secret[i] = 'x'
	}
	cfg.Algorithms[0] = "RS512"
	v2 := newVerifier(t, Config{HSSecret: []byte(djangoSecret), Now: testNow})
	tok, _, err := v2.Mint(MintOptions{User: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.CanMint() || v.MintAlgorithm() != "HS256" {
		t.Errorf("MintAlgorithm = %q", v.MintAlgorithm())
	}
	if _, err := v.Verify(tok, "access"); err != nil && err != ErrExpired {
		t.Errorf("token under the original secret: %v", err)
	}
	if got := v.Algorithms(); !reflect.DeepEqual(got, []string{"HS256", "RS256"}) {
		t.Errorf("Algorithms = %v", got)
	}
}

func TestLoadPEMFiles(t *testing.T) {
	good := writeFile(t, "good.pem", pubPEM(t, genKey(t, "p256").Public()))
	notPEM := writeFile(t, "notpem.pem", []byte("hello"))
	missing := good + ".missing"
	tests := []struct {
		name    string
		paths   []string
		wantErr string // a path the error must name; "" means success
	}{
		{"one file", []string{good}, ""},
		{"no files", nil, ""},
		{"missing file", []string{good, missing}, missing},
		{"not PEM", []string{notPEM}, notPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := LoadPEMFiles(tt.paths)
			if tt.wantErr == "" {
				if err != nil || len(out) != len(tt.paths) {
					t.Fatalf("LoadPEMFiles = %d, %v", len(out), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "token: ") {
				t.Fatalf("LoadPEMFiles error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestDetail(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"invalid", ErrInvalid, "Token is invalid"},
		{"expired", ErrExpired, "Token is expired"},
		{"no exp", ErrNoExp, "Token has no 'exp' claim"},
		{"no id", ErrNoID, "Token has no id"},
		{"no type", ErrNoType, "Token has no type"},
		{"wrong type", ErrWrongType, "Token has wrong type"},
		{"wrapped", fmt.Errorf("check: %w", ErrWrongType), "Token has wrong type"},
		{"unknown", errors.New("disk on fire"), "Token is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detail(tt.err); got != tt.want {
				t.Errorf("Detail = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := hsVerifier(t)
	done := make(chan error, 8)
	for range cap(done) {
		go func() {
			for range 200 {
				if _, err := v.Verify(simpleJWTAccess, "access"); err != nil {
					done <- err
					return
				}
				if _, err := v.Verify(simpleJWTRefresh, "access"); err != ErrWrongType {
					done <- fmt.Errorf("refresh as access: %v", err)
					return
				}
			}
			done <- nil
		}()
	}
	for range cap(done) {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyRefusesExpAtOrBefore1970 covers the one unrevocable claim that
// only a leeway of decades lets through: the store and the event stream
// need exp > 0.
func TestVerifyRefusesExpAtOrBefore1970(t *testing.T) {
	v := newVerifier(t, Config{HSSecret: []byte(djangoSecret), Now: testNow, Leeway: 100 * 365 * 24 * time.Hour})
	for _, tt := range []struct {
		name, exp string
		want      error
	}{
		{"exp 1", "1", nil},
		{"exp 0", "0", ErrInvalid},
		{"exp 0.5", "0.5", ErrInvalid},
		{"exp negative", "-5", ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := signHMAC(t, []byte(djangoSecret), simpleJWTHeader, `{"exp":`+tt.exp+`,"jti":"j"}`)
			if _, err := v.Verify(tok, ""); err != tt.want {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}
