package node_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/node"
)

// BenchmarkHTTPWriteAdmin is the write scenario of cmd/blbench in process:
// durable POST /v1/blacklist writes (admin token, a new jti each, fsync
// before the answer) from 64 concurrent keep-alive clients over loopback,
// to a node without NATS logging JSON at INFO as blnode serve does (to
// io.Discard). Its writes/s is the group commit's and the HTTP write
// path's together.
func BenchmarkHTTPWriteAdmin(b *testing.B) {
	_, srv := newNode(b, func(c *node.Config) { c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil)) })
	const clients = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	b.Cleanup(client.CloseIdleConnections)
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	var next atomicCounter
	b.ReportAllocs()
	b.SetParallelism(max(clients/runtime.GOMAXPROCS(0), 1)) // goroutines = parallelism × GOMAXPROCS
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.inc()
			body := `{"jti":"` + fmt.Sprintf("%032x", i) + `","exp":` + exp + `,"user":"u` + strconv.Itoa(i%1000) + `","token_type":"refresh","reason":"bench"}`
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/blacklist", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer admin-secret")
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
