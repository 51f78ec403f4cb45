package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCompactShrinksAndKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var ops []ImportOp
	for i := range 20_000 {
		r := rec(fmt.Sprintf("jti-%06d", i), fmt.Sprint(i%100), int64(100+i%2*1_000_000))
		r.CreatedAt = 1
		ops = append(ops, ImportOp{Op: Op{Kind: OpOutstanding, Record: r}, Outbox: []byte("event")})
	}
	if _, err := s.Import(ops); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(Revocation{User: "u", NotBefore: 5, Expires: 2_000_000}, nil); err != nil {
		t.Fatal(err)
	}
	// Remove half the records and every outbox entry: the file keeps its size.
	if _, err := s.Flush(1000, 0, nil); err != nil {
		t.Fatal(err)
	}
	pending, _ := s.OutboxPending(len(ops))
	seqs := make([]uint64, len(pending))
	for i, e := range pending {
		seqs[i] = e.Seq
	}
	if err := s.OutboxRemove(seqs); err != nil {
		t.Fatal(err)
	}
	seq, _ := s.db.Begin(false)
	outboxSeq := seq.Bucket(bucketOutbox).Sequence()
	seq.Rollback()
	before, _ := s.Counts()

	t.Run("refused while open", func(t *testing.T) {
		_, err := Compact(dir, CompactOptions{LockTimeout: 10 * time.Millisecond})
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("Compact of an open store: %v, want ErrLocked", err)
		}
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	res, err := Compact(dir, CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before || res.After > res.Before/2 {
		t.Errorf("Compact: %d → %d bytes, want less than half", res.Before, res.After)
	}
	if st, err := os.Stat(filepath.Join(dir, FileName)); err != nil || st.Size() != res.After {
		t.Errorf("file size %v, %v; result says %d", st.Size(), err, res.After)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+compactSuffix)); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}

	s = openTest(t, dir, Options{})
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Counts()
	if after != before {
		t.Errorf("Counts after compact = %+v, want %+v", after, before)
	}
	if r, err := s.Lookup("jti-000001"); err != nil || r.User != "1" {
		t.Errorf("Lookup after compact = %+v, %v", r, err)
	}
	if _, err := s.Lookup("jti-000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("flushed record back after compact: %v", err)
	}
	// The outbox sequence carries on: no new event reuses a published seq.
	if err := s.AppendOutbox([]byte("next")); err != nil {
		t.Fatal(err)
	}
	p, _ := s.OutboxPending(1)
	if len(p) != 1 || p[0].Seq != outboxSeq+1 {
		t.Errorf("next outbox seq = %+v, want %d", p, outboxSeq+1)
	}
}

func TestCompactWithoutStore(t *testing.T) {
	if _, err := Compact(t.TempDir(), CompactOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Compact of an empty dir: %v, want ErrNotFound", err)
	}
}
