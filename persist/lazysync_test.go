package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// lazyStream is a stand-in for the event stream: batch i (sequence i+1)
// blacklists one token.
func lazyStream(n int) [][]Op {
	out := make([][]Op, n)
	for i := range out {
		r := rec(fmt.Sprintf("lazy-%04d", i), fmt.Sprintf("u%d", i%7), 1<<40)
		r.BlacklistedAt = 1
		out[i] = []Op{{Kind: OpBlacklist, Record: r}}
	}
	return out
}

// replay applies the batches of stream after the store's applied sequence.
func replay(t testing.TB, s *Store, stream [][]Op) {
	t.Helper()
	from, err := s.AppliedSeq()
	if err != nil {
		t.Fatal(err)
	}
	for seq := from + 1; seq <= uint64(len(stream)); seq++ {
		if _, err := s.Apply(stream[seq-1], seq); err != nil {
			t.Fatalf("Apply %d: %v", seq, err)
		}
	}
}

// fileAt returns the store file's bytes as they are now. The tests call it
// right after Sync with no commit under way, so it is the file a power
// loss at that moment would leave.
func fileAt(t testing.TB, s *Store) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLazySyncPowerLoss plays a power loss on a store with
// Options.LazySync: the file is left as of the last fsync (clean), or as of
// the last fsync with the newer meta pages written over it (torn). Either
// opens, the commits since the fsync lost and the applied sequence with
// them, or is found damaged and rebuilt; replaying the stream from the
// recorded sequence then gives the digest of the store that lost nothing.
func TestLazySyncPowerLoss(t *testing.T) {
	const synced, total = 40, 100
	stream := lazyStream(total)
	dir := t.TempDir()
	s := openTest(t, dir, Options{LazySync: time.Hour}) // only Sync and Close fsync
	var atSync []byte
	for seq := 1; seq <= total; seq++ {
		if _, err := s.Apply(stream[seq-1], uint64(seq)); err != nil {
			t.Fatal(err)
		}
		if seq == synced {
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			atSync = fileAt(t, s)
		}
	}
	want, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	later, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	metas := 2 * os.Getpagesize()
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		clean  bool // the file of the last fsync, whole
	}{
		{"clean", func(b []byte) []byte { return b }, true},
		{"torn meta", func(b []byte) []byte { copy(b[:metas], later[:metas]); return b }, false},
		{"torn tail", func(b []byte) []byte { return append(b, later[len(b):]...) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lost := damagedCopy(t, atSync, tc.damage)
			s, err := Open(lost, Options{LazySync: time.Hour, Rebuild: true})
			if err != nil {
				t.Fatalf("Open after a power loss: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			from, err := s.AppliedSeq()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("opened at applied sequence %d (rebuilt: %v)", from, s.Rebuilt())
			if tc.clean && (from != synced || s.Rebuilt() != nil) {
				t.Fatalf("the file of the last fsync opened at sequence %d (rebuilt: %v), want %d", from, s.Rebuilt(), synced)
			}
			replay(t, s, stream)
			got, err := s.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("digest after replay %v, want %v", got, want)
			}
			if err := s.Check(); err != nil {
				t.Fatalf("Check after replay: %v", err)
			}
		})
	}
}

// TestLazySyncCloseKeepsEverything checks that Close leaves every commit in
// the file, and that Options.LazySync is validated.
func TestLazySyncCloseKeepsEverything(t *testing.T) {
	const total = 30
	dir := t.TempDir()
	s := openTest(t, dir, Options{LazySync: 10 * time.Millisecond})
	replay(t, s, lazyStream(total))
	want, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	if seq, err := s.AppliedSeq(); err != nil || seq != total {
		t.Fatalf("AppliedSeq after Close and Open = %d, %v; want %d", seq, err, total)
	}
	if got, err := s.Digest(); err != nil || got != want {
		t.Fatalf("Digest after Close and Open = %v, %v; want %v", got, err, want)
	}
	if _, err := Open(t.TempDir(), Options{LazySync: -time.Second}); err == nil || errors.Is(err, ErrDamaged) {
		t.Fatalf("Open with a negative LazySync: %v, want a config error", err)
	}
}
