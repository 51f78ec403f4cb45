package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMintSimpleJWTGolden(t *testing.T) {
	v := newVerifier(t, Config{HSSecret: []byte(djangoSecret), Now: func() time.Time { return time.Unix(issuedAt, 0) }})
	tests := []struct {
		name string
		opts MintOptions
		want string
	}{
		{"access", MintOptions{Type: "access", User: "42", TTL: 5 * time.Minute, JTI: accessJTI}, simpleJWTAccess},
		{"access by default", MintOptions{User: "42", JTI: accessJTI}, simpleJWTAccess},
		{"refresh, default lifetime", MintOptions{Type: "refresh", User: "c0ffee-user", JTI: refreshJTI}, simpleJWTRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := v.Mint(tt.opts)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if got != tt.want {
				t.Errorf("Mint =\n%s\nwant the token Simple JWT mints:\n%s", got, tt.want)
			}
		})
	}
}

// decodeSegment returns the JSON of segment i of tok.
func decodeSegment(tb testing.TB, tok string, i int) []byte {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		tb.Fatalf("segment %d: %v", i, err)
	}
	return b
}

// keyOrder returns the top-level keys of a JSON object in order.
func keyOrder(tb testing.TB, obj []byte) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("not an object: %s", obj)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			tb.Fatalf("key: %v", err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			tb.Fatalf("value: %v", err)
		}
	}
	return keys
}

func TestMintRoundTrip(t *testing.T) {
	rsaKey := genKey(t, "rsa").(*rsa.PrivateKey)
	p256 := genKey(t, "p256").(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	ecParams := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	tests := []struct {
		name    string
		cfg     Config
		pub     []byte // a public key that must verify the minted token; nil for HS
		wantAlg string
	}{
		{name: "HS256", cfg: Config{HSSecret: []byte(djangoSecret)}, wantAlg: "HS256"},
		{name: "HS512 only", cfg: Config{HSSecret: []byte(djangoSecret), Algorithms: []string{"HS512"}}, wantAlg: "HS512"},
		{
			name:    "RSA PKCS#1",
			cfg:     Config{PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
			pub:     pubPEM(t, rsaKey.Public()),
			wantAlg: "RS256",
		},
		{name: "RSA PKCS#8, PS256 only", cfg: Config{PrivateKeyPEM: pkcs8PEM(t, rsaKey), Algorithms: []string{"PS256"}}, pub: pubPEM(t, rsaKey.Public()), wantAlg: "PS256"},
		{
			name:    "EC P-256 SEC 1 after EC PARAMETERS",
			cfg:     Config{PrivateKeyPEM: append(ecParams, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)},
			pub:     pubPEM(t, p256.Public()),
			wantAlg: "ES256",
		},
		{name: "EC P-384 PKCS#8", cfg: Config{PrivateKeyPEM: pkcs8PEM(t, genKey(t, "p384"))}, wantAlg: "ES384"},
		{name: "EC P-521 PKCS#8", cfg: Config{PrivateKeyPEM: pkcs8PEM(t, genKey(t, "p521"))}, wantAlg: "ES512"},
		{name: "Ed25519", cfg: Config{PrivateKeyPEM: pkcs8PEM(t, genKey(t, "ed25519"))}, wantAlg: "EdDSA"},
		{name: "private key and secret: the private key signs", cfg: Config{HSSecret: []byte(djangoSecret), PrivateKeyPEM: pkcs8PEM(t, rsaKey)}, pub: pubPEM(t, rsaKey.Public()), wantAlg: "RS256"},
		{name: "private key not accepted: the secret signs", cfg: Config{HSSecret: []byte(djangoSecret), PrivateKeyPEM: pkcs8PEM(t, rsaKey), Algorithms: []string{"HS256"}}, wantAlg: "HS256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Now = testNow
			v := newVerifier(t, tt.cfg)
			if !v.CanMint() || v.MintAlgorithm() != tt.wantAlg {
				t.Fatalf("CanMint = %v, MintAlgorithm = %q, want %q", v.CanMint(), v.MintAlgorithm(), tt.wantAlg)
			}
			tok, minted, err := v.Mint(MintOptions{Type: "refresh", User: "7", Extra: map[string]any{"fam": "f1"}})
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if got, want := string(decodeSegment(t, tok, 0)), `{"alg":"`+tt.wantAlg+`","typ":"JWT"}`; got != want {
				t.Errorf("header = %s, want %s", got, want)
			}
			got, err := v.Verify(tok, "refresh")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Claims{JTI: minted.JTI, Type: "refresh", User: "7", Family: "f1", IssuedAt: testNow(), ExpiresAt: testNow().Add(DefaultRefreshTTL)}
			assertClaims(t, got, want)
			assertClaims(t, minted, want)
			if !reflect.DeepEqual(got.Raw, minted.Raw) {
				t.Errorf("Raw: verified %v, minted %v", got.Raw, minted.Raw)
			}
			if _, err := v.Verify(tok, "access"); err != ErrWrongType {
				t.Errorf("Verify as access = %v, want ErrWrongType", err)
			}
			if tt.pub != nil {
				pv := newVerifier(t, Config{PublicKeyPEMs: loadPEMs(t, tt.pub), Now: testNow})
				if _, err := pv.Verify(tok, "refresh"); err != nil {
					t.Errorf("Verify with the public key alone: %v", err)
				}
				if pv.CanMint() {
					t.Errorf("a public-key verifier claims it can mint")
				}
			}
		})
	}
}

func TestMintPayload(t *testing.T) {
	hexJTI := regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`)
	tests := []struct {
		name     string
		cfg      Config
		opts     MintOptions
		wantKeys []string
		wantUser string // raw JSON of the user claim; "" when absent
	}{
		{name: "integer user", opts: MintOptions{User: "42"}, wantKeys: []string{"token_type", "exp", "iat", "jti", "user_id"}, wantUser: "42"},
		{name: "negative integer user", opts: MintOptions{User: "-3"}, wantKeys: []string{"token_type", "exp", "iat", "jti", "user_id"}, wantUser: "-3"},
		{name: "leading zero stays a string", opts: MintOptions{User: "0042"}, wantKeys: []string{"token_type", "exp", "iat", "jti", "user_id"}, wantUser: `"0042"`},
		{name: "beyond int64 stays a string", opts: MintOptions{User: "9223372036854775808"}, wantKeys: []string{"token_type", "exp", "iat", "jti", "user_id"}, wantUser: `"9223372036854775808"`},
		{name: "max int64", opts: MintOptions{User: "9223372036854775807"}, wantKeys: []string{"token_type", "exp", "iat", "jti", "user_id"}, wantUser: "9223372036854775807"},
		{name: "uuid user", opts: MintOptions{User: "3f1e9c1a-0000-4000-8000-000000000000"}, wantKeys: []string{"token_type", "exp", "iat", "jti", "user_id"}, wantUser: `"3f1e9c1a-0000-4000-8000-000000000000"`},
		{name: "no user", opts: MintOptions{}, wantKeys: []string{"token_type", "exp", "iat", "jti"}},
		{
			name:     "extra claims follow sorted, known ones keep their place",
			opts:     MintOptions{User: "1", Extra: map[string]any{"fam": "f", "aud": "api", "user_id": "u-9"}},
			wantKeys: []string{"token_type", "exp", "iat", "jti", "user_id", "aud", "fam"},
			wantUser: `"u-9"`,
		},
		{
			name:     "configured claim names",
			cfg:      Config{JTIClaim: "id", TokenTypeClaim: "kind", UserIDClaim: "uid"},
			opts:     MintOptions{User: "5"},
			wantKeys: []string{"kind", "exp", "iat", "id", "uid"},
		},
		{name: "no type, exp or jti", opts: MintOptions{NoType: true, NoExp: true, NoJTI: true}, wantKeys: []string{"iat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.HSSecret, tt.cfg.Now = []byte(djangoSecret), testNow
			v := newVerifier(t, tt.cfg)
			tok, c, err := v.Mint(tt.opts)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			payload := decodeSegment(t, tok, 1)
			if got := keyOrder(t, payload); !reflect.DeepEqual(got, tt.wantKeys) {
				t.Errorf("payload keys = %v, want %v (payload %s)", got, tt.wantKeys, payload)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(payload, &raw); err != nil {
				t.Fatal(err)
			}
			if tt.wantUser != "" && string(raw["user_id"]) != tt.wantUser {
				t.Errorf("user_id = %s, want %s", raw["user_id"], tt.wantUser)
			}
			if jti, ok := raw["jti"]; ok && !hexJTI.MatchString(c.JTI) {
				t.Errorf("jti = %s, want 32 lowercase hex chars of a UUIDv4", jti)
			}
			if exp, ok := raw["exp"]; ok && string(exp) != "1700000400" {
				t.Errorf("exp = %s, want now + 5 min as an integer", exp)
			}
		})
	}
}

func TestMintOptionsAgainstVerify(t *testing.T) {
	v := hsVerifier(t)
	tests := []struct {
		name     string
		opts     MintOptions
		wantType string
		wantErr  error
	}{
		{"access", MintOptions{User: "1"}, "access", nil},
		{"no jti", MintOptions{NoJTI: true}, "access", ErrNoID},
		{"no exp", MintOptions{NoExp: true}, "access", ErrNoExp},
		{"no type", MintOptions{NoType: true}, "access", ErrNoType},
		{"no type, untyped", MintOptions{NoType: true}, "", nil},
		{"negative lifetime", MintOptions{TTL: -time.Second}, "access", ErrExpired},
		{"wrong type", MintOptions{Type: "sliding"}, "access", ErrWrongType},
		{"extra exp overrides", MintOptions{Extra: map[string]any{"exp": "soon"}}, "access", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _, err := v.Mint(tt.opts)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if _, err := v.Verify(tok, tt.wantType); err != tt.wantErr {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestMintErrors(t *testing.T) {
	pv := newVerifier(t, Config{PublicKeyPEMs: [][]byte{pubPEM(t, genKey(t, "p256").Public())}})
	if _, _, err := pv.Mint(MintOptions{}); !errors.Is(err, ErrCannotMint) {
		t.Errorf("Mint without a signing key = %v, want ErrCannotMint", err)
	}
	v := hsVerifier(t)
	if _, _, err := v.Mint(MintOptions{Extra: map[string]any{"bad": func() {}}}); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("Mint with an unencodable claim = %v, want an error naming it", err)
	}
}

func TestMintJTIsDiffer(t *testing.T) {
	v := hsVerifier(t)
	seen := map[string]bool{}
	for range 1000 {
		_, c, err := v.Mint(MintOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.JTI] {
			t.Fatalf("jti %s minted twice", c.JTI)
		}
		seen[c.JTI] = true
	}
}
