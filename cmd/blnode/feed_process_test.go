package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/poll"
)

// feedEvent reads the next event of an event stream: its id (when it has
// one) and the jti of its data, a blacklist event.
func feedEvent(t *testing.T, r *bufio.Reader) (id, jti string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the feed: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			var ev struct {
				Kind  string `json:"kind"`
				Token struct {
					JTI string `json:"jti"`
				} `json:"token"`
			}
			if err := json.Unmarshal([]byte(line[6:]), &ev); err != nil || ev.Kind != "blacklist" {
				t.Fatalf("feed data %s: %v", line, err)
			}
			jti = ev.Token.JTI
		case line == "" && jti != "":
			return id, jti
		}
	}
}

// openFeedStream opens GET /v1/feed as an event stream with the feed token.
func openFeedStream(t *testing.T, ctx context.Context, url, token string, hdr ...string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /v1/feed: %d %s", resp.StatusCode, b)
	}
	return resp, bufio.NewReader(resp.Body)
}

// TestProcessFeed: a `blnode serve` with its embedded NATS serves the feed
// to a client holding the feed token; on SIGTERM the stream ends at once
// (the HTTP server's drain does not wait for it), and after a restart the
// client resumes with Last-Event-ID exactly after what it had.
func TestProcessFeed(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	data, tokenFile := filepath.Join(dir, "data"), filepath.Join(dir, "feed-token")
	const feedToken = "feed-token-for-the-process-test"
	if err := os.WriteFile(tokenFile, []byte(feedToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, bin, "--data", data, "--feed-token-file", tokenFile)
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(p.url+"/readyz", http.StatusOK) })
	resp, r := openFeedStream(t, t.Context(), p.url, feedToken, "Accept", "text/event-stream")

	first, firstJTI, _ := mintBin(t, bin, data)
	if status, body := postJSON(t, p.url+"/api/token/blacklist/", map[string]string{"refresh": first}); status != 200 {
		t.Fatalf("blacklist: %d %s", status, body)
	}
	id, jti := feedEvent(t, r)
	if jti != firstJTI || id == "" {
		t.Fatalf("feed: id %q jti %q, want an id and %s", id, jti, firstJTI)
	}
	p.stop(t)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Logf("the stream ended with %v", err)
	}
	if strings.Contains(p.Output(), "did not finish in time") {
		t.Errorf("the HTTP server's drain waited for the feed stream:\n%s", p.Output())
	}

	p = startServe(t, bin, "--data", data, "--feed-token-file", tokenFile)
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(p.url+"/readyz", http.StatusOK) })
	second, secondJTI, _ := mintBin(t, bin, data)
	if status, body := postJSON(t, p.url+"/api/token/blacklist/", map[string]string{"refresh": second}); status != 200 {
		t.Fatalf("blacklist: %d %s", status, body)
	}
	_, r = openFeedStream(t, t.Context(), p.url, feedToken, "Last-Event-ID", id)
	if _, jti := feedEvent(t, r); jti != secondJTI {
		t.Fatalf("resumed after %s: %s, want %s", id, jti, secondJTI)
	}
	p.stop(t)
}
