package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// issuerKeys is an issuer's JWKS on loopback: keys by kid, changed by the
// test.
type issuerKeys struct {
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
	down bool
}

func (k *issuerKeys) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var set jwkset.JWKSMarshal
	for kid, key := range k.keys {
		j, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256}})
		if err != nil {
			panic(err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	json.NewEncoder(w).Encode(set)
}

func (k *issuerKeys) add(t testing.TB, kid string) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	k.keys[kid] = key
	k.mu.Unlock()
	return key
}

func (k *issuerKeys) sign(t testing.TB, kid, jti string) string {
	t.Helper()
	k.mu.Lock()
	key := k.keys[kid]
	k.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"jti": jti, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "token_type": "access"})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWKSNode: a node with a JWKS is not ready, and refuses the issuer's
// tokens, until it has fetched the set; then it verifies them at /auth,
// follows a new key without a restart, and a blacklisted one is refused.
func TestJWKSNode(t *testing.T) {
	issuer := &issuerKeys{keys: map[string]*ecdsa.PrivateKey{}, down: true}
	issuer.add(t, "k1")
	is := httptest.NewServer(issuer)
	t.Cleanup(is.Close)

	n, srv := newNode(t, func(c *node.Config) {
		c.Token = token.Config{HSSecret: secret, JWKS: token.JWKSConfig{URLs: []string{is.URL + "/jwks"}, MissInterval: time.Nanosecond}}
		c.Logger = slog.New(slog.DiscardHandler)
	})
	tok1 := issuer.sign(t, "k1", "jti-1")
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	r := do(t, http.MethodGet, srv.URL+"/readyz", "", "")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "JWKS not fetched") {
		t.Fatalf("/readyz before the JWKS was fetched: %d %s; want 503 with the reason", r.status, r.body)
	}
	if r := do(t, http.MethodGet, srv.URL+"/auth", "", "", bearer(tok1)...); r.status != http.StatusUnauthorized {
		t.Fatalf("/auth before the JWKS was fetched: %d %s; want 401 (fail closed)", r.status, r.body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// The issuer is down: still not ready, and the reason says why.
	poll.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if r := do(t, http.MethodGet, srv.URL+"/readyz", "", ""); !strings.Contains(r.body, "503") {
			return fmt.Errorf("readyz %d %s: want the fetch error", r.status, r.body)
		}
		return nil
	})
	issuer.mu.Lock()
	issuer.down = false
	issuer.mu.Unlock()
	poll.For(t, 30*time.Second, 10*time.Millisecond, func() error {
		if r := do(t, http.MethodGet, srv.URL+"/readyz", "", ""); r.status != http.StatusOK {
			return fmt.Errorf("readyz %d %s", r.status, r.body)
		}
		return nil
	})
	if r := do(t, http.MethodGet, srv.URL+"/auth", "", "", bearer(tok1)...); r.status != http.StatusOK {
		t.Fatalf("/auth with the issuer's token: %d %s", r.status, r.body)
	}
	issuer.add(t, "k2")
	if r := do(t, http.MethodGet, srv.URL+"/auth", "", "", bearer(issuer.sign(t, "k2", "jti-2"))...); r.status != http.StatusOK {
		t.Fatalf("/auth with a token of a key the issuer added since: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodPost, srv.URL+"/v1/blacklist", "application/json", `{"token":"`+tok1+`"}`, "Authorization", "Bearer admin-secret"); r.status >= 300 {
		t.Fatalf("blacklist the issuer's token: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodGet, srv.URL+"/auth", "", "", bearer(tok1)...); r.status != http.StatusUnauthorized {
		t.Fatalf("/auth with the blacklisted token: %d %s", r.status, r.body)
	}
	m := do(t, http.MethodGet, srv.URL+"/metrics", "", "")
	for _, want := range []string{`blnode_jwks_keys{url="` + is.URL + `/jwks"} 2`, `blnode_jwks_fetches_total{result="ok",url="` + is.URL + `/jwks"}`, "blnode_ready 1"} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	st, err := n.Status(t.Context())
	if err != nil || len(st.JWKS) != 1 || st.JWKS[0].Keys != 2 || !st.Ready {
		t.Fatalf("status %+v (%v): want one JWKS with 2 keys, ready", st.JWKS, err)
	}
}
