package token

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// accessPayload is an RFC 9068 access token's payload with extra claims
// (a JSON object's members, without braces; "" for none).
func accessPayload(extra string) string {
	p := fmt.Sprintf(`{"iss":"https://issuer.example/","sub":"u1","aud":"api","exp":%d,"iat":%d,"jti":"at-1","client_id":"app"`, expiresAt, issuedAt)
	if extra != "" {
		p += "," + extra
	}
	return p + "}"
}

func TestAccessTokenType(t *testing.T) {
	key := []byte(djangoSecret)
	for _, tc := range []struct {
		name     string
		untyped  bool
		header   string
		extra    string
		wantType string // Claims.Type with wantType ""
		access   error  // Verify(raw, "access")
	}{
		{"at+jwt", false, `{"alg":"HS256","typ":"at+jwt"}`, "", "access", nil},
		{"application/at+jwt", false, `{"alg":"HS256","typ":"application/at+jwt"}`, "", "access", nil},
		{"AT+JWT", false, `{"alg":"HS256","typ":"AT+JWT"}`, "", "access", nil},
		{"at+jwt with a type claim", false, `{"alg":"HS256","typ":"at+jwt"}`, `"token_type":"refresh"`, "refresh", ErrWrongType},
		{"typ JWT", false, `{"alg":"HS256","typ":"JWT"}`, "", "", ErrNoType},
		{"no typ", false, `{"alg":"HS256"}`, "", "", ErrNoType},
		{"typ not a string", false, `{"alg":"HS256","typ":7}`, "", "", ErrNoType},
		{"typ JWT, untyped are access", true, `{"alg":"HS256","typ":"JWT"}`, "", "access", nil},
		{"no typ, untyped are access", true, `{"alg":"HS256"}`, "", "access", nil},
		{"typ jwt, untyped are access", true, `{"alg":"HS256","typ":"jwt"}`, "", "access", nil},
		{"other typ, untyped are access", true, `{"alg":"HS256","typ":"logout+jwt"}`, "", "", ErrNoType},
		{"typed token, untyped are access", true, `{"alg":"HS256","typ":"JWT"}`, `"token_type":"refresh"`, "refresh", ErrWrongType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, Config{HSSecret: key, Now: testNow, UntypedTokensAreAccess: tc.untyped})
			raw := signHMAC(t, key, tc.header, accessPayload(tc.extra))
			c, err := v.Verify(raw, "")
			if err != nil || c.Type != tc.wantType {
				t.Fatalf("Verify(raw, \"\") = type %q, %v; want %q", c.Type, err, tc.wantType)
			}
			if _, err := v.Verify(raw, "access"); !errors.Is(err, tc.access) && err != tc.access {
				t.Fatalf("Verify(raw, access) = %v, want %v", err, tc.access)
			}
			if tc.wantType == "access" {
				if _, err := v.Verify(raw, "refresh"); !errors.Is(err, ErrWrongType) {
					t.Fatalf("Verify(raw, refresh) = %v, want ErrWrongType", err)
				}
			}
		})
	}
}

func TestAccessClaims(t *testing.T) {
	key := []byte(djangoSecret)
	v := newVerifier(t, Config{HSSecret: key, Now: testNow})
	hdr := `{"alg":"HS256","typ":"at+jwt"}`
	for _, tc := range []struct {
		name  string
		extra string
		want  Claims // ClientID, SessionID, Scope, Issuer
		err   error
	}{
		{"client_id, sid, scope", `"sid":"s1","scope":"read write"`, Claims{ClientID: "app", SessionID: "s1", Scope: "read write"}, nil},
		{"scp array", `"scp":["a","b","c"]`, Claims{ClientID: "app", Scope: "a b c"}, nil},
		{"scp with a number", `"scp":["a",1]`, Claims{ClientID: "app"}, nil},
		{"scope wins over scp", `"scope":"x","scp":["y"]`, Claims{ClientID: "app", Scope: "x"}, nil},
		{"scope not a string", `"scope":7`, Claims{ClientID: "app"}, nil},
		{"scope too long", `"scope":"` + strings.Repeat("s", MaxScopeLen+1) + `"`, Claims{ClientID: "app"}, nil},
		{"sid not a string", `"sid":5`, Claims{ClientID: "app"}, nil},
		{"sid too long", `"sid":"` + strings.Repeat("s", MaxSessionIDLen+1) + `"`, Claims{}, ErrInvalid},
		{"sid with a control character", `"sid":"a\u0001"`, Claims{}, ErrInvalid},
		{"sid with a space at the end", `"sid":"a "`, Claims{}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(signHMAC(t, key, hdr, accessPayload(tc.extra)), "access")
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Verify = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Issuer = "https://issuer.example/"
			if c.ClientID != tc.want.ClientID || c.SessionID != tc.want.SessionID || c.Scope != tc.want.Scope || c.Issuer != tc.want.Issuer {
				t.Fatalf("claims client %q sid %q scope %q iss %q, want %+v", c.ClientID, c.SessionID, c.Scope, c.Issuer, tc.want)
			}
		})
	}
	// azp stands in for a missing client_id.
	p := fmt.Sprintf(`{"exp":%d,"iat":%d,"jti":"j","azp":"web"}`, expiresAt, issuedAt)
	if c, err := v.Verify(signHMAC(t, key, hdr, p), ""); err != nil || c.ClientID != "web" || c.Issuer != "" {
		t.Fatalf("azp: %+v, %v", c, err)
	}
	// Issuers too long for the store are refused; long ones up to it pass.
	for n, want := range map[int]error{MaxIssuerLen: nil, MaxIssuerLen + 1: ErrInvalid} {
		p := fmt.Sprintf(`{"exp":%d,"jti":"j","iss":"%s"}`, expiresAt, strings.Repeat("i", n))
		if _, err := v.Verify(signHMAC(t, key, hdr, p), ""); !errors.Is(err, want) && err != want {
			t.Errorf("iss of %d bytes: %v, want %v", n, err, want)
		}
	}
}

func TestRevocationID(t *testing.T) {
	key := []byte(djangoSecret)
	noJTI := signHMAC(t, key, `{"alg":"HS256","typ":"at+jwt"}`, fmt.Sprintf(`{"exp":%d,"client_id":"app"}`, expiresAt))
	for _, mode := range []string{"", RevocationIDJTI} {
		v := newVerifier(t, Config{HSSecret: key, Now: testNow, RevocationID: mode})
		if _, err := v.Verify(noJTI, ""); !errors.Is(err, ErrNoID) {
			t.Errorf("RevocationID %q: %v, want ErrNoID", mode, err)
		}
	}
	v := newVerifier(t, Config{HSSecret: key, Now: testNow, RevocationID: RevocationIDSHA256})
	c, err := v.Verify(noJTI, "access")
	sum := sha256.Sum256([]byte(noJTI))
	if err != nil || c.JTI != hex.EncodeToString(sum[:]) {
		t.Fatalf("sha256: %q, %v; want %x", c.JTI, err, sum)
	}
	// A token with a jti keeps it.
	if c, err := v.Verify(simpleJWTAccess, "access"); err != nil || c.JTI != accessJTI {
		t.Fatalf("a token with jti under sha256: %q, %v", c.JTI, err)
	}
	if _, err := New(Config{HSSecret: key, RevocationID: "md5"}); err == nil || !strings.Contains(err.Error(), "RevocationID") {
		t.Fatalf("New with RevocationID md5: %v, want an error naming the field", err)
	}
}
