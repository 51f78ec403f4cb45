package persist

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/blnode/blnode/persist/persisttest"
)

// soundStore fills a store in dir with every kind of entry (records of both
// buckets, rewrites, revocations, a flush, outbox entries, journaled ops
// not yet merged) and closes it. The file is the same from run to run.
func soundStore(t testing.TB, dir string) {
	t.Helper()
	s, err := Open(dir, Options{NoSync: true, Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 10 {
		if _, err := s.Apply(randomOps(rng, 80), uint64(round+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Flush(1030, 7, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(Revocation{User: "u1", NotBefore: 500, Expires: 2000}, []byte("ev-revoke")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(Revocation{Family: "fam", NotBefore: 500, Expires: 2000}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blacklist(rec("late", "u2", 3000), []byte("ev-late")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFsck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string // in a problem; "" for a sound store
	}{
		{name: "sound store", damage: func(*testing.T, string) {}},
		{name: "changed blacklisted key", want: "blacklist digest", damage: func(t *testing.T, path string) {
			persisttest.FlipKeyByte(t, path, "blacklisted", "late")
		}},
		{name: "lost by_exp entry", want: "no by_exp entry", damage: func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketByExp).Delete(expKey(3000, tagBlacklisted, "late"))
			})
		}},
		{name: "stray by_user entry", want: "by_user", damage: func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketByUser).Put(userKey("u9", "nobody"), nil) })
		}},
		{name: "record that does not decode", want: "does not decode", damage: func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketOutstanding).Put([]byte("late"), []byte{9, 9}) })
		}},
		{name: "journal entry that does not decode", want: "journal", damage: func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketJournals[0]).Put(u64(1<<40), []byte{byte(OpBlacklist), 7})
			})
		}},
		{name: "wrong count", want: "count", damage: func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bolt.Tx) error { return addCounter(tx, metaNumRevoked, 1) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			soundStore(t, dir)
			tc.damage(t, filepath.Join(dir, FileName))
			rep, err := Fsck(dir, FsckOptions{})
			if err != nil {
				t.Fatalf("Fsck: %v", err)
			}
			if tc.want == "" {
				if rep.Problems != 0 || rep.Blacklisted == 0 || rep.Outstanding == 0 || rep.UserRevocations != 2 || rep.Outbox != 2 {
					t.Fatalf("sound store: %+v", rep)
				}
				return
			}
			if rep.Problems == 0 || !strings.Contains(strings.Join(rep.Details, "\n"), tc.want) {
				t.Fatalf("Fsck found %d problems %q, want one about %q", rep.Problems, rep.Details, tc.want)
			}
		})
	}
}

func TestFsckOfAnOpenStoreIsLocked(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	if _, err := Fsck(dir, FsckOptions{LockTimeout: 50e6}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Fsck of an open store: %v, want ErrLocked", err)
	}
	if _, err := Fsck(t.TempDir(), FsckOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Fsck of an empty dir: %v, want ErrNotFound", err)
	}
}

// rawUpdate changes the file at path with bbolt alone, as a bug or an
// editor could, bypassing the store.
func rawUpdate(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
