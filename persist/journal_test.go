package persist

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Writes answer from the journal before any merge, survive a crash (a
// snapshot of the file taken while the store is open, as a kill -9 leaves
// it), and merge into the trees with the same result as direct writes.
func TestJournalSurvivesCrashAndMerges(t *testing.T) {
	s := openTest(t, "", Options{})
	for i := range 50 {
		r := rec(fmt.Sprintf("j%02d", i), fmt.Sprint("u", i%3), 100+int64(i))
		var err error
		if i%2 == 0 {
			_, err = s.Blacklist(r, []byte("ev"))
		} else {
			_, err = s.AddOutstanding(r, []byte("ev"))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.mem.pending(); n != 50 {
		t.Fatalf("journal holds %d ops, want 50 (no merge yet)", n)
	}
	if b, _ := s.IsBlacklisted("j10"); !b {
		t.Fatal("j10 not blacklisted before the merge")
	}
	if r, err := s.Lookup("j11"); err != nil || r.Blacklisted() || r.User != "u2" {
		t.Fatalf("Lookup(j11) = %+v, %v", r, err)
	}
	if res, _ := s.Blacklist(rec("j10", "u1", 110), nil); !res.Existed {
		t.Fatal("a second blacklist of j10 is not Existed")
	}

	crash := filepath.Join(t.TempDir(), "crash")
	if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(filepath.Join(mkdir(t, crash), FileName), 0o600) }); err != nil {
		t.Fatal(err)
	}
	c := openTest(t, crash, Options{})
	if n := c.mem.pending(); n != 50 {
		t.Fatalf("reopened journal holds %d ops, want 50", n)
	}
	if b, _ := c.IsBlacklisted("j48"); !b {
		t.Fatal("j48 lost in the crash")
	}
	got, err := c.Counts() // merges
	if err != nil {
		t.Fatal(err)
	}
	if got.Outstanding != 50 || got.Blacklisted != 25 || c.mem.pending() != 0 {
		t.Fatalf("after the merge: %+v, journal %d; want 50 outstanding, 25 blacklisted, empty journal", got, c.mem.pending())
	}
	if d, _ := c.Digest(); d != mustDigest(t, c) {
		t.Fatalf("digest %+v differs from a recomputation", d)
	}
	page, err := c.List(Query{User: "u1", Limit: 100})
	if err != nil || len(page.Records) != 17 {
		t.Fatalf("List(u1) = %d records, %v; want 17", len(page.Records), err)
	}
}

// With a tiny merge threshold, writers, merges and readers run at once:
// every acknowledged blacklist is seen by every later check.
func TestJournalMergeNeverHidesAWrite(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	s.mergeAt = 7
	var wg sync.WaitGroup
	var acked atomic.Int64
	var stale atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				jti := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Blacklist(rec(jti, "u", 100), []byte("ev")); err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
				if b, err := s.IsBlacklisted(jti); err != nil || !b {
					stale.Add(1)
				}
				if r, err := s.Lookup(jti); err != nil || !r.Blacklisted() {
					stale.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if stale.Load() != 0 {
		t.Fatalf("%d checks missed an acknowledged write", stale.Load())
	}
	c, _ := s.Counts()
	if c.Blacklisted != uint64(acked.Load()) {
		t.Fatalf("%d blacklisted, want %d", c.Blacklisted, acked.Load())
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustDigest(t *testing.T, s *Store) Digest {
	t.Helper()
	d, err := s.RecomputeDigest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
