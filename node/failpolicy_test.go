package node_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

// syncBuffer is a log sink the handlers of several goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFailurePolicy closes the store under a running node, so that every
// read fails, and checks each check path: closed by default (503, an
// ERROR log line), open with Config.FailOpen (the token passes, a WARN log
// line). Writes fail with 503 either way: nothing is acknowledged that was
// not stored.
func TestFailurePolicy(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		name := "fail closed"
		if failOpen {
			name = "fail open"
		}
		t.Run(name, func(t *testing.T) {
			var logs syncBuffer
			n, srv := newNode(t, func(c *node.Config) {
				c.FailOpen = failOpen
				c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			})
			if err := n.Store().Close(); err != nil {
				t.Fatal(err)
			}
			// Fresh tokens: nothing about them is cached, every check reads
			// the store.
			mint := func(typ string) string {
				tok, _ := sjwt.Token{Type: typ, User: 42}.Mint(secret)
				return tok
			}
			type check struct {
				name string
				do   func() response
			}
			checks := []check{
				{"verify", func() response {
					return postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(mint("access"))+`}`)
				}},
				{"v1 check token", func() response {
					return postJSON(t, srv.URL+"/v1/check", `{"token":`+jsonString(mint("access"))+`}`)
				}},
				{"v1 check jti", func() response {
					return postJSON(t, srv.URL+"/v1/check", `{"jti":"never-seen-1"}`)
				}},
				{"v1 blacklist get", func() response {
					return do(t, http.MethodGet, srv.URL+"/v1/blacklist/never-seen-2", "", "")
				}},
				{"forward auth", func() response {
					return do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+mint("access"))
				}},
				{"introspect", func() response {
					return do(t, http.MethodPost, srv.URL+"/oauth/introspect", "application/x-www-form-urlencoded",
						"token="+url.QueryEscape(mint("access")), "Authorization", "Bearer admin-secret")
				}},
				{"middleware", func() response {
					h := n.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
					rec := httptest.NewRecorder()
					req := httptest.NewRequest(http.MethodGet, "/orders", nil)
					req.Header.Set("Authorization", "Bearer "+mint("access"))
					h.ServeHTTP(rec, req)
					return response{rec.Code, rec.Header(), strings.TrimSpace(rec.Body.String())}
				}},
			}
			for _, c := range checks {
				got := c.do()
				if failOpen {
					if got.status != 200 && got.status != 204 {
						t.Errorf("%s with the store unreadable and FailOpen: %d %s, want the token let through", c.name, got.status, got.body)
					}
					if got.status == 200 && strings.Contains(got.body, `"blacklisted":true`) {
						t.Errorf("%s with FailOpen says blacklisted: %s", c.name, got.body)
					}
					continue
				}
				if got.status != http.StatusServiceUnavailable {
					t.Errorf("%s with the store unreadable: %d %s, want 503", c.name, got.status, got.body)
				}
				if ct := got.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s: Content-Type %q, want application/json", c.name, ct)
				}
			}
			if _, err := n.Check("never-seen-3"); failOpen == (err != nil) {
				t.Errorf("Check: err %v with FailOpen %v", err, failOpen)
			} else if err != nil && !errors.Is(err, node.ErrUnavailable) {
				t.Errorf("Check: err %v, want ErrUnavailable", err)
			}
			// A write is never acknowledged without the store.
			if got := postJSON(t, srv.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(mint("refresh"))+`}`); got.status != 503 {
				t.Errorf("blacklist with the store closed: %d %s, want 503", got.status, got.body)
			}
			text := logs.String()
			want, level := `"msg":"check failed, failing closed"`, `"level":"ERROR"`
			if failOpen {
				want, level = `"msg":"check failed, failing open (--fail-open): the token is let through unchecked"`, `"level":"WARN"`
			}
			found := false
			for line := range strings.SplitSeq(text, "\n") {
				if strings.Contains(line, want) && strings.Contains(line, level) && strings.Contains(line, `"jti":"never-seen-1"`) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s log line %s naming the jti:\n%s", level, want, text)
			}
		})
	}
}
