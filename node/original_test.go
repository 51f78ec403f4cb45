package node_test

import (
	"bufio"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/original"
)

// TestSimpleJWTCompatAgainstOriginal asks the compat table's questions of
// the original itself — Simple JWT from Debian's packages, served by
// gunicorn, signing with the same secret — and requires its answers to be
// the table's, which TestSimpleJWTCompat requires of blnode: the two
// servers answer alike. The allowances: Debian's Simple JWT 5.2.2 answers
// "Token is invalid or expired" where current upstream (and so the table
// and blnode) answers "Token is invalid" or "Token is expired"; and where
// the original answers a 500, blnode answers a 4xx (rows marked
// original500; the test requires the original's 500 there, so a row that
// stops differing is noticed).
func TestSimpleJWTCompatAgainstOriginal(t *testing.T) {
	base := startOriginal(t, compatLeeway)
	for _, r := range compatRows(base) {
		t.Run(r.name, func(t *testing.T) {
			got := r.ask(t)
			if r.original500 {
				if got.status != 500 {
					t.Errorf("the original answers %d %s, the row says it answers 500 (where blnode answers %d)", got.status, got.body, r.status)
				}
				return
			}
			if got.status != r.status {
				t.Fatalf("the original answers %d %s; the table (and blnode) %d %s", got.status, got.body, r.status, r.want)
			}
			if r.want != "" && got.body != r.want && !(got.body == original.InvalidOrExpired && (r.want == invalid || r.want == expired)) {
				t.Errorf("body\nthe original: %s\n   the table: %s", got.body, r.want)
			}
			r.checkRest(t, got)
		})
	}
}

// startOriginal runs the original with the test secret and leeway on a
// fresh database, and returns its base URL. It fails when the original is
// not installed (scripts/install-test-deps installs it), unless
// BLNODE_SKIP_ORIGINAL=1.
func startOriginal(t *testing.T, leeway time.Duration) string {
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
	// One worker: the rows run in order, and later ones depend on earlier.
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
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("the original's log:\n%s", logs.String())
		}
	})
	var base string
	select {
	case base = <-addr:
	case <-drained:
		t.Fatalf("gunicorn exited before listening:\n%s", logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("gunicorn did not listen within a minute:\n%s", logs.String())
	}
	// Listening is the master; wait for the worker to answer.
	deadline := time.Now().Add(time.Minute)
	for {
		got := do(t, "POST", base+"/api/token/verify/", "application/json", `{}`)
		if got.status == 400 {
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("the original answers %d %s to an empty verify, want 400", got.status, got.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
