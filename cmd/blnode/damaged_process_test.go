//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
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
			id := p.Record("listening")["node_id"]
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
			if got := p.Record("listening")["node_id"]; got != id {
				t.Errorf("node id after --rebuild-store %v, want %v kept", got, id)
			}
			p.stop(t)
		})
	}
}

// TestProcessDamagedFileFailsWithoutATrace: a store file cut short or with
// a flipped byte (seeded offsets that the store refuses, among them ones
// that fault or panic inside bbolt) makes serve and fsck exit 1 with one
// line that says what to do, never with a Go fault or panic trace.
func TestProcessDamagedFileFailsWithoutATrace(t *testing.T) {
	bin := buildBinary(t)
	src := t.TempDir()
	s, err := persist.Open(src, persist.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]persist.Op, 2000)
	for i := range ops {
		r := persist.Record{JTI: fmt.Sprintf("%032x", i*104729), User: fmt.Sprint("u", i%50), ExpiresAt: 4_000_000_000, CreatedAt: 1, BlacklistedAt: 1}
		ops[i] = persist.Op{Kind: persist.OpBlacklist, Record: r}
	}
	if _, err := s.Apply(ops, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // merges the journal
		t.Fatal(err)
	}
	if s, err = persist.Open(src, persist.Options{}); err != nil {
		t.Fatal(err)
	}
	used := s.Size() // the pages in use
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(src, persist.FileName))
	if err != nil {
		t.Fatal(err)
	}
	file = file[:used]
	write := func(t *testing.T, b []byte) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, persist.FileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	type damage struct {
		name string
		b    []byte
	}
	var cases []damage
	for _, at := range []int64{4096 + 100, used / 2, used - 1} {
		cases = append(cases, damage{fmt.Sprintf("cut at %d of %d", at, used), file[:at]})
	}
	// Seeded flips (anywhere, or in a page's header) that the store
	// refuses; some of them fault or panic in bbolt (what used to print a
	// trace).
	rng := rand.New(rand.NewPCG(2026, 17))
	faults := 0
	for i := 0; i < 2000 && len(cases) < 9; i++ {
		off, mask := rng.Int64N(used), byte(1<<rng.IntN(8))
		if i%2 == 1 { // a page header's flags, count or overflow
			off = off/4096*4096 + 8 + rng.Int64N(8)
		}
		b := bytes.Clone(file)
		b[off] ^= mask
		_, err := persist.Open(write(t, b), persist.Options{LockTimeout: 50 * time.Millisecond})
		if !errors.Is(err, persist.ErrDamaged) {
			continue
		}
		fault := strings.Contains(err.Error(), "runtime error") || strings.Contains(err.Error(), "invalid")
		if fault && faults < 3 || !fault && len(cases)-faults < 6 {
			if fault {
				faults++
			}
			t.Logf("flip %02x at %d: %v", mask, off, err)
			cases = append(cases, damage{fmt.Sprintf("flip %02x at %d", mask, off), b})
		}
	}
	if faults == 0 {
		t.Fatal("no seeded flip made bbolt fault or panic: the test lost its point")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{
				{"serve", "--data", write(t, tc.b), "--no-nats", "--http", "127.0.0.1:0"},
				{"fsck", "--data", write(t, tc.b)},
			} {
				_, stderr, code := runBinWithin(t, 30*time.Second, bin, args...)
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				last := lines[len(lines)-1]
				if code != 1 || !strings.HasPrefix(last, "blnode: ") || !strings.Contains(last, "store damaged") ||
					!strings.Contains(last, "restore from backup or rebuild from the stream") {
					t.Errorf("%s: exit %d, last line of stderr %q; want exit 1 and what to do", args[0], code, last)
				}
				for _, trace := range []string{"goroutine ", "panic:", "fatal error", "SIGSEGV", "SIGBUS", "[signal"} {
					if strings.Contains(stderr, trace) {
						t.Errorf("%s: stderr holds a trace (%q):\n%s", args[0], trace, stderr)
						break
					}
				}
			}
		})
	}
}
