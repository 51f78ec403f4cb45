package token

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/blnode/blnode/internal/poll"
)

// jwk is a key to publish in a test JWKS.
type jwk struct {
	kid string
	alg string // "" leaves the JWK's alg out
	key any    // a public key, or []byte for an "oct" key
	use string // "" leaves use out
}

// jwksJSON encodes keys as a JWK Set with jwkset.
func jwksJSON(tb testing.TB, keys ...jwk) []byte {
	tb.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{
			Marshal:  jwkset.JWKMarshalOptions{Private: true},
			Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.USE(k.use)},
		})
		if err != nil {
			tb.Fatalf("JWK of %s: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// jwksServer is a JWKS endpoint on loopback whose answer a test changes.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	hold         chan struct{} // when not nil, requests wait for it to close (or the client to go)
	hits         atomic.Int64
}

func newJWKSServer(tb testing.TB, body []byte) *jwksServer {
	tb.Helper()
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, cc, hold := s.body, s.status, s.cacheControl, s.hold
		s.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

// holdRequests makes requests hang until the returned function is called.
func (s *jwksServer) holdRequests() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(ch)
		})
	}
}

// runVerifier builds a Verifier and runs it until the test ends; the
// returned function stops it and waits for Run to return.
func runVerifier(tb testing.TB, cfg Config) (*Verifier, func()) {
	tb.Helper()
	v := newVerifier(tb, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	tb.Cleanup(stop)
	return v, stop
}

// waitReady waits until every JWKS of v has been fetched.
func waitReady(tb testing.TB, v *Verifier) {
	tb.Helper()
	poll.For(tb, 10*time.Second, 5*time.Millisecond, v.Ready)
}

// signKID signs payload with alg and key under a header naming kid.
func signKID(tb testing.TB, alg, kid string, key crypto.Signer, payload string) string {
	tb.Helper()
	return signWithHeader(tb, alg, `{"alg":"`+alg+`","kid":"`+kid+`","typ":"JWT"}`, key, payload)
}

// fetches returns how many fetches the Verifier's first JWKS started.
func (v *Verifier) fetches() int {
	s := v.jwks[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}
