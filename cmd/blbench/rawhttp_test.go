package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The raw client posts over one kept-alive connection per worker, reads
// answers of every framing net/http writes, and dials again after the
// server closes.
func TestRawClientAgainstNetHTTP(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch string(body) {
		case `{"chunked":true}`:
			w.WriteHeader(http.StatusCreated)
			for range 3 {
				io.WriteString(w, strings.Repeat("x", 5000))
				w.(http.Flusher).Flush()
			}
		case `{"close":true}`:
			w.Header().Set("Connection", "close")
			io.WriteString(w, "{}")
		default:
			io.WriteString(w, "{}")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	rc, err := newRawClient(srv.URL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	for i, c := range []struct {
		body, bearer string
		want         int
	}{
		{`{}`, "tok", 200}, {`{"chunked":true}`, "tok", 201}, {`{}`, "", 401}, {`{}`, "tok", 200},
	} {
		code, err := rc.post(t.Context(), 0, "/x", c.body, c.bearer)
		if err != nil || code != c.want {
			t.Fatalf("request %d: %d, %v; want %d", i, code, err, c.want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for one worker's requests, want 1", n)
	}
	for range 2 {
		if code, err := rc.post(t.Context(), 1, "/x", `{"close":true}`, "tok"); err != nil || code != 200 {
			t.Fatalf("answer with Connection: close: %d, %v", code, err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 (the server closed worker 1's first)", n)
	}
	if _, err := rc.post(t.Context(), 2, "/x", "{}", ""); err == nil {
		t.Fatal("worker 2 of 2: no error")
	}
}

func TestReadAnswer(t *testing.T) {
	for _, c := range []struct {
		in         string
		code       int
		keep, fail bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, true, false},
		{"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", 404, true, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: 1\r\n\r\n", 200, true, false},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 200, false, false},
		{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, false, false},
		{"HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, false, false},
		{"HTTP/1.1 204 No Content\r\n\r\n", 204, true, false},
		{"HTTP/1.1 2x0 OK\r\n\r\n", 0, false, true},
		{"SSH-2.0\r\n\r\n", 0, false, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false, true},
		{"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 0, false, true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200, false, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", 200, false, true},
	} {
		code, keep, err := readAnswer(bufio.NewReader(strings.NewReader(c.in)))
		if (err != nil) != c.fail || (!c.fail && (code != c.code || keep != c.keep)) {
			t.Errorf("%q: %d keep %v err %v; want %d keep %v fail %v", c.in, code, keep, err, c.code, c.keep, c.fail)
		}
	}
}

// FuzzReadAnswer: any bytes give an answer or an error, never a panic, and
// never a kept connection after an error.
func FuzzReadAnswer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n0\r\n\r\n",
		"HTTP/1.1 999 ?\r\nConnection: keep-alive\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, keep, err := readAnswer(bufio.NewReaderSize(strings.NewReader(string(in)), 16))
		if err != nil && keep {
			t.Fatalf("%q: kept after %v", in, err)
		}
	})
}
