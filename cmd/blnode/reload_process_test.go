//go:build unix

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node/token"
)

// mintWith mints an access token signed by secret under kid.
func mintWith(t *testing.T, kid, secret string) string {
	t.Helper()
	v, err := token.New(token.Config{HSKeys: []token.NamedKey{{ID: kid, Data: []byte(secret)}}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := v.Mint(token.MintOptions{User: "42", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// authStatus is the status /auth answers for tok.
func authStatus(t *testing.T, p *serveProc, tok string) int {
	t.Helper()
	code, _ := call(t, http.DefaultClient, http.MethodGet, p.url+"/auth", "", "", "Authorization", "Bearer "+tok)
	return code
}

func wantAuth(p *serveProc, tok string, want int) func() error {
	return func() error {
		req, _ := http.NewRequest(http.MethodGet, p.url+"/auth", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("/auth %d, want %d", resp.StatusCode, want)
		}
		return nil
	}
}

// TestProcessKeyReload: the built binary reloads its key files on SIGHUP
// (and, with --key-poll, when they change) without a restart; the new key
// verifies at once and the old one for --key-grace, then no more.
func TestProcessKeyReload(t *testing.T) {
	bin := buildBinary(t)
	write := func(path, secret string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("SIGHUP and grace", func(t *testing.T) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "current.key")
		write(keyFile, "the-first-secret-of-32-bytes-or-so")
		p := startServe(t, bin, "--no-nats", "--data", filepath.Join(dir, "data"),
			"--hs-key-file", "current="+keyFile, "--key-grace", "1h")
		oldTok := mintWith(t, "current", "the-first-secret-of-32-bytes-or-so")
		newTok := mintWith(t, "current", "the-second-secret-of-32-bytes-ok")
		if code := authStatus(t, p, oldTok); code != http.StatusOK {
			t.Fatalf("/auth with the first key: %d\n%s", code, p.Output())
		}
		if code := authStatus(t, p, newTok); code != http.StatusUnauthorized {
			t.Fatalf("/auth with a key not yet configured: %d", code)
		}
		write(keyFile, "the-second-secret-of-32-bytes-ok")
		if err := p.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		poll.For(t, 15*time.Second, pollEvery, wantAuth(p, newTok, http.StatusOK))
		if code := authStatus(t, p, oldTok); code != http.StatusOK {
			t.Errorf("/auth with the old key inside its grace: %d", code)
		}
		if p.Record("key files reloaded") == nil {
			t.Errorf("no reload log line:\n%s", p.Output())
		}
		// A bad file changes nothing.
		write(keyFile, "")
		if err := p.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		poll.ForTrue(t, 15*time.Second, pollEvery, func() bool { return p.Record("key reload failed; the keys in use stay") != nil })
		if code := authStatus(t, p, newTok); code != http.StatusOK {
			t.Errorf("/auth with the current key after a failed reload: %d", code)
		}
		p.stop(t)
	})

	t.Run("poll and grace end", func(t *testing.T) {
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "current.key")
		write(keyFile, "the-first-secret-of-32-bytes-or-so")
		p := startServe(t, bin, "--no-nats", "--data", filepath.Join(dir, "data"),
			"--hs-key-file", "current="+keyFile, "--key-grace", "300ms", "--key-poll", "20ms")
		oldTok := mintWith(t, "current", "the-first-secret-of-32-bytes-or-so")
		newTok := mintWith(t, "current", "the-second-secret-of-32-bytes-ok")
		write(keyFile, "the-second-secret-of-32-bytes-ok")
		poll.For(t, 15*time.Second, pollEvery, wantAuth(p, newTok, http.StatusOK))
		poll.For(t, 15*time.Second, pollEvery, wantAuth(p, oldTok, http.StatusUnauthorized))
		p.stop(t)
	})
}

// TestProcessJWKS: the built binary with --jwks-url says in /readyz that
// it has not fetched the set while the issuer is down, refuses the
// issuer's tokens meanwhile, and verifies them once the set is fetched.
func TestProcessJWKS(t *testing.T) {
	bin := buildBinary(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	var up atomic.Bool
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(issuer.Close)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"token_type": "access", "jti": "j1", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}

	p := startServe(t, bin, "--no-nats", "--data", filepath.Join(t.TempDir(), "data"), "--jwks-url", issuer.URL+"/jwks", "--jwks-refresh-min", "1s")
	code, rbody := call(t, http.DefaultClient, http.MethodGet, p.url+"/readyz", "", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(rbody, "JWKS not fetched") {
		t.Fatalf("/readyz with the issuer down: %d %s", code, rbody)
	}
	if code := authStatus(t, p, raw); code != http.StatusUnauthorized {
		t.Fatalf("/auth before the set was fetched: %d, want 401", code)
	}
	up.Store(true)
	poll.For(t, 30*time.Second, pollEvery, func() error { return wantStatus(p.url+"/readyz", http.StatusOK) })
	if code := authStatus(t, p, raw); code != http.StatusOK {
		t.Fatalf("/auth once the set was fetched: %d\n%s", code, p.Output())
	}
	p.stop(t)
}
