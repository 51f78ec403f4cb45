package persist

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// bulkOps is a replica's set: n blacklistings (in jti order, as a
// snapshot holds them) and a user and a family revocation.
func bulkOps(n int) []Op {
	ops := make([]Op, 0, n+2)
	for i := range n {
		r := rec(fmt.Sprintf("bulk-%06d", i), fmt.Sprint("u", i%7), 5000+int64(i))
		r.CreatedAt, r.BlacklistedAt, r.Reason = 10+int64(i), 20+int64(i), "bulk"
		ops = append(ops, Op{Kind: OpBlacklist, Record: r})
	}
	return append(ops,
		Op{Kind: OpRevoke, Revocation: Revocation{User: "victim", NotBefore: 1000, Expires: 9000, Origin: "n1"}},
		Op{Kind: OpRevoke, Revocation: Revocation{Family: "fam", NotBefore: 1100, Expires: 9000, Origin: "n1"}})
}

// bulkLoad loads ops in batches of batch and commits at seq.
func bulkLoad(t *testing.T, s *Store, ops []Op, batch int, seq uint64) {
	t.Helper()
	l, err := s.BeginBulkLoad(len(ops))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(ops); i += batch {
		if err := l.Add(ops[i:min(i+batch, len(ops))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Commit(seq, "STREAM 1"); err != nil {
		t.Fatal(err)
	}
}

// emptyStore fails unless s holds nothing: no record, revocation or
// journaled op, applied sequence 0, no bulk load left behind.
func emptyStore(t *testing.T, s *Store) {
	t.Helper()
	c, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counts{}) {
		t.Fatalf("counts %+v, want none", c)
	}
	if d := mustDigest(t, s); d != (Digest{}) {
		t.Fatalf("digest %v, want zero", d)
	}
	if s.journal.mem.pending() != 0 || s.journal.frozenUpTo.Load() != 0 {
		t.Fatalf("journal: %d ops, frozen up to %d", s.journal.mem.pending(), s.journal.frozenUpTo.Load())
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range bucketJournals {
			if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
				return fmt.Errorf("journal bucket %s holds key %x", name, k)
			}
		}
		if tx.Bucket(bucketMeta).Get(metaBulkLoad) != nil {
			return errors.New("the bulk load's meta key is left")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{"bulk-000000", "bulk-000499"} {
		if s.MayBeBlacklisted(jti) {
			t.Fatalf("%s may be blacklisted in an empty store", jti)
		}
	}
	if _, ok, err := s.UserNotBefore("victim"); ok || err != nil {
		t.Fatalf("victim's revocation: %v, %v", ok, err)
	}
}

// journalSeqs returns the sequences of the two journal buckets.
func journalSeqs(t *testing.T, s *Store) (seqs [2]uint64) {
	t.Helper()
	if err := s.db.View(func(tx *bolt.Tx) error {
		for i, name := range bucketJournals {
			seqs[i] = tx.Bucket(name).Sequence()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return seqs
}

// A bulk load ends with the store Apply would have built from the same
// ops, answers from the journal at once, and merges into the trees: entry
// by entry when its ops come in jti order (a snapshot's), through the
// journal's sorted merge otherwise.
func TestBulkLoadMatchesApply(t *testing.T) {
	shuffled := bulkOps(3000)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled)-2, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	repeated := bulkOps(3000)
	again := repeated[10] // a later blacklisting of the same token: the first wins
	again.Record.BlacklistedAt += 100
	repeated = append(repeated[:11:11], append([]Op{again}, repeated[11:]...)...)
	for _, tc := range []struct {
		name   string
		ops    []Op
		batch  int // of the load's Adds
		chunk  int // of the merge
		sorted bool
	}{
		{"in jti order", bulkOps(3000), 1000, mergeChunk, true},
		{"in jti order, in one Add", bulkOps(5000), 5002, mergeChunk, true},
		{"in jti order, merged in small chunks", bulkOps(3000), 1000, 70, true},
		{"in any order", shuffled, 3002, mergeChunk, false},
		{"with a jti twice", repeated, 1000, 70, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := tc.ops
			want := openTest(t, "", Options{})
			if _, err := want.Apply(slices.Clone(ops), 77); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			s := openTest(t, dir, Options{})
			s.journal.chunk = tc.chunk
			bulkLoad(t, s, slices.Clone(ops), tc.batch, 77)
			if s.journal.frozenUpTo.Load() == 0 || s.journal.mem.pending() != 0 {
				t.Fatalf("after the load: frozen up to %d, %d ops taking new ones; want the load frozen", s.journal.frozenUpTo.Load(), s.journal.mem.pending())
			}
			if got := s.journal.mem.sortedBulk(s.journal.frozenUpTo.Load()); got != tc.sorted {
				t.Fatalf("sorted bulk %v, want %v", got, tc.sorted)
			}
			for _, jti := range []string{"bulk-000000", "bulk-000010", "bulk-001234", "bulk-002999"} {
				if b, err := s.IsBlacklisted(jti); err != nil || !b {
					t.Fatalf("IsBlacklisted(%s) = %v, %v before the merge", jti, b, err)
				}
				got, err := s.Lookup(jti)
				if err != nil {
					t.Fatal(err)
				}
				if w, _ := want.Lookup(jti); got != w {
					t.Fatalf("Lookup(%s) = %+v, Apply's store %+v", jti, got, w)
				}
			}
			if r, ok, err := s.UserNotBefore("victim"); err != nil || !ok || r.NotBefore != 1000 {
				t.Fatalf("victim: %+v, %v, %v", r, ok, err)
			}
			if seq, _ := s.AppliedSeq(); seq != 77 {
				t.Fatalf("applied sequence %d, want 77", seq)
			}
			if id, _ := s.AppliedStream(); id != "STREAM 1" {
				t.Fatalf("applied stream %q", id)
			}
			// A write after the load merges with it as with any journaled
			// op: an earlier blacklisting wins.
			early := ops[5].Record
			early.BlacklistedAt, early.Reason = 1, "earlier"
			for _, st := range []*Store{s, want} {
				if _, err := st.Apply([]Op{{Kind: OpBlacklist, Record: early}}, 78); err != nil {
					t.Fatal(err)
				}
			}
			if r, err := s.Lookup(early.JTI); err != nil || r.Reason != "earlier" {
				t.Fatalf("Lookup(%s) after a later write = %+v, %v", early.JTI, r, err)
			}
			wc, _ := want.Counts()
			if c, err := s.Counts(); err != nil || c != wc {
				t.Fatalf("counts %+v (%v), Apply's store %+v", c, err, wc)
			}
			if err := s.journal.settle(); err != nil {
				t.Fatal(err)
			}
			if c, err := s.Counts(); err != nil || c != wc {
				t.Fatalf("counts once merged %+v (%v), Apply's store %+v", c, err, wc)
			}
			if s.journal.frozenUpTo.Load() != 0 || s.journal.mem.bulk != nil || s.journal.mem.black.Load() != 0 {
				t.Fatalf("after the merge: frozen up to %d, bulk index %v, %d blacklisted hashes", s.journal.frozenUpTo.Load(), s.journal.mem.bulk != nil, s.journal.mem.black.Load())
			}
			if d, w := mustDigest(t, s), mustDigest(t, want); d != w {
				t.Fatalf("digest %v, Apply's store %v", d, w)
			}
			if d, err := s.RecomputeDigest(); err != nil || d != mustDigest(t, want) {
				t.Fatalf("recomputed digest %v (%v)", d, err)
			}
			for _, jti := range []string{"bulk-000010", "bulk-002999"} {
				got, _ := s.Lookup(jti)
				if w, _ := want.Lookup(jti); got != w {
					t.Fatalf("Lookup(%s) after the merge = %+v, Apply's store %+v", jti, got, w)
				}
			}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if rep, err := Fsck(dir, FsckOptions{}); err != nil || rep.Problems > 0 {
				t.Fatalf("Fsck: %v, %v", err, rep.Details)
			}
			s = openTest(t, dir, Options{})
			if d := mustDigest(t, s); d != mustDigest(t, want) {
				t.Fatalf("reopened: digest %v", d)
			}
		})
	}
}

// A store reopened before a sorted bulk load was merged merges it as any
// journal, with the same result.
func TestBulkLoadMergesAfterARestart(t *testing.T) {
	ops := bulkOps(2000)
	want := openTest(t, "", Options{})
	if _, err := want.Apply(slices.Clone(ops), 5); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, "", Options{})
	bulkLoad(t, s, slices.Clone(ops), 300, 5)
	crash := filepath.Join(t.TempDir(), "crash")
	if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(filepath.Join(mkdir(t, crash), FileName), 0o600) }); err != nil {
		t.Fatal(err)
	}
	c := openTest(t, crash, Options{})
	if b, err := c.IsBlacklisted("bulk-001999"); err != nil || !b {
		t.Fatalf("reopened before the merge: IsBlacklisted = %v, %v", b, err)
	}
	if d, w := mustDigest(t, c), mustDigest(t, want); d != w {
		t.Fatalf("digest %v, Apply's store %v", d, w)
	}
	if seq, _ := c.AppliedSeq(); seq != 5 {
		t.Fatalf("applied sequence %d, want 5", seq)
	}
}

// readSorted reads a sorted bulk load's bucket in pieces of n ops, across
// its entries, in order.
func TestReadSortedWalksEntries(t *testing.T) {
	s := openTest(t, "", Options{})
	ops := bulkOps(5000)[:5000]                // tokens only
	bulkLoad(t, s, slices.Clone(ops), 2500, 1) // entries of 2048, 452, 2048, 452 ops
	for _, tc := range []struct {
		n     int
		sizes []int
	}{
		{1000, []int{1000, 1000, 1000, 1000, 1000}},
		{2048, []int{2048, 2048, 904}},
		{3000, []int{3000, 2000}},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			var got []string
			var sizes []int
			key, slot := uint64(0), 0
			for {
				batch, k, sl, err := s.journal.readSorted(key, slot, tc.n)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
				sizes = append(sizes, len(batch))
				for _, op := range batch {
					got = append(got, op.Record.JTI)
				}
				key, slot = k, sl
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Fatalf("pieces of %v, want %v", sizes, tc.sizes)
			}
			for i, jti := range got {
				if jti != ops[i].Record.JTI {
					t.Fatalf("op %d is %s, want %s", i, jti, ops[i].Record.JTI)
				}
			}
		})
	}
}

// Nothing of a bulk load is visible before Commit; Abort, or a crash
// before Commit, leaves the store empty, and a new load can begin.
func TestBulkLoadLeavesNothingBehind(t *testing.T) {
	ops := bulkOps(500)
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, s *Store, l *BulkLoad) *Store // returns the store to check
	}{
		{"aborted", func(t *testing.T, s *Store, l *BulkLoad) *Store {
			if err := l.Abort(); err != nil {
				t.Fatal(err)
			}
			if err := l.Abort(); err != nil {
				t.Fatalf("a second Abort: %v", err)
			}
			return s
		}},
		{"crashed", func(t *testing.T, s *Store, l *BulkLoad) *Store {
			// The file as a kill -9 leaves it, the load half written.
			crash := filepath.Join(t.TempDir(), "crash")
			if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(filepath.Join(mkdir(t, crash), FileName), 0o600) }); err != nil {
				t.Fatal(err)
			}
			if err := l.Abort(); err != nil {
				t.Fatal(err)
			}
			return openTest(t, crash, Options{})
		}},
		{"closed", func(t *testing.T, s *Store, _ *BulkLoad) *Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return openTest(t, s.Dir(), Options{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, "", Options{})
			// An empty store whose journal has taken keys.
			if _, err := s.Apply([]Op{{Kind: OpBlacklist, Record: Record{JTI: "gone", ExpiresAt: 5, BlacklistedAt: 1}}}, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Flush(1<<40, 100, nil); err != nil {
				t.Fatal(err)
			}
			seqs := journalSeqs(t, s)
			l, err := s.BeginBulkLoad(len(ops))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Add(append([]Op(nil), ops[:300]...)); err != nil {
				t.Fatal(err)
			}
			if b, err := s.IsBlacklisted("bulk-000001"); err != nil || b {
				t.Fatalf("IsBlacklisted before Commit = %v, %v", b, err)
			}
			if err := l.Add(append([]Op(nil), ops[300:]...)); err != nil {
				t.Fatal(err)
			}
			c := tc.end(t, s, l)
			emptyStore(t, c)
			if got := journalSeqs(t, c); got != seqs {
				t.Fatalf("journal sequences %v after the load, %v before", got, seqs)
			}
			bulkLoad(t, c, append([]Op(nil), ops...), 200, 5)
			if b, err := c.IsBlacklisted("bulk-000001"); err != nil || !b {
				t.Fatalf("IsBlacklisted after a new load = %v, %v", b, err)
			}
		})
	}
}

// A bulk load begins only on an empty store, one at a time, and fails on
// an invalid op.
func TestBulkLoadRefuses(t *testing.T) {
	t.Run("a store that holds a record", func(t *testing.T) {
		s := openTest(t, "", Options{})
		if _, err := s.Apply([]Op{{Kind: OpBlacklist, Record: Record{JTI: "a", ExpiresAt: 9, BlacklistedAt: 1}}}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginBulkLoad(0); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("BeginBulkLoad: %v, want ErrNotEmpty", err)
		}
	})
	t.Run("a store that applied a sequence", func(t *testing.T) {
		s := openTest(t, "", Options{})
		if err := s.SetApplied(3, "S"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginBulkLoad(0); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("BeginBulkLoad: %v, want ErrNotEmpty", err)
		}
	})
	t.Run("a second load", func(t *testing.T) {
		s := openTest(t, "", Options{})
		l, err := s.BeginBulkLoad(0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginBulkLoad(0); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("a second BeginBulkLoad: %v, want ErrNotEmpty", err)
		}
		if err := l.Abort(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an invalid op", func(t *testing.T) {
		s := openTest(t, "", Options{})
		l, err := s.BeginBulkLoad(0)
		if err != nil {
			t.Fatal(err)
		}
		bad := []Op{{Kind: OpBlacklist, Record: Record{JTI: "ok", ExpiresAt: 9, BlacklistedAt: 1}},
			{Kind: OpBlacklist, Record: Record{JTI: "no-exp", BlacklistedAt: 1}}}
		if err := l.Add(bad); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("Add: %v, want ErrInvalidRecord", err)
		}
		if err := l.Abort(); err != nil {
			t.Fatal(err)
		}
		emptyStore(t, s)
	})
}

// The journal does not freeze while a bulk load writes the other bucket,
// whatever writes arrive meanwhile.
func TestBulkLoadHoldsTheJournal(t *testing.T) {
	s := openTest(t, "", Options{})
	s.journal.mergeAt = 10
	l, err := s.BeginBulkLoad(0)
	if err != nil {
		t.Fatal(err)
	}
	ops := bulkOps(100)
	if err := l.Add(append([]Op(nil), ops[:50]...)); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := s.Blacklist(rec(fmt.Sprint("live-", i), "u", 7000), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.journal.settle(); err != nil {
		t.Fatal(err)
	}
	if s.journal.frozenUpTo.Load() != 0 {
		t.Fatal("the journal froze during a bulk load")
	}
	if err := l.Add(append([]Op(nil), ops[50:]...)); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(9, ""); err != nil {
		t.Fatal(err)
	}
	c, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c.Blacklisted != 130 || c.UserRevocations != 2 {
		t.Fatalf("counts %+v, want 130 blacklisted and 2 revocations", c)
	}
}

// A bulk load's index finds every ref of a hash, in order, whatever the
// number of ops, repeats of one hash and crowding of one bucket.
func TestBulkIndexFindsEveryRef(t *testing.T) {
	for _, n := range []int{1, 3, 100, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			want := map[uint64][]opRef{}
			var in []bulkRef
			for i := range n {
				h := r.Uint64() | 1
				switch {
				case i%5 == 1 && len(in) > 0:
					h = in[r.IntN(len(in))].h // a repeat
				case i%7 == 2:
					h = h&^(1<<40-1) | uint64(i) // crowds its bucket
				}
				kind := OpOutstanding
				if r.IntN(3) > 0 {
					kind = OpBlacklist
				}
				ref := newOpRef(uint64(i+1), 0, kind)
				in = append(in, bulkRef{h, ref})
				want[h] = append(want[h], ref)
			}
			x := newBulkIndex(in, 99)
			var black int64
			for h, refs := range want {
				if got := x.appendRefs(nil, h); !slices.Equal(got, refs) {
					t.Fatalf("refs of %x: %v, want %v", h, got, refs)
				}
				b := slices.ContainsFunc(refs, opRef.black)
				if x.blacklisted(h) != b {
					t.Fatalf("blacklisted(%x) = %v, want %v", h, !b, b)
				}
				if b {
					black++
				}
				if got := x.appendRefs(nil, h^1<<20); len(got) != 0 && want[h^1<<20] == nil {
					t.Fatalf("refs of an absent hash: %v", got)
				}
			}
			if x.black != black {
				t.Fatalf("black %d, want %d", x.black, black)
			}
		})
	}
}
