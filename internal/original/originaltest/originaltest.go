// Package originaltest starts the original Simple JWT (package original) for
// a test, with cleanup, as net/http/httptest starts a server.
package originaltest

import (
	"bufio"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/original"
)

// Server is a running original.
type Server struct {
	URL string // base URL: http://127.0.0.1:PORT
	Dir string // its project and database (Dir/db.sqlite3)
}

// Start runs the original with secret and leeway on a fresh database in a
// temp dir, with one gunicorn worker (requests are answered in order), and
// returns once it answers. It fails the test when the original is not
// installed (scripts/install-test-deps installs it), unless
// BLNODE_SKIP_ORIGINAL=1, which skips it. The server stops at cleanup; its
// log is printed when the test failed.
func Start(t testing.TB, secret []byte, leeway time.Duration) *Server {
	t.Helper()
	if os.Getenv("BLNODE_SKIP_ORIGINAL") == "1" {
		t.Skip("BLNODE_SKIP_ORIGINAL=1: the tests against the original Simple JWT are skipped")
	}
	in, err := original.Find(t.Context())
	if err != nil {
		t.Fatalf("%v; or set BLNODE_SKIP_ORIGINAL=1 to skip this test", err)
	}
	dir := t.TempDir()
	env, err := in.Prepare(t.Context(), original.Settings{Dir: dir, Secret: string(secret), Leeway: leeway})
	if err != nil {
		t.Fatal(err)
	}
	cmd := in.Command(t.Context(), env, dir, 1)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		logs strings.Builder
	)
	log := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	addr := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logs.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if a := original.ListeningAddr(sc.Text()); a != "" {
				select {
				case addr <- a:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-drained
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("the original's log:\n%s", log())
		}
	})
	s := &Server{Dir: dir}
	select {
	case s.URL = <-addr:
	case <-drained:
		t.Fatalf("gunicorn exited before listening:\n%s", log())
	case <-time.After(time.Minute):
		t.Fatalf("gunicorn did not listen within a minute:\n%s", log())
	}
	// The master listens first; ready when the worker answers (an empty
	// verify is a 400).
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Post(s.URL+"/api/token/verify/", "application/json", strings.NewReader(`{}`))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the original does not answer an empty verify with 400 (%v):\n%s", err, log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
