package persist

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// checkDigest fails the test when the incremental digest differs from the
// one recomputed from every record.
func checkDigest(t testing.TB, s *Store, when string) Digest {
	t.Helper()
	got, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.RecomputeDigest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s: incremental digest %v, recomputed %v", when, got, want)
	}
	return got
}

// randomOps makes n ops over a small set of jtis, so that the same token is
// written again, by other origins, with other times and expiries.
func randomOps(rng *rand.Rand, n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		jti := fmt.Sprintf("j%03d", rng.IntN(150))
		r := Record{JTI: jti, User: fmt.Sprint("u", rng.IntN(5)), ExpiresAt: 1000 + rng.Int64N(100),
			CreatedAt: 1 + rng.Int64N(1e6), Origin: fmt.Sprint("n", rng.IntN(3)), Reason: fmt.Sprint("r", rng.IntN(2))}
		switch rng.IntN(3) {
		case 0:
			ops[i] = Op{Kind: OpOutstanding, Record: r}
		default:
			r.BlacklistedAt = 1 + rng.Int64N(1e6)
			ops[i] = Op{Kind: OpBlacklist, Record: r}
		}
	}
	return ops
}

func TestDigestIncrementalEqualsRecomputed(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	s := openTest(t, "", Options{NoSync: true})
	if d := checkDigest(t, s, "empty store"); d != (Digest{}) {
		t.Fatalf("empty store digest %v, want zero", d)
	}
	steps := 0
	for round := range 40 {
		switch rng.IntN(5) {
		case 0: // a writer's blacklist
			r := randomOps(rng, 1)[0].Record
			r.BlacklistedAt = 0
			if _, err := s.Blacklist(r, []byte("ev")); err != nil {
				t.Fatal(err)
			}
		case 1: // a writer's registration
			if _, err := s.AddOutstanding(randomOps(rng, 1)[0].Record, nil); err != nil {
				t.Fatal(err)
			}
		case 2: // a flush at a random cutoff inside the expiry range
			if _, err := s.Flush(1000+rng.Int64N(100), 1+rng.IntN(20), nil); err != nil {
				t.Fatal(err)
			}
		default: // a batch from the stream
			if _, err := s.Apply(randomOps(rng, 1+rng.IntN(60)), uint64(round)); err != nil {
				t.Fatal(err)
			}
		}
		steps++
		checkDigest(t, s, fmt.Sprintf("after step %d", steps))
	}
	// The digest survives a reopen.
	before := checkDigest(t, s, "before reopen")
	dir := s.Dir()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	if got := checkDigest(t, s, "after reopen"); got != before {
		t.Fatalf("digest after reopen %v, before %v", got, before)
	}
}

func TestDigestIsOrderInsensitive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ops := randomOps(rng, 500)
	a := openTest(t, "", Options{NoSync: true})
	b := openTest(t, "", Options{NoSync: true})
	if _, err := a.Apply(ops, 1); err != nil {
		t.Fatal(err)
	}
	// b gets the ops reversed, in small batches, some twice.
	for i := len(ops); i > 0; i -= 7 {
		batch := make([]Op, 0, 7)
		for j := i - 1; j >= max(i-7, 0); j-- {
			batch = append(batch, ops[j])
		}
		if _, err := b.Apply(batch, 1); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := b.Apply(batch, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	da, db := checkDigest(t, a, "a"), checkDigest(t, b, "b")
	if da != db || da.Count == 0 {
		t.Fatalf("same ops in another order: digests %v and %v", da, db)
	}
	// A store that lacks one blacklisting differs.
	c := openTest(t, "", Options{NoSync: true})
	var fewer []Op
	dropped := false
	for _, op := range ops {
		if !dropped && op.Kind == OpBlacklist {
			if ok, _ := a.IsBlacklisted(op.Record.JTI); ok {
				// drop every blacklisting of this jti
				jti := op.Record.JTI
				for _, o := range ops {
					if o.Kind == OpBlacklist && o.Record.JTI == jti {
						continue
					}
					fewer = append(fewer, o)
				}
				dropped = true
				break
			}
		}
	}
	if _, err := c.Apply(fewer, 1); err != nil {
		t.Fatal(err)
	}
	if dc := checkDigest(t, c, "c"); dc == da {
		t.Fatalf("a store missing a blacklisted token has the same digest %v", dc)
	}
}

func TestDigestComputedForOldFiles(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{NoSync: true})
	if _, err := s.Apply(randomOps(rand.New(rand.NewPCG(1, 2)), 200), 5); err != nil {
		t.Fatal(err)
	}
	want := checkDigest(t, s, "written")
	// A file from before the digest existed has no digest key.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaDigest) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	if got := checkDigest(t, s, "reopened"); got != want {
		t.Fatalf("digest of an old file %v, want %v", got, want)
	}
}

func TestDigestString(t *testing.T) {
	if got, want := (Digest{Count: 42, Sum: 0xc0ffee}).String(), "42:0000000000c0ffee"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// The hash is part of the wire contract between nodes: pin it.
	// sha256(0x01 'a' 00 00 00 00 00 00 00 01)[:8]
	if got := digestHash("a", 1); got != 0x62985ad1748b69b8 {
		t.Errorf("digestHash(a, 1) = %016x, want 62985ad1748b69b8", got)
	}
	if digestHash("a", 2) == digestHash("a", 1) || digestHash("b", 1) == digestHash("a", 1) {
		t.Errorf("digestHash does not tell entries apart")
	}
}

func TestCheckFindsAWrongDigest(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	if _, err := s.Apply(randomOps(rand.New(rand.NewPCG(3, 4)), 50), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check of a sound store: %v", err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return addDigest(tx, 1) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("Check with a wrong digest: %v, want ErrCorrupt naming the digest", err)
	}
}

func TestDigestAddMatchesStore(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{NoSync: true})
	var d Digest
	for i, jti := range []string{"a", "b", "c"} {
		exp := int64(1_900_000_000 + i)
		if _, err := s.Blacklist(Record{JTI: jti, ExpiresAt: exp, BlacklistedAt: 1}, nil); err != nil {
			t.Fatal(err)
		}
		d = d.Add(jti, exp)
	}
	if got, err := s.Digest(); err != nil || got != d {
		t.Fatalf("store digest %v (%v), summed %v", got, err, d)
	}
}
