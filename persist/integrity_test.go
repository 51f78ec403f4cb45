package persist

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/blnode/blnode/persist/persisttest"
)

// blacklistedStore writes n blacklistings to a store in dir, closes it (the
// journal is merged into the trees) and returns their jtis.
func blacklistedStore(t testing.TB, dir string, n int) []string {
	t.Helper()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	jtis := make([]string, n)
	ops := make([]Op, n)
	for i := range ops {
		jtis[i] = fmt.Sprintf("%032x", i*7919)
		r := rec(jtis[i], "u1", 4_000_000_000)
		r.CreatedAt, r.BlacklistedAt = 1, 1
		ops[i] = Op{Kind: OpBlacklist, Record: r}
	}
	if _, err := s.Apply(ops, 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return jtis
}

func TestOpenFindsAChangedBlacklistKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rebuild bool
	}{
		{name: "refused", rebuild: false},
		{name: "rebuilt with Options.Rebuild", rebuild: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			jtis := blacklistedStore(t, dir, 50)
			path := filepath.Join(dir, FileName)
			off := persisttest.FlipKeyByte(t, path, "blacklisted", jtis[17])
			t.Logf("flipped the last byte of %s at offset %d", jtis[17], off)
			size := fileSize(t, path)

			s, err := Open(dir, Options{Rebuild: tc.rebuild})
			if !tc.rebuild {
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "digest") {
					t.Fatalf("Open of a file with a changed blacklisted key: %v, want ErrDamaged naming the digest", err)
				}
				if s != nil {
					t.Fatal("Open returned a store with its error")
				}
				if got := fileSize(t, path); got != size {
					t.Errorf("a refused open changed the file: %d bytes, was %d", got, size)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open with Rebuild: %v", err)
			}
			defer s.Close()
			if !errors.Is(s.Rebuilt(), ErrDamaged) {
				t.Errorf("Rebuilt() = %v, want ErrDamaged", s.Rebuilt())
			}
			c, err := s.Counts()
			if err != nil || c != (Counts{}) {
				t.Errorf("rebuilt store counts %+v (%v), want empty with applied sequence 0", c, err)
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) != 1 || fileSize(t, aside[0]) != size {
				t.Errorf("damaged file kept as %v, want one blnode.db.damaged-* of %d bytes", aside, size)
			}
		})
	}
}

func TestOpenOfAnIntactStoreIsNotRebuilt(t *testing.T) {
	dir := t.TempDir()
	jtis := blacklistedStore(t, dir, 50)
	s := openTest(t, dir, Options{Rebuild: true})
	if s.Rebuilt() != nil {
		t.Fatalf("Rebuilt() = %v on an intact store", s.Rebuilt())
	}
	for _, jti := range jtis {
		if b, err := s.IsBlacklisted(jti); err != nil || !b {
			t.Fatalf("%s after reopen: %v, %v", jti, b, err)
		}
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestOpenOfALostStore(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lose    func(t *testing.T, path string)
		rebuild bool
	}{
		{name: "deleted, refused", lose: removeFile},
		{name: "emptied, refused", lose: truncateFile},
		{name: "deleted, rebuilt with Options.Rebuild", lose: removeFile, rebuild: true},
		{name: "emptied, rebuilt with Options.Rebuild", lose: truncateFile, rebuild: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			id, err := s.NodeID(func() string { return "node-1" })
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tc.lose(t, filepath.Join(dir, FileName))

			s, err = Open(dir, Options{Rebuild: tc.rebuild})
			if !tc.rebuild {
				if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), MarkerName) {
					t.Fatalf("Open of a lost store: %v, want ErrMissing naming the marker", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open with Rebuild: %v", err)
			}
			defer s.Close()
			if !errors.Is(s.Rebuilt(), ErrMissing) {
				t.Errorf("Rebuilt() = %v, want ErrMissing", s.Rebuilt())
			}
			if got, err := s.NodeID(func() string { return "node-2" }); err != nil || got != id {
				t.Errorf("node id of the rebuilt store %q (%v), want %q kept from the marker", got, err, id)
			}
		})
	}
}

func TestOpenWritesTheMarker(t *testing.T) {
	dir := t.TempDir()
	blacklistedStore(t, dir, 3)
	if _, err := os.Stat(filepath.Join(dir, MarkerName)); err != nil {
		t.Fatalf("no marker after the first open: %v", err)
	}
	// A store from before the marker gets one when it next opens.
	if err := os.Remove(filepath.Join(dir, MarkerName)); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dir, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	removeFile(t, filepath.Join(dir, FileName))
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrMissing) {
		t.Fatalf("Open after the store of an upgraded dir was deleted: %v, want ErrMissing", err)
	}
	// A new dir, or an empty file with no marker (a crash while the
	// first open created it), is a first start.
	fresh := t.TempDir()
	if err := os.WriteFile(filepath.Join(fresh, FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, fresh, Options{})
	if s.Rebuilt() != nil {
		t.Errorf("first start reported as a rebuild: %v", s.Rebuilt())
	}
}

func FuzzParseMarker(f *testing.F) {
	f.Add(marker{nodeID: "0123abcd"}.encode())
	f.Add(marker{}.encode())
	f.Add([]byte("node_id=\nnode_id=x\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMarker(b)
		if err != nil {
			return
		}
		if strings.ContainsAny(m.nodeID, "\n") {
			t.Fatalf("node id %q holds a newline", m.nodeID)
		}
		// What it wrote, it reads back.
		if m2, err := parseMarker(m.encode()); err != nil || m2 != m {
			t.Fatalf("round trip of %+v: %+v, %v", m, m2, err)
		}
	})
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func truncateFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

func TestUserNotBeforeNeverReadsAFamily(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	if _, err := s.Revoke(Revocation{Family: "abc", NotBefore: 100, Expires: 200}, nil); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.UserNotBefore("\x00abc"); ok || err != nil {
		t.Fatalf("UserNotBefore(NUL abc) = %+v, %v, %v; want none: that is family abc's key", r, ok, err)
	}
	if _, err := s.Revoke(Revocation{User: "\x00abc", NotBefore: 100, Expires: 200}, nil); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Revoke of user NUL abc: %v, want ErrInvalidRecord", err)
	}
	if r, ok, err := s.FamilyNotBefore("abc"); !ok || err != nil || r.Family != "abc" || r.User != "" {
		t.Fatalf("FamilyNotBefore(abc) = %+v, %v, %v", r, ok, err)
	}
}

func TestOpenFindsAChangedRevocation(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Revocation{
		{User: "alice", NotBefore: 100, Expires: 5000},
		{User: "bob", NotBefore: 100, Expires: 150},
		{Family: "fam", NotBefore: 100, Expires: 5000},
		{User: "alice", NotBefore: 200, Expires: 5100}, // a later one replaces it
	} {
		if _, err := s.Revoke(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := s.Flush(1000, 10, nil); err != nil || res.UserRevocations != 1 {
		t.Fatalf("flush: %+v, %v; want bob's revocation removed", res, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatalf("reopen after revocations and a flush: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	persisttest.FlipKeyByte(t, filepath.Join(dir, FileName), "user_revocations", "alice")
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "revocations' digest") {
		t.Fatalf("Open with a changed revocation key: %v, want ErrDamaged naming the revocations' digest", err)
	}
	rep, err := Fsck(dir, FsckOptions{})
	if err != nil || !strings.Contains(strings.Join(rep.Details, "\n"), "revocations' digest") {
		t.Fatalf("Fsck: %v, %q; want the revocations' digest", err, rep.Details)
	}
}

func TestRevocationDigestComputedForOldFiles(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{NoSync: true})
	if _, err := s.Revoke(Revocation{User: "alice", NotBefore: 100, Expires: 5000}, nil); err != nil {
		t.Fatal(err)
	}
	// A file from before the revocations' digest has no such key.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaRevDigest) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	persisttest.FlipKeyByte(t, filepath.Join(dir, FileName), "user_revocations", "alice")
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open with a changed revocation key after the upgrade: %v, want ErrDamaged", err)
	}
}

// crashedStore applies n blacklistings to a store in dir and leaves a copy
// of its file, as a crash would, in a new dir: the ops are in the journal,
// not yet merged. It returns the copy's dir and the jtis.
func crashedStore(t testing.TB, n int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	jtis := make([]string, n)
	ops := make([]Op, n)
	for i := range ops {
		jtis[i] = fmt.Sprintf("journaled-%04d-%020x", i, i*104729)
		r := rec(jtis[i], "u1", 4_000_000_000)
		r.CreatedAt, r.BlacklistedAt = 1, 1
		ops[i] = Op{Kind: OpBlacklist, Record: r}
	}
	if _, err := s.Apply(ops, 7); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.CopyFile(filepath.Join(crashed, FileName), 0o600)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return crashed, jtis
}

// A byte changed in an op still in the journal (a node killed before its
// merge) is found when the store opens: merged as it reads, the op would
// blacklist another id, and the revoked one would verify again.
func TestOpenFindsAChangedJournalOp(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(t *testing.T, file []byte, jtis []string) int64
	}{
		{name: "a jti byte", at: func(t *testing.T, file []byte, jtis []string) int64 {
			i := bytes.Index(file, []byte(jtis[3]))
			if i < 0 || bytes.Index(file[i+1:], []byte(jtis[3])) >= 0 {
				t.Fatalf("jti %s found at %d in the file; want it once (in the journal)", jtis[3], i)
			}
			return int64(i + len(jtis[3]) - 1)
		}},
		{name: "the checksum", at: func(t *testing.T, file []byte, jtis []string) int64 {
			i := bytes.Index(file, []byte(jtis[0]))
			j := bytes.LastIndexByte(file[:i], checkMarker)
			if j < 0 {
				t.Fatal("no sealed journal entry before the first jti")
			}
			return int64(j + 2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, jtis := crashedStore(t, 20)
			path := filepath.Join(dir, FileName)
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			persisttest.FlipByte(t, path, tc.at(t, file, jtis), 0x01)

			s, err := Open(dir, Options{})
			if err == nil {
				black, _ := s.IsBlacklisted(jtis[3])
				s.Close()
				t.Fatalf("Open of a file with a changed journal op succeeded (%s blacklisted: %v); want ErrDamaged", jtis[3], black)
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "checksum") {
				t.Fatalf("Open: %v, want ErrDamaged naming the checksum", err)
			}
			rep, err := Fsck(dir, FsckOptions{})
			if err != nil {
				t.Fatalf("Fsck: %v", err)
			}
			if rep.Problems == 0 {
				t.Fatalf("Fsck found no problem in %+v", rep)
			}
		})
	}
	t.Run("intact", func(t *testing.T) {
		dir, jtis := crashedStore(t, 20)
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("Open of an intact crashed store: %v", err)
		}
		defer s.Close()
		for _, j := range jtis {
			if ok, err := s.IsBlacklisted(j); err != nil || !ok {
				t.Fatalf("IsBlacklisted(%s) = %v, %v", j, ok, err)
			}
		}
	})
}

// A file written before journal checksums (entries without the header, no
// journal_sealed key) opens and merges its journal; once the journal is
// empty at an open, it is sealed and an entry without a checksum is damage.
func TestOpenReadsAJournalFromBeforeChecksums(t *testing.T) {
	dir, jtis := crashedStore(t, 20)
	path := filepath.Join(dir, FileName)
	unseal := func() {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketMeta).Delete(metaJournalSealed); err != nil {
				return err
			}
			for _, name := range bucketJournals {
				b := tx.Bucket(name)
				old := map[string][]byte{}
				if err := b.ForEach(func(k, v []byte) error {
					old[string(k)] = bytes.Clone(v[sealLen:])
					return nil
				}); err != nil {
					return err
				}
				for k, v := range old {
					if err := b.Put([]byte(k), v); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	unseal()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of a journal from before checksums: %v", err)
	}
	for _, j := range jtis {
		if ok, err := s.IsBlacklisted(j); err != nil || !ok {
			t.Fatalf("IsBlacklisted(%s) = %v, %v", j, ok, err)
		}
	}
	if err := s.Close(); err != nil { // merges the journal
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		if !journalSealed(tx) {
			return errors.New("the journal is not sealed after an open that found it empty")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
