package node_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/blnode/blnode/internal/sjwt"
)

// BenchmarkHTTPVerify is a POST /api/token/verify/ round trip over loopback
// with an HS256 token (HTTP keep-alive, parallel clients).
func BenchmarkHTTPVerify(b *testing.B) {
	_, srv := newNode(b, nil)
	tok, _ := sjwt.Token{Type: "access", User: 1}.Mint(secret)
	body := `{"token":"` + tok + `"}`
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(srv.URL+"/api/token/verify/", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkHTTPBlacklist is a durable POST /api/token/blacklist/ round trip
// (fsync before the answer) with a fresh HS256 refresh token each time.
func BenchmarkHTTPBlacklist(b *testing.B) {
	_, srv := newNode(b, nil)
	toks := make([]string, b.N+1000)
	for i := range toks {
		toks[i], _ = sjwt.Token{Type: "refresh", User: i}.Mint(secret)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomicCounter
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok := toks[next.inc()%len(toks)]
			resp, err := client.Post(srv.URL+"/api/token/blacklist/", "application/json", strings.NewReader(`{"refresh":"`+tok+`"}`))
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}
