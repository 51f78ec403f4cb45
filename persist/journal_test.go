package persist

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/blnode/blnode/internal/poll"
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
	if n := s.journal.mem.pending(); n != 50 {
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
	if n := c.journal.mem.pending(); n != 50 {
		t.Fatalf("reopened journal holds %d ops, want 50", n)
	}
	if b, _ := c.IsBlacklisted("j48"); !b {
		t.Fatal("j48 lost in the crash")
	}
	if got, err := c.Counts(); err != nil || got.Outstanding != 50 || got.Blacklisted != 25 || c.journal.mem.pending() != 50 {
		t.Fatalf("before the merge: %+v, %v, journal %d; want 50 outstanding, 25 blacklisted, the journal left", got, err, c.journal.mem.pending())
	}
	if err := c.journal.settle(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if got.Outstanding != 50 || got.Blacklisted != 25 || c.journal.mem.pending() != 0 {
		t.Fatalf("after the merge: %+v, journal %d; want 50 outstanding, 25 blacklisted, empty journal", got, c.journal.mem.pending())
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
	s.journal.mergeAt, s.journal.chunk = 7, 3
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

// A crash in the middle of a merge (a frozen journal bucket, some chunks
// in the trees) loses nothing: Open reloads both buckets, reads answer from
// them, and the merge resumes with the same result as one whole merge.
func TestJournalCrashMidMerge(t *testing.T) {
	s := openTest(t, "", Options{})
	s.journal.chunk = 4
	for i := range 30 {
		r := rec(fmt.Sprintf("m%02d", i), fmt.Sprint("u", i%4), 100+int64(i))
		var err error
		if i%3 != 0 {
			_, err = s.Blacklist(r, []byte("ev"))
		} else {
			_, err = s.AddOutstanding(r, []byte("ev"))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Freeze, merge one chunk by hand and copy the file, with the merger
	// held off; then write more into the new journal bucket.
	s.journal.mergeMu.Lock()
	if err := s.commit.do(s.journal.freeze); err != nil {
		t.Fatal(err)
	}
	slab, err := s.journal.readFrozen()
	if err != nil || len(slab.order) != 30 {
		t.Fatalf("frozen bucket holds %d ops (%v), want 30", len(slab.order), err)
	}
	if err := s.commit.do(func(tx *writeTx) error { return s.journal.mergeOps(tx, slab, slab.order[:4]) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blacklist(rec("m00", "u0", 100), []byte("ev")); err != nil { // outstanding until now
		t.Fatal(err)
	}
	crash := filepath.Join(t.TempDir(), "crash")
	if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(filepath.Join(mkdir(t, crash), FileName), 0o600) }); err != nil {
		t.Fatal(err)
	}
	s.journal.mergeMu.Unlock()

	c := openTest(t, crash, Options{})
	check := func(when string) {
		t.Helper()
		for i := range 30 {
			jti := fmt.Sprintf("m%02d", i)
			want := i%3 != 0 || i == 0
			if b, err := c.IsBlacklisted(jti); err != nil || b != want {
				t.Errorf("%s: IsBlacklisted(%s) = %v, %v; want %v", when, jti, b, err, want)
			}
			if r, err := c.Lookup(jti); err != nil || r.Blacklisted() != want || r.User != fmt.Sprint("u", i%4) {
				t.Errorf("%s: Lookup(%s) = %+v, %v", when, jti, r, err)
			}
		}
	}
	check("reopened")
	if got, err := c.Counts(); err != nil || got.Outstanding != 30 || got.Blacklisted != 21 {
		t.Fatalf("while the merger resumes: %+v, %v; want 30 outstanding, 21 blacklisted", got, err)
	}
	if err := c.journal.settle(); err != nil { // finishes the merge
		t.Fatal(err)
	}
	got, err := c.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if got.Outstanding != 30 || got.Blacklisted != 21 || c.journal.frozenUpTo.Load() != 0 || c.journal.mem.pending() != 0 {
		t.Fatalf("after the merge: %+v, frozen %d, journal %d; want 30 outstanding, 21 blacklisted, no journal",
			got, c.journal.frozenUpTo.Load(), c.journal.mem.pending())
	}
	check("merged")
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
}

// Two jtis may share a hash in the memtable; a reader tells their ops
// apart by the jti each op carries.
func TestJournalHashCollision(t *testing.T) {
	s := openTest(t, "", Options{})
	s.journal.mergeMu.Lock() // no merge: the ops stay in the journal
	defer s.journal.mergeMu.Unlock()
	if _, err := s.Blacklist(rec("collider", "u1", 100), nil); err != nil {
		t.Fatal(err)
	}
	refs := s.journal.known(nil, "collider")
	if len(refs) != 1 {
		t.Fatalf("collider has %d journal refs, want 1", len(refs))
	}
	victim := s.filter.hash([]byte("victim"))
	s.journal.mem.mu.Lock()
	s.journal.mem.x.add(victim, refs[0]) // as if "victim" hashed the same
	s.journal.mem.mu.Unlock()
	s.journal.mem.black.Add(1)
	if !s.MayBeBlacklisted("victim") {
		t.Fatal("the shared hash is not a maybe")
	}
	if b, err := s.IsBlacklisted("victim"); err != nil || b {
		t.Fatalf("IsBlacklisted(victim) = %v, %v; want false", b, err)
	}
	if _, err := s.Lookup("victim"); err != ErrNotFound {
		t.Fatalf("Lookup(victim) = %v, want ErrNotFound", err)
	}
	if b, err := s.IsBlacklisted("collider"); err != nil || !b {
		t.Fatalf("IsBlacklisted(collider) = %v, %v", b, err)
	}
}

// While replay-sized batches arrive, the journal is not merged, even past
// mergeAt and across a smaller batch; once they stop, the merger merges it
// with nothing else written or read.
func TestReplayMergesOnceCaughtUp(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	s.journal.mergeAt = 100
	batch := func(from, n int) {
		t.Helper()
		ops := make([]Op, n)
		for i := range ops {
			ops[i] = Op{Kind: OpBlacklist, Record: Record{JTI: fmt.Sprintf("r%05d", from+i), ExpiresAt: 100, CreatedAt: 1, BlacklistedAt: 1}}
		}
		if _, err := s.Apply(ops, uint64(from+n)); err != nil {
			t.Fatal(err)
		}
	}
	batch(0, catchUpBatch)
	batch(catchUpBatch, 10) // a small batch in the middle of the replay
	batch(catchUpBatch+10, catchUpBatch)
	if n, f := s.journal.mem.pending(), s.journal.frozenUpTo.Load(); n != 2*catchUpBatch+10 || f != 0 {
		t.Fatalf("while catching up: journal %d ops, frozen %d; want %d, none", n, f, 2*catchUpBatch+10)
	}
	poll.For(t, 20*catchUpIdle, 10*time.Millisecond, func() error {
		if s.journal.mem.pending() != 0 || s.journal.frozenUpTo.Load() != 0 || s.journal.mem.black.Load() != 0 {
			return fmt.Errorf("journal still holds %d ops (frozen %d) after the replay", s.journal.mem.pending(), s.journal.frozenUpTo.Load())
		}
		return nil
	})
	if f := s.filterSize(); f != 2*catchUpBatch+10 {
		t.Fatalf("filter holds %d ids after the merge, want %d", f, 2*catchUpBatch+10)
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

// A bucket value leaves the jti out (it is the key); values an older build
// wrote with the jti inside still read the same.
func TestStoredRecordOmitsTheKey(t *testing.T) {
	r := rec("0123456789abcdef0123456789abcdef", "u1", 100)
	slim, full := encodeStored(r), encodeRecord(r)
	if len(slim) != len(full)-len(r.JTI) {
		t.Fatalf("stored form %d bytes, full %d: the jti is still inside", len(slim), len(full))
	}
	for _, v := range [][]byte{slim, full} {
		got, err := decodeStored([]byte(r.JTI), v)
		if err != nil || got != r {
			t.Fatalf("decodeStored = %+v, %v; want %+v", got, err, r)
		}
	}
}

// The filter holds exactly the stored blacklisted ids: after merges, a
// flush and a reopen, a jti that is not blacklisted is answered from
// memory and one that is never is missed.
func TestFilterFollowsTheBlacklist(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	s.journal.mergeAt = 5
	for i := range 40 {
		r := rec(fmt.Sprintf("f%02d", i), "u", 100+int64(i%2)*1000)
		if i%4 == 0 {
			if _, err := s.AddOutstanding(r, nil); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := s.Blacklist(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, s *Store, gone func(i int) bool) {
		t.Helper()
		for i := range 40 {
			jti := fmt.Sprintf("f%02d", i)
			want := i%4 != 0 && !gone(i)
			if got := s.MayBeBlacklisted(jti); got != want && want {
				t.Errorf("%s: MayBeBlacklisted(%s) = false for a blacklisted id", when, jti)
			}
			if b, _ := s.IsBlacklisted(jti); b != want {
				t.Errorf("%s: IsBlacklisted(%s) = %v, want %v", when, jti, b, want)
			}
		}
		if s.MayBeBlacklisted("never") {
			t.Errorf("%s: an unknown id may be blacklisted", when)
		}
	}
	none := func(int) bool { return false }
	check("journaled and merged", s, none)
	if err := s.journal.settle(); err != nil { // merges the rest
		t.Fatal(err)
	}
	if got, want := s.filterSize(), 30; got != want {
		t.Fatalf("filter holds %d ids, want %d", got, want)
	}
	check("merged", s, none)
	if _, err := s.Flush(500, 3, nil); err != nil {
		t.Fatal(err)
	}
	expired := func(i int) bool { return i%2 == 0 }
	check("flushed", s, expired)
	if got, want := s.filterSize(), 20; got != want {
		t.Fatalf("filter holds %d ids after the flush, want %d", got, want)
	}
	s.Close()
	s = openTest(t, dir, Options{})
	check("reopened", s, expired)
}

func (s *Store) filterSize() int {
	n := 0
	for i := range s.filter.shards {
		sh := &s.filter.shards[i]
		sh.mu.RLock()
		n += sh.n
		sh.mu.RUnlock()
	}
	return n
}

// A journal entry read from the file never panics the reader, and every op
// entryOps walks is the op entryOp finds at its place; a block of ops reads
// back as written.
func FuzzJournalEntry(f *testing.F) {
	ops := []Op{
		{Kind: OpBlacklist, Record: rec("a", "u1", 100)},
		{Kind: OpOutstanding, Record: rec("bb", "", 200)},
	}
	var read []Op
	err := entryOps(encodeBlock(ops), func(_ int, b []byte) error {
		op, err := decodeOp(b)
		read = append(read, op)
		return err
	})
	if err != nil || len(read) != 2 || read[0] != ops[0] || read[1] != ops[1] {
		f.Fatalf("block read back as %+v, %v", read, err)
	}
	f.Add(encodeBlock(ops))
	f.Add(encodeBlock([]Op{{Kind: OpOutstanding, Record: Record{JTI: "o", ExpiresAt: 9, ClientID: "app", SessionID: "s", Scope: "a b"}}}))
	f.Add(encodeOp(ops[0]))
	f.Add([]byte{blockMarker, 0, 0, 0, 2, 0, 0, 0, 13, 0, 0, 0, 9})
	f.Add([]byte{blockMarker, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		_ = entryOps(v, func(i int, op []byte) error {
			got, err := entryOp(v, i)
			if err != nil || !bytes.Equal(got, op) {
				t.Fatalf("entryOp(%d) = %x, %v; entryOps gave %x", i, got, err, op)
			}
			return nil
		})
	})
}

// An opRef gives back the key, the slot and the kind it was made of, and
// refs order as their ops were journaled.
func TestOpRefRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  uint64
		slot int
		kind OpKind
	}{
		{name: "first op", key: 1, slot: 0, kind: OpOutstanding},
		{name: "blacklisting", key: 7, slot: 3, kind: OpBlacklist},
		{name: "last slot of a block", key: 1 << 40, slot: maxBlock - 1, kind: OpBlacklist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newOpRef(tc.key, tc.slot, tc.kind)
			if r.key() != tc.key || r.slot() != tc.slot || r.black() != (tc.kind == OpBlacklist) || r == 0 {
				t.Fatalf("newOpRef(%d, %d, %d) = %x: key %d, slot %d, black %v", tc.key, tc.slot, tc.kind, uint64(r), r.key(), r.slot(), r.black())
			}
			if next := newOpRef(tc.key, tc.slot+1, OpOutstanding); tc.slot+1 < maxBlock && next <= r {
				t.Fatalf("the ref of the next slot %x does not sort after %x", uint64(next), uint64(r))
			}
			if next := newOpRef(tc.key+1, 0, OpOutstanding); next <= r {
				t.Fatalf("the ref of the next entry %x does not sort after %x", uint64(next), uint64(r))
			}
		})
	}
}

// TestCountsLeaveTheJournal checks that Counts answers from the trees and
// the journal as they are, without merging, freezing or settling the
// journal (a metrics scrape calls it), and counts what a merge would.
func TestCountsLeaveTheJournal(t *testing.T) {
	s := openTest(t, "", Options{})
	black := func(r Record) Record { r.BlacklistedAt = 1; return r }
	for i := range 10 {
		if _, err := s.AddOutstanding(rec(fmt.Sprint("a", i), "u1", 2000), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := s.Blacklist(rec(fmt.Sprint("b", i), "u2", 2000), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.journal.settle(); err != nil {
		t.Fatal(err)
	}
	// In the journal now: jtis the trees hold, new ones, and repeats.
	for i := range 3 {
		if _, err := s.Blacklist(rec(fmt.Sprint("a", i), "u1", 2000), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if _, err := s.AddOutstanding(rec(fmt.Sprint("c", i), "u3", 2000), nil); err != nil {
			t.Fatal(err)
		}
	}
	ops := []Op{
		{Kind: OpBlacklist, Record: black(rec("c0", "u3", 2000))},
		{Kind: OpOutstanding, Record: rec("a5", "u1", 2000)},
		{Kind: OpBlacklist, Record: black(rec("d0", "u4", 2000))},
		{Kind: OpBlacklist, Record: black(rec("d0", "u4", 2000))},
		{Kind: OpOutstanding, Record: rec("b1", "u2", 2000)},
		{Kind: OpBlacklist, Record: black(rec("b2", "u2", 3000))}, // wins over the tree's: the digest changes
	}
	if _, err := s.Apply(ops, 7); err != nil {
		t.Fatal(err)
	}
	want := Counts{Outstanding: 10 + 5 + 4 + 1, Blacklisted: 5 + 3 + 1 + 1, AppliedSeq: 7}
	digest, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	pending := s.journal.mem.pending()
	if pending == 0 {
		t.Fatal("the journal holds no op")
	}
	for range 2 { // the second answers from the cache
		if got, err := s.Counts(); err != nil || got != want {
			t.Fatalf("Counts with the journal unmerged = %+v, %v; want %+v", got, err, want)
		}
	}
	if n := s.journal.mem.pending(); n != pending || s.journal.frozenUpTo.Load() != 0 {
		t.Fatalf("after Counts the journal holds %d ops, frozen %d; want %d, none frozen", n, s.journal.frozenUpTo.Load(), pending)
	}
	if _, err := s.AddOutstanding(rec("e0", "u5", 2000), nil); err != nil {
		t.Fatal(err)
	}
	want.Outstanding++
	if got, err := s.Counts(); err != nil || got != want {
		t.Fatalf("Counts after a write = %+v, %v; want %+v", got, err, want)
	}
	if err := s.journal.settle(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Counts(); err != nil || got != want || s.journal.holdsOps() {
		t.Fatalf("Counts once merged = %+v, %v (journal holds ops: %v); want %+v", got, err, s.journal.holdsOps(), want)
	}
	merged, err := s.Digest()
	if err != nil || merged != mustDigest(t, s) {
		t.Fatalf("digest once merged %v (%v), recomputed %v", merged, err, mustDigest(t, s))
	}
	if digest != merged {
		t.Fatalf("Digest with the journal unmerged = %v; merged %v", digest, merged)
	}
}
