//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/persisttest"
)

// TestProcessDamagedStore: one changed byte of a blacklisted jti's key in
// blnode.db. fsck reports it and exits 1; a full node refuses to start with
// what to do, instead of answering the token as valid.
func TestProcessDamagedStore(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--data", data, "--no-nats", "--http", "127.0.0.1:0"}
	p := startServe(t, bin, args...)
	tok, jti, _ := mintBin(t, bin, data)
	if status, body := postJSON(t, p.url+"/api/token/blacklist/", map[string]string{"refresh": tok}); status != 200 {
		t.Fatalf("blacklist: %d %s", status, body)
	}
	p.stop(t)

	out, stderr, code := runBin(t, bin, "fsck", "--data", data)
	if code != 0 || !strings.Contains(out, ": ok: 1 blacklisted") || stderr != "" {
		t.Fatalf("fsck of a sound store: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	persisttest.FlipKeyByte(t, filepath.Join(data, persist.FileName), "blacklisted", jti)
	out, stderr, code = runBin(t, bin, "fsck", "--data", data)
	if code != 1 || !strings.Contains(out, "problem: meta: blacklist digest") ||
		!strings.Contains(stderr, "store damaged") || !strings.Contains(stderr, "restore from backup or rebuild from the stream") {
		t.Fatalf("fsck of a damaged store: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	_, stderr, code = runBinWithin(t, 30*time.Second, bin, append([]string{"serve", "--log-format", "json"}, args...)...)
	if code != 1 || !strings.Contains(stderr, "store damaged: blacklist digest") ||
		!strings.Contains(stderr, "restore from backup or rebuild from the stream") {
		t.Fatalf("serve on a damaged store: exit %d, stderr %q", code, stderr)
	}
}

// TestProcessLostStore: blnode.db deleted or emptied after use. serve
// refuses with what to do, instead of starting an empty store with a new
// node id and none of the revocations; fsck says so too; with
// --rebuild-store serve starts an empty store that keeps the node id.
func TestProcessLostStore(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		name string
		lose func(path string) error
		what string
	}{
		{name: "deleted", lose: os.Remove, what: "is missing"},
		{name: "emptied", lose: func(path string) error { return os.Truncate(path, 0) }, what: "is empty (0 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"--data", data, "--no-nats", "--http", "127.0.0.1:0"}
			p := startServe(t, bin, args...)
			id := p.record("listening")["node_id"]
			p.stop(t)
			if err := tc.lose(filepath.Join(data, persist.FileName)); err != nil {
				t.Fatal(err)
			}

			_, stderr, code := runBinWithin(t, 30*time.Second, bin, append([]string{"serve"}, args...)...)
			if code != 1 || !strings.Contains(stderr, "store missing") || !strings.Contains(stderr, tc.what) ||
				!strings.Contains(stderr, "restore from backup or rebuild from the stream (--rebuild-store)") {
				t.Fatalf("serve on a lost store: exit %d, stderr %q", code, stderr)
			}
			if _, stderr, code := runBin(t, bin, "fsck", "--data", data); code != 1 || !strings.Contains(stderr, "store missing") {
				t.Errorf("fsck of a lost store: exit %d, stderr %q", code, stderr)
			}

			p = startServe(t, bin, append(args, "--rebuild-store")...)
			if got := p.record("listening")["node_id"]; got != id {
				t.Errorf("node id after --rebuild-store %v, want %v kept", got, id)
			}
			p.stop(t)
		})
	}
}
