// Package originaltest starts the original Simple JWT (package original) for
// a test, with cleanup, as net/http/httptest starts a server.
package originaltest

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/original"
	"github.com/blnode/blnode/internal/poll"
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
// BLNODE_SKIP_ORIGINAL=1, which skips it. The server stops at cleanup
// (internal/child); its log is printed when the test failed.
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
	// The harness runs the command's program and stops it, as the command
	// would, with SIGTERM: gunicorn's master then stops its worker.
	cmd := in.Command(t.Context(), env, dir, 1)
	p := child.StartT(t, child.Config{Name: "the original", Path: cmd.Path, Args: cmd.Args[1:], Env: cmd.Env, Dir: cmd.Dir})
	s := &Server{Dir: dir}
	s.URL, err = p.AwaitLine(t.Context(), time.Minute, original.ListeningAddr)
	if err != nil {
		t.Fatalf("gunicorn did not listen: %v", err)
	}
	// The master listens first; ready when the worker answers (an empty
	// verify is a 400).
	poll.For(t, time.Minute, 20*time.Millisecond, func() error {
		resp, err := http.Post(s.URL+"/api/token/verify/", "application/json", strings.NewReader(`{}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			return fmt.Errorf("the original answers an empty verify with %d, not 400", resp.StatusCode)
		}
		return nil
	})
	return s
}
