package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startFloor runs blfloor with its file in a temp dir and returns its URL
// and that dir; it stops with the test.
func startFloor(t *testing.T) (url, dir string) {
	t.Helper()
	dir = t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-http", "127.0.0.1:0", "-data", dir}, pw); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("no log line: %v", sc.Err())
	}
	go io.Copy(io.Discard, pr)
	var rec struct{ Msg, HTTP string }
	if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Msg != "listening" {
		t.Fatalf("first log line %q: %v", sc.Text(), err)
	}
	return "http://" + rec.HTTP, dir
}

func TestFloor(t *testing.T) {
	url, dir := startFloor(t)
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"verify", "/api/token/verify/", `{"token":"a.b.c"}`, http.StatusOK},
		{"verify without a token", "/api/token/verify/", `{}`, http.StatusBadRequest},
		{"verify, not JSON", "/api/token/verify/", `token`, http.StatusBadRequest},
		{"blacklist", "/v1/blacklist", `{"jti":"j1","exp":1}`, http.StatusOK},
		{"blacklist without a jti", "/v1/blacklist", `{"exp":1}`, http.StatusBadRequest},
		{"blacklist, not JSON", "/v1/blacklist", `[`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Post(url+tc.path, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !json.Valid(body) {
				t.Errorf("POST %s %s: %d %s, want %d and a JSON body", tc.path, tc.body, resp.StatusCode, body, tc.want)
			}
		})
	}
	// An acknowledged write is in the file.
	data, err := os.ReadFile(filepath.Join(dir, "appendonly.log"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"jti":"j1","exp":1}`+"\n" {
		t.Errorf("file holds %q, want the one acknowledged write", data)
	}
}

// FuzzVerify: any body is answered 200 or 400, never a panic or a 5xx.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{`{"token":"a.b.c"}`, `{}`, `{"token":1}`, `null`, ``, `{"token":"x","token":"y"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		verify(w, httptest.NewRequest(http.MethodPost, "/api/token/verify/", strings.NewReader(body)))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Errorf("%q: %d", body, w.Code)
		}
	})
}
