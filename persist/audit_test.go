package persist

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/poll"
)

func auditAt(i int) *AuditEntry {
	return &AuditEntry{Time: int64(1_000_000 + i), EventID: fmt.Sprintf("ev-%03d", i), Actor: "alice", Reason: "why",
		Action: "blacklist", Subject: fmt.Sprintf("j%d", i), Origin: "n1"}
}

// An audited write records its entry in its own transaction, only when it
// changes something; the entry survives a reopen.
func TestAuditedWritesRecordTheirEntry(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if _, err := s.Audited(auditAt(1)).Blacklist(rec("a", "u", 2000), []byte("ev")); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Audited(auditAt(2)).Blacklist(rec("a", "u", 2000), []byte("ev")); err != nil || !res.Existed {
		t.Fatalf("second blacklist: %+v %v", res, err)
	}
	if _, err := s.Audited(auditAt(3)).Revoke(Revocation{User: "u", NotBefore: 5, Expires: 10}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Audited(auditAt(4)).AddOutstanding(rec("b", "u", 2000), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Audited(auditAt(5)).AppendOutbox(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Audited(nil).Blacklist(rec("c", "u", 2000), nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"ev-005", "ev-004", "ev-003", "ev-001"} // newest first; 2 changed nothing
	check := func(s *Store) {
		t.Helper()
		p, err := s.Audit(AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range p.Entries {
			got = append(got, e.EventID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || p.Next != "" {
			t.Fatalf("audit %v next %q, want %v", got, p.Next, want)
		}
		if n, _ := s.AuditCount(); n != len(want) {
			t.Fatalf("count %d, want %d", n, len(want))
		}
	}
	check(s)
	s.Close()
	check(openTest(t, dir, Options{}))
}

func TestAuditedWriteRefusesABadEntry(t *testing.T) {
	s := openTest(t, "", Options{})
	bad := auditAt(1)
	bad.Actor = ""
	if _, err := s.Audited(bad).Blacklist(rec("a", "u", 2000), nil); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("err %v, want ErrInvalidRecord", err)
	}
	if ok, _ := s.IsBlacklisted("a"); ok {
		t.Fatal("the write went through without its audit entry")
	}
}

// Applying the same entry again (the writer's own event, a replay) leaves
// one entry; invalid ones are skipped.
func TestApplyAuditIsIdempotent(t *testing.T) {
	s := openTest(t, "", Options{})
	bad := auditAt(9)
	bad.EventID = ""
	ops := []Op{{Kind: OpAudit, Audit: auditAt(1)}, {Kind: OpAudit, Audit: auditAt(2)}, {Kind: OpAudit, Audit: bad}, {Kind: OpAudit}}
	skipped, err := s.Apply(ops, 1)
	if err != nil || skipped != 2 {
		t.Fatalf("apply: skipped %d, %v; want 2 skipped", skipped, err)
	}
	for seq := uint64(2); seq < 4; seq++ {
		if _, err := s.Apply(ops[:2], seq); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.AuditCount(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	if seq, _ := s.AppliedSeq(); seq != 3 {
		t.Fatalf("applied seq %d, want 3", seq)
	}
}

// Pages run newest first, each ending where the next begins; the log keeps
// the newest AuditLimit entries.
func TestAuditPagesAndLimit(t *testing.T) {
	s := openTest(t, "", Options{AuditLimit: 7})
	var ops []Op
	for i := range 10 {
		ops = append(ops, Op{Kind: OpAudit, Audit: auditAt(i)})
	}
	// Out of order: the log orders by time.
	ops[2], ops[8] = ops[8], ops[2]
	if _, err := s.Apply(ops, 1); err != nil {
		t.Fatal(err)
	}
	var got []string
	before := ""
	for pages := 0; ; pages++ {
		p, err := s.Audit(AuditQuery{Limit: 3, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			got = append(got, e.EventID)
		}
		if p.Next == "" {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		before = p.Next
	}
	want := "[ev-009 ev-008 ev-007 ev-006 ev-005 ev-004 ev-003]"
	if fmt.Sprint(got) != want {
		t.Fatalf("pages %v, want %s", got, want)
	}
	if n, _ := s.AuditCount(); n != 7 {
		t.Fatalf("count %d, want 7", n)
	}
	for _, c := range []string{"!!", "AAAA", "Zm9v"} {
		if _, err := s.Audit(AuditQuery{Before: c}); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("cursor %q: %v, want ErrInvalidRecord", c, err)
		}
	}
}

// Whatever a client sends as a cursor, Audit answers a page or
// ErrInvalidRecord, and a page never holds an entry at or after the
// cursor's key.
func FuzzAuditCursor(f *testing.F) {
	s := openTest(f, "", Options{})
	var ops []Op
	for i := range 5 {
		ops = append(ops, Op{Kind: OpAudit, Audit: auditAt(i)})
	}
	if _, err := s.Apply(ops, 1); err != nil {
		f.Fatal(err)
	}
	first, err := s.Audit(AuditQuery{Limit: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(first.Next)
	f.Add("")
	f.Add("AAAAAAAAAAAA")
	f.Add("//8")
	f.Fuzz(func(t *testing.T, before string) {
		p, err := s.Audit(AuditQuery{Limit: 3, Before: before})
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("cursor %q: %v", before, err)
			}
			return
		}
		if before == "" {
			return
		}
		k, _ := base64.RawURLEncoding.DecodeString(before)
		for _, e := range p.Entries {
			if string(e.key()) >= string(k) {
				t.Fatalf("cursor %q: entry %s is not before it", before, e.EventID)
			}
		}
	})
}

// Audited writes that share a transaction are trimmed to the limit:
// the log keeps exactly the newest entries, its count is right, and the
// same entries applied again from the stream add nothing.
func TestAuditTrimmedInAGroupCommit(t *testing.T) {
	const limit, writers = 50, 120
	s := openTest(t, "", Options{AuditLimit: limit})
	for n := range 30 { // some entries there first
		if _, err := s.Audited(auditAt(n)).Blacklist(rec(fmt.Sprintf("j%d", n), "u", 2000), []byte("ev")); err != nil {
			t.Fatal(err)
		}
	}
	// The next writers wait for a commit in flight, then share one.
	release, started := make(chan struct{}), make(chan struct{})
	go s.commit.do(func(*writeTx) error { close(started); <-release; return nil })
	<-started
	var wg sync.WaitGroup
	for n := 30; n < writers; n++ {
		wg.Go(func() {
			if _, err := s.Audited(auditAt(n)).Blacklist(rec(fmt.Sprintf("j%d", n), "u", 2000), []byte("ev")); err != nil {
				t.Error(err)
			}
		})
	}
	poll.ForTrue(t, 10*time.Second, time.Millisecond, func() bool {
		s.commit.mu.Lock()
		defer s.commit.mu.Unlock()
		return len(s.commit.pending) == writers-30
	})
	s.commit.mu.Lock()
	before := s.commit.groups
	s.commit.mu.Unlock()
	close(release)
	wg.Wait()
	s.commit.mu.Lock()
	groups := s.commit.groups - before
	s.commit.mu.Unlock()
	if groups != 2 {
		t.Fatalf("%d commits, want 2 (the blocked one and one group)", groups)
	}
	p, err := s.Audit(AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != limit {
		t.Fatalf("%d entries, want %d", len(p.Entries), limit)
	}
	for i, e := range p.Entries { // newest first
		if want := fmt.Sprintf("ev-%03d", writers-1-i); e.EventID != want {
			t.Fatalf("entry %d is %s, want %s", i, e.EventID, want)
		}
	}
	var again []Op
	for n := writers - limit - 5; n < writers; n++ { // 5 trimmed ones, then kept ones
		again = append(again, Op{Kind: OpAudit, Audit: auditAt(n)})
	}
	if _, err := s.Apply(again, 1); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.AuditCount(); n != limit {
		t.Fatalf("count %d after a replay, want %d", n, limit)
	}
	if p, _ := s.Audit(AuditQuery{Limit: 1}); p.Entries[0].EventID != fmt.Sprintf("ev-%03d", writers-1) {
		t.Fatalf("newest entry %s after a replay", p.Entries[0].EventID)
	}
}
