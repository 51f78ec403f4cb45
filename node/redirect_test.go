package node_test

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// rawRequest writes req as it is on a new connection to srvURL (an
// httptest server) and reads the answer: the request line is not cleaned
// up by a client.
func rawRequest(t testing.TB, srvURL, req string) *http.Response {
	t.Helper()
	u, err := url.Parse(srvURL)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// TestTrailingSlashRedirectStaysOnThisHost is issue 17: the Simple JWT
// endpoints' trailing-slash redirect copied the scheme and host of an
// absolute-form request line into Location, an open redirect. Location is
// now the path alone, and never one that a browser reads as another host
// (//host, /\host).
func TestTrailingSlashRedirectStaysOnThisHost(t *testing.T) {
	_, srv := newNode(t, nil)
	tests := []struct {
		name         string
		requestLine  string
		host         string
		wantLocation string // "" when any local answer will do
	}{
		{"absolute-form", "GET http://evil.example/api/token/verify HTTP/1.1", "evil.example", "/api/token/verify/"},
		{"absolute-form with query", "GET http://evil.example/api/token/verify?next=1 HTTP/1.1", "evil.example", "/api/token/verify/?next=1"},
		{"absolute-form https, port and user", "POST https://u:p@evil.example:8443/api/token/blacklist HTTP/1.1", "evil.example:8443", "/api/token/blacklist/"},
		{"absolute-form refresh", "POST http://evil.example/api/token/refresh HTTP/1.1", "evil.example", "/api/token/refresh/"},
		{"origin-form, foreign Host", "GET /api/token/verify HTTP/1.1", "evil.example", "/api/token/verify/"},
		{"double slash", "GET //evil.example/api/token/verify HTTP/1.1", "localhost", ""},
		{"triple slash", "GET ///evil.example/api/token/verify HTTP/1.1", "localhost", ""},
		{"slash backslash", `GET /\evil.example/api/token/verify HTTP/1.1`, "localhost", ""},
		{"absolute-form, double slash path", "GET http://evil.example//api/token/verify HTTP/1.1", "evil.example", ""},
		{"absolute-form, double slash host path", "GET http://evil.example//evil.example/api/token/verify HTTP/1.1", "evil.example", ""},
		// The router's own redirects and the admin's are path-only too.
		{"absolute-form admin", "GET http://evil.example/admin HTTP/1.1", "evil.example", ""},
		{"absolute-form admin home", "GET http://evil.example/admin/ HTTP/1.1", "evil.example", ""},
		{"absolute-form unclean path", "GET http://evil.example/v1/../api/token/verify/ HTTP/1.1", "evil.example", ""},
		{"double slash admin", "GET //evil.example/admin HTTP/1.1", "localhost", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rawRequest(t, srv.URL, tt.requestLine+"\r\nHost: "+tt.host+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			loc := res.Header.Get("Location")
			if tt.wantLocation != "" && (res.StatusCode != http.StatusMovedPermanently || loc != tt.wantLocation) {
				t.Fatalf("%d, Location %q; want 301 to %q", res.StatusCode, loc, tt.wantLocation)
			}
			if loc == "" {
				return
			}
			u, err := url.Parse(loc)
			if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(loc, "/") ||
				strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
				t.Fatalf("%d, Location %q leaves this host", res.StatusCode, loc)
			}
		})
	}
}
