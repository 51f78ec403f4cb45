package node_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/blnode/blnode/internal/sjwt"
)

// FuzzRequestBody feeds arbitrary bodies and content types to every POST
// route: each must answer below 500 with a JSON body.
func FuzzRequestBody(f *testing.F) {
	n, _ := newNode(f, nil)
	h := n.Handler()
	tok, _ := sjwt.Token{Type: "refresh", User: 1}.Mint(secret)
	paths := []string{"/api/token/blacklist/", "/api/token/verify/", "/v1/blacklist", "/v1/check", "/v1/outstanding"}
	for i, seed := range []struct{ ct, body string }{
		{"application/json", `{"refresh":"` + tok + `"}`},
		{"application/json", `{"token":"` + tok + `"}`},
		{"application/json", `{"jti":"a","exp":99999999999}`},
		{"application/x-www-form-urlencoded", "refresh=" + tok},
		{"multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nx\r\n--b--\r\n"},
		{"application/json", `[[[[[[`},
		{"text/plain", "x"},
		{"application/json", `{"token":null,"token":"a"}`},
		{"", "\xff\xfe"},
	} {
		f.Add(uint8(i), seed.ct, seed.body)
	}
	f.Fuzz(func(t *testing.T, route uint8, ct, body string) {
		path := paths[int(route)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if route&0x80 != 0 {
			req.Header.Set("Authorization", admin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q: status %d %s", path, ct, body, rec.Code, rec.Body)
		}
		if ctype := rec.Header().Get("Content-Type"); ctype != "application/json" {
			t.Fatalf("%s: content type %q", path, ctype)
		}
	})
}
