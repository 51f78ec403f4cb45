package node_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

var secret = []byte("django-insecure-test-secret-key-for-blnode")

// newNode starts a node without NATS on a fresh data dir and serves it.
func newNode(t testing.TB, mod func(*node.Config)) (*node.Node, *httptest.Server) {
	t.Helper()
	cfg := node.Config{
		DataDir:    t.TempDir(),
		Token:      token.Config{HSSecret: secret},
		AdminToken: "admin-secret",
		NATS:       node.NATSConfig{Disabled: true},
		Logger:     slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	return n, srv
}

func refresh(t testing.TB) (string, string) {
	t.Helper()
	return sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func do(t testing.TB, method, url, contentType, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, strings.TrimSpace(string(b))}
}

func postJSON(t testing.TB, url, body string, hdr ...string) response {
	t.Helper()
	return do(t, http.MethodPost, url, "application/json", body, hdr...)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) inc() int { return int(c.n.Add(1)) }

func httptestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
