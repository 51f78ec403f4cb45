package token

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/poll"
)

// TestJWKSKeySelection is the table of what a token naming (or not naming)
// a kid gets from a JWKS.
func TestJWKSKeySelection(t *testing.T) {
	rsa1, rsa2, p256, ed := genKey(t, "rsa"), genKey(t, "rsa2"), genKey(t, "p256"), genKey(t, "ed25519")
	p384 := genKey(t, "p384")
	rsaDER, err := x509.MarshalPKIXPublicKey(rsa1.Public())
	if err != nil {
		t.Fatal(err)
	}
	oct := []byte("a-shared-secret-of-32-bytes-long!")
	srv := newJWKSServer(t, jwksJSON(t,
		jwk{kid: "rsa", alg: "RS256", key: rsa1.Public()},
		jwk{kid: "rsa-any", key: rsa2.Public()}, // no alg: any RSA algorithm
		jwk{kid: "ec", alg: "ES256", key: p256.Public()},
		jwk{kid: "ed", key: ed.Public()},
		jwk{kid: "dup", alg: "RS256", key: rsa1.Public()}, // one kid, two RSA keys: both tried
		jwk{kid: "dup", alg: "RS256", key: rsa2.Public()},
		jwk{kid: "mixed", key: rsa1.Public()}, // one kid, two types (RFC 7517 §4.5): the alg picks
		jwk{kid: "mixed", key: p384.Public()},
		jwk{kid: "oct", key: oct},                       // symmetric: never used
		jwk{kid: "enc", key: p256.Public(), use: "enc"}, // for encryption: never used
		jwk{kid: "wrong-alg", alg: "ES256", key: rsa1.Public()},
	))
	v, _ := runVerifier(t, Config{JWKS: JWKSConfig{URLs: []string{srv.URL}, MissInterval: time.Hour}, Now: testNow})
	waitReady(t, v)

	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"RS256 by kid", signKID(t, "RS256", "rsa", rsa1, stdPayload), true},
		{"PS256 under a JWK whose alg is RS256", signKID(t, "PS256", "rsa", rsa1, stdPayload), false},
		{"RS384 under a JWK without alg", signKID(t, "RS384", "rsa-any", rsa2, stdPayload), true},
		{"PS512 under a JWK without alg", signKID(t, "PS512", "rsa-any", rsa2, stdPayload), true},
		{"ES256 by kid", signKID(t, "ES256", "ec", p256, stdPayload), true},
		{"EdDSA by kid", signKID(t, "EdDSA", "ed", ed, stdPayload), true},
		{"kid of another key", signKID(t, "RS256", "rsa", rsa2, stdPayload), false},
		{"kid missing", signAlg(t, "RS256", rsa1, stdPayload), false},
		{"kid unknown", signKID(t, "RS256", "nobody", rsa1, stdPayload), false},
		{"kid empty", signKID(t, "RS256", "", rsa1, stdPayload), false},
		{"kid duplicated, first key", signKID(t, "RS256", "dup", rsa1, stdPayload), true},
		{"kid duplicated, second key", signKID(t, "RS256", "dup", rsa2, stdPayload), true},
		{"kid duplicated across types, RSA", signKID(t, "RS256", "mixed", rsa1, stdPayload), true},
		{"kid duplicated across types, EC", signKID(t, "ES384", "mixed", p384, stdPayload), true},
		{"ES256 token, RSA kid", signKID(t, "ES256", "rsa", p256, stdPayload), false},
		{"RS256 token, EC kid", signKID(t, "RS256", "ec", rsa1, stdPayload), false},
		{"EdDSA token, EC kid", signKID(t, "EdDSA", "ec", ed, stdPayload), false},
		{"ES384 token, P-256 kid", signKID(t, "ES384", "ec", p384, stdPayload), false},
		{"HS256 signed with the RSA key's bytes", signWithHeader(t, "HS256", `{"alg":"HS256","kid":"rsa"}`, rsaDER, stdPayload), false},
		{"HS256 with an oct JWK", signWithHeader(t, "HS256", `{"alg":"HS256","kid":"oct"}`, oct, stdPayload), false},
		{"key marked use enc", signKID(t, "ES256", "enc", p256, stdPayload), false},
		{"JWK whose alg does not fit its kty", signKID(t, "RS256", "wrong-alg", rsa1, stdPayload), false},
		{"kid not a string", signWithHeader(t, "RS256", `{"alg":"RS256","kid":7}`, rsa1, stdPayload), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.tok, "access")
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v, want success", err)
			}
			if !tt.ok && err != ErrInvalid {
				t.Fatalf("Verify: %v, want ErrInvalid", err)
			}
		})
	}
	if st := v.JWKS()[0]; st.Keys != 8 || st.Err != "" || st.Fetched.IsZero() {
		t.Errorf("status %+v: want 8 keys in use (oct, enc and the misfit left out), no error", st)
	}
}

// TestJWKSBesideFileKeys: a JWKS does not take anything from the file
// keys: Simple JWT's HS256 tokens verify as before, with or without a kid.
func TestJWKSBesideFileKeys(t *testing.T) {
	rsa1 := genKey(t, "rsa")
	srv := newJWKSServer(t, jwksJSON(t, jwk{kid: "rsa", key: rsa1.Public()}))
	v, _ := runVerifier(t, Config{HSSecret: []byte(djangoSecret), JWKS: JWKSConfig{URLs: []string{srv.URL}, MissInterval: time.Hour}, Now: testNow})
	waitReady(t, v)
	for name, tok := range map[string]string{
		"Simple JWT golden":         simpleJWTAccess,
		"HS256 with an unknown kid": signHMAC(t, []byte(djangoSecret), `{"alg":"HS256","kid":"whatever","typ":"JWT"}`, stdPayload),
		"RS256 through the JWKS":    signKID(t, "RS256", "rsa", rsa1, stdPayload),
	} {
		if _, err := v.Verify(tok, "access"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	rsaDER, err := x509.MarshalPKIXPublicKey(rsa1.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The RS256-to-HS256 confusion: HMAC keyed with the public key's bytes.
	if _, err := v.Verify(signHMAC(t, rsaDER, `{"alg":"HS256","kid":"rsa"}`, stdPayload), "access"); err != ErrInvalid {
		t.Errorf("HS256 keyed with the JWKS RSA key, naming its kid: %v, want ErrInvalid", err)
	}
	want := []string{"HS256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	if got := v.Algorithms(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Algorithms = %v, want %v", got, want)
	}
}

// TestJWKSRotation: a key the issuer adds verifies at once (the unknown
// kid fetches the set again); a key it removes stops after the next fetch.
func TestJWKSRotation(t *testing.T) {
	oldKey, newKey := genKey(t, "rsa"), genKey(t, "rsa2")
	srv := newJWKSServer(t, jwksJSON(t, jwk{kid: "old", key: oldKey.Public()}))
	v, _ := runVerifier(t, Config{JWKS: JWKSConfig{URLs: []string{srv.URL}, MissInterval: time.Nanosecond}, Now: testNow})
	waitReady(t, v)
	oldTok, newTok := signKID(t, "RS256", "old", oldKey, stdPayload), signKID(t, "RS256", "new", newKey, stdPayload)
	if _, err := v.Verify(oldTok, ""); err != nil {
		t.Fatalf("old key before the rotation: %v", err)
	}
	if _, err := v.Verify(newTok, ""); err != ErrInvalid {
		t.Fatalf("new key before it is published: %v, want ErrInvalid", err)
	}
	srv.set(jwksJSON(t, jwk{kid: "old", key: oldKey.Public()}, jwk{kid: "new", key: newKey.Public()}))
	if _, err := v.Verify(newTok, ""); err != nil {
		t.Fatalf("new key once published, first use: %v", err)
	}
	if _, err := v.Verify(oldTok, ""); err != nil {
		t.Fatalf("old key while still published: %v", err)
	}
	srv.set(jwksJSON(t, jwk{kid: "new", key: newKey.Public()}))
	// A token with a kid no one has makes the Verifier fetch again.
	if _, err := v.Verify(signKID(t, "RS256", "nudge", newKey, stdPayload), ""); err != ErrInvalid {
		t.Fatalf("unknown kid: %v", err)
	}
	if _, err := v.Verify(oldTok, ""); err != ErrInvalid {
		t.Fatalf("old key after it was removed and the set fetched again: %v, want ErrInvalid", err)
	}
	if _, err := v.Verify(newTok, ""); err != nil {
		t.Fatalf("new key after the rotation: %v", err)
	}
}

// TestJWKSUnknownKIDRateLimit: a flood of made-up kids fetches the set
// once per MissInterval, not once per token.
func TestJWKSUnknownKIDRateLimit(t *testing.T) {
	key := genKey(t, "p256")
	srv := newJWKSServer(t, jwksJSON(t, jwk{kid: "k", key: key.Public()}))
	v, _ := runVerifier(t, Config{JWKS: JWKSConfig{URLs: []string{srv.URL}, MissInterval: time.Hour}, Now: testNow})
	waitReady(t, v)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := v.Verify(signKID(t, "ES256", fmt.Sprintf("random-%d-%d", g, i), key, stdPayload), ""); err != ErrInvalid {
					t.Errorf("made-up kid: %v", err)
				}
			}
		})
	}
	wg.Wait()
	poll.ForTrue(t, 10*time.Second, 5*time.Millisecond, func() bool { return !v.jwks[0].statusNow().Next.IsZero() && v.fetches() == 2 })
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("the JWKS was fetched %d times for 400 made-up kids; want 2 (the first fetch, one miss)", n)
	}
	if _, err := v.Verify(signKID(t, "ES256", "k", key, stdPayload), ""); err != nil {
		t.Errorf("known kid during the flood: %v", err)
	}
}

// TestJWKSFailsClosed: a JWKS that cannot be had (unreachable, slow,
// huge, malformed, an error status) leaves the Verifier not ready and
// accepting nothing from it; Verify never waits longer than MissWait,
// and stopping Run leaves no goroutine behind.
func TestJWKSFailsClosed(t *testing.T) {
	key := genKey(t, "rsa")
	good := jwksJSON(t, jwk{kid: "k", key: key.Public()})
	huge := append(append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("x"), 2<<20)...), `"}`...)
	tests := []struct {
		name   string
		setup  func(*jwksServer) string // returns the URL to use
		reason string
	}{
		{"unreachable", func(s *jwksServer) string { u := s.URL; s.Close(); return u }, "connect"},
		{"slow", func(s *jwksServer) string { t.Cleanup(s.holdRequests()); return s.URL }, "first fetch under way"},
		{"huge", func(s *jwksServer) string { s.set(huge); return s.URL }, "larger than the limit"},
		{"malformed", func(s *jwksServer) string {
			s.set([]byte(`{"keys":[{"kty":"RSA","kid":"k","n":"!!","e":"AQAB"}]}`))
			return s.URL
		}, "fetch JWKS"},
		{"not JSON", func(s *jwksServer) string { s.set([]byte(`<html>`)); return s.URL }, "fetch JWKS"},
		{"error status", func(s *jwksServer) string {
			s.mu.Lock()
			s.status = http.StatusInternalServerError
			s.mu.Unlock()
			return s.URL
		}, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, good)
			u := tt.setup(srv)
			before := runtime.NumGoroutine()
			v, stop := runVerifier(t, Config{JWKS: JWKSConfig{URLs: []string{u}, MissWait: 50 * time.Millisecond,
				MissInterval: time.Nanosecond, Timeout: 30 * time.Second, MaxSize: 1 << 20}, Now: testNow})
			tok := signKID(t, "RS256", "k", key, stdPayload)
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					if _, err := v.Verify(tok, ""); err != ErrInvalid {
						t.Errorf("Verify: %v, want ErrInvalid", err)
					}
				})
			}
			wg.Wait()
			poll.For(t, 10*time.Second, 5*time.Millisecond, func() error {
				err := v.Ready()
				if err == nil || !errors.Is(err, ErrJWKSNotFetched) || !strings.Contains(err.Error(), tt.reason) {
					return fmt.Errorf("Ready() = %v, want ErrJWKSNotFetched with %q", err, tt.reason)
				}
				return nil
			})
			if tt.name == "slow" && v.fetches() != 1 {
				t.Errorf("%d fetches under way against a slow JWKS; want 1", v.fetches())
			}
			stop()
			poll.For(t, 10*time.Second, 5*time.Millisecond, func() error {
				if n := runtime.NumGoroutine(); n > before {
					return fmt.Errorf("%d goroutines after Run stopped, %d before it started", n, before)
				}
				return nil
			})
		})
	}
}

// TestJWKSKeepsLastGoodSet: once fetched, a failing fetch keeps the keys
// in use (and the Verifier ready).
func TestJWKSKeepsLastGoodSet(t *testing.T) {
	key := genKey(t, "p256")
	srv := newJWKSServer(t, jwksJSON(t, jwk{kid: "k", key: key.Public()}))
	v, _ := runVerifier(t, Config{JWKS: JWKSConfig{URLs: []string{srv.URL}, MissInterval: time.Nanosecond, MissWait: time.Minute}, Now: testNow})
	waitReady(t, v)
	srv.set([]byte("garbage"))
	v.Verify(signKID(t, "ES256", "nudge", key, stdPayload), "") // waits for the failing fetch
	if st := v.JWKS()[0]; st.Err == "" || st.Keys != 1 {
		t.Fatalf("status after a failed fetch %+v: want the error and the 1 key kept", st)
	}
	if _, err := v.Verify(signKID(t, "ES256", "k", key, stdPayload), ""); err != nil {
		t.Errorf("key of the last good fetch: %v", err)
	}
	if err := v.Ready(); err != nil {
		t.Errorf("Ready after a later failure: %v", err)
	}
}

// TestJWKSCacheControl: the set is used for the response's max-age,
// bounded by RefreshMin and RefreshMax.
func TestJWKSCacheControl(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Hour},
		{"max-age=300", 5 * time.Minute},
		{"public, max-age=5", time.Minute},
		{"max-age=999999", time.Hour},
		{"no-store", time.Minute},
		{"no-cache, max-age=600", time.Minute},
		{"max-age=junk", time.Hour},
		{`max-age="120"`, 2 * time.Minute},
	}
	key := genKey(t, "p256")
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			srv := newJWKSServer(t, jwksJSON(t, jwk{kid: "k", key: key.Public()}))
			srv.cacheControl = tt.header
			v := newVerifier(t, Config{JWKS: JWKSConfig{URLs: []string{srv.URL}, RefreshMin: time.Minute, RefreshMax: time.Hour}})
			got, err := v.jwks[0].fetch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Cache-Control %q: used for %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestJWKSConfigErrors(t *testing.T) {
	for name, cfg := range map[string]JWKSConfig{
		"not http":           {URLs: []string{"file:///etc/jwks.json"}},
		"max below min":      {URLs: []string{"http://127.0.0.1:1/"}, RefreshMin: time.Hour, RefreshMax: time.Minute},
		"negative miss wait": {URLs: []string{"http://127.0.0.1:1/"}, MissWait: -time.Second},
		"negative size":      {URLs: []string{"http://127.0.0.1:1/"}, MaxSize: -1},
	} {
		if _, err := New(Config{JWKS: cfg}); err == nil || !strings.HasPrefix(err.Error(), "token: ") {
			t.Errorf("%s: New: %v, want a token: error", name, err)
		}
	}
	if _, err := New(Config{JWKS: JWKSConfig{URLs: []string{"http://127.0.0.1:1/"}}, Algorithms: []string{"HS256"}}); err == nil {
		t.Error("HS256 with only a JWKS: New succeeded; a JWKS never serves HMAC keys")
	}
}
