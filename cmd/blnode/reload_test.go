package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
)

// SIGHUP reloads the credentials file: a credential added is accepted, one
// removed refused; a file that does not load leaves them as they were.
func TestSIGHUPReloadsAdminCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alice:alice-0123456789abcdef:write\n")
	creds, err := nodehttp.LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{DataDir: t.TempDir(), Token: token.Config{HSSecret: []byte("0123456789abcdef0123456789abcdef")},
		AdminCredentials: creds, NATS: node.NATSConfig{Disabled: true}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	var logs lockedBuffer
	stop := reloadCredentialsOnHUP(t.Context(), n, path, slog.New(slog.NewTextHandler(&logs, nil)))
	defer stop()
	status := func(tok string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/audit", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	want := func(alice, bob int) {
		t.Helper()
		poll.For(t, 10*time.Second, 10*time.Millisecond, func() error {
			if a, b := status("alice-0123456789abcdef"), status("bob-0123456789abcdef00"); a != alice || b != bob {
				return fmt.Errorf("alice %d, bob %d; want %d, %d", a, b, alice, bob)
			}
			return nil
		})
	}
	want(200, 401)
	write("bob:bob-0123456789abcdef00:read\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	want(401, 200)
	write("bob:bob-0123456789abcdef00:read\nbob:x-0123456789abcdef0000:read\n") // a repeated name
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	poll.ForTrue(t, 10*time.Second, 10*time.Millisecond, func() bool { return strings.Contains(logs.String(), "not reloaded") })
	// The bad file changed nothing: bob still reads; a good file after it
	// is read again.
	want(401, 200)
	write("alice:alice-0123456789abcdef:write\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	want(200, 401)
}

// lockedBuffer is a strings.Builder safe for a logger's goroutine and the
// test's.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
