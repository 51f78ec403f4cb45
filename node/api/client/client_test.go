package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/blnode/blnode/node/api/client"
)

// fakeNode answers like a node: it echoes what it received, or the error
// body of its path.
func fakeNode(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/base/v1/flush":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"method":%q,"auth":%q,"agent":%q,"type":%q,"query":%q}`,
				r.Method, r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Get("Content-Type"), r.URL.RawQuery)
		case "/base/v1/status":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"code":"admin_required","detail":"the admin token is required"}`)
		case "/base/v1/plain":
			http.Error(w, "no", http.StatusBadGateway)
		case "/base/v1/garbage":
			fmt.Fprint(w, "not json")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCall(t *testing.T) {
	srv := fakeNode(t)
	c, err := client.New(client.Config{Server: srv.URL + "/base/", AdminToken: "s3cret", UserAgent: "test/1"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Method, Auth, Agent, Type, Query string }
	raw, err := c.Call(t.Context(), http.MethodPost, "/v1/flush", url.Values{"a": {"b"}}, struct{}{}, &got)
	if err != nil {
		t.Fatal(err)
	}
	want := struct{ Method, Auth, Agent, Type, Query string }{"POST", "Bearer s3cret", "test/1", "application/json", "a=b"}
	if got != want {
		t.Errorf("the node saw %+v, want %+v (answer %s)", got, want, raw)
	}
}

func TestErrors(t *testing.T) {
	srv := fakeNode(t)
	c, err := client.New(client.Config{Server: srv.URL + "/base"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{name: "error body", path: "/v1/status", want: "admin_required: the admin token is required (HTTP 403)"},
		{name: "no error body", path: "/v1/plain", want: "http_error: bad gateway (HTTP 502)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Do(t.Context(), http.MethodGet, tt.path, nil, nil)
			var ce *client.Error
			if !errors.As(err, &ce) || err.Error() != tt.want {
				t.Fatalf("err = %v, want a *client.Error %q", err, tt.want)
			}
		})
	}
	t.Run("answer not the JSON expected", func(t *testing.T) {
		var out map[string]any
		raw, err := c.Call(t.Context(), http.MethodGet, "/v1/garbage", nil, nil, &out)
		if err == nil || string(raw) != "not json" {
			t.Fatalf("raw %q, err %v: want the raw answer and an error", raw, err)
		}
	})
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, s := range []string{"", "127.0.0.1:8080", "ftp://host", "http://", "http://a b"} {
		if _, err := client.New(client.Config{Server: s}); !errors.Is(err, client.ErrServerURL) {
			t.Errorf("New(%q): err = %v, want ErrServerURL", s, err)
		}
	}
}
