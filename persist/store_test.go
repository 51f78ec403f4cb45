package persist

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/blnode/blnode/internal/poll"
)

func openTest(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rec(jti, user string, exp int64) Record {
	return Record{JTI: jti, User: user, Type: "refresh", IssuedAt: exp - 3600, ExpiresAt: exp, Origin: "n1"}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if _, err := s.AddOutstanding(rec("a", "u1", 2000), []byte("ev-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blacklist(Record{JTI: "b", User: "u2", ExpiresAt: 3000, Reason: "stolen", Token: "raw"}, []byte("ev-b")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeUser("u3", 100, 5000, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(nil, 42); err != nil {
		t.Fatal(err)
	}
	id, err := s.NodeID(func() string { return "node-1" })
	if err != nil || id != "node-1" {
		t.Fatalf("NodeID = %q, %v", id, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Blacklist(rec("c", "", 1), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}

	s = openTest(t, dir, Options{})
	if ok, _ := s.IsBlacklisted("b"); !ok {
		t.Error("b not blacklisted after restart")
	}
	if ok, _ := s.IsBlacklisted("a"); ok {
		t.Error("a blacklisted after restart")
	}
	b, err := s.Lookup("b")
	if err != nil || b.Reason != "stolen" || b.Token != "" || !b.Blacklisted() {
		t.Errorf("Lookup(b) = %+v, %v; want reason kept, raw token dropped", b, err)
	}
	if r, ok, _ := s.UserNotBefore("u3"); !ok || r.NotBefore != 100 {
		t.Errorf("UserNotBefore(u3) = %+v, %v", r, ok)
	}
	c, _ := s.Counts()
	want := Counts{Outstanding: 2, Blacklisted: 1, Outbox: 2, UserRevocations: 1, AppliedSeq: 42}
	if c != want {
		t.Errorf("Counts = %+v, want %+v", c, want)
	}
	if id, _ := s.NodeID(func() string { return "other" }); id != "node-1" {
		t.Errorf("node id changed to %q", id)
	}
	ob, _ := s.OutboxPending(10)
	if len(ob) != 2 || fmt.Sprint(payloads(ob)) != "[ev-a ev-b]" {
		t.Fatalf("outbox = %+v", ob)
	}
	if err := s.OutboxRemove([]uint64{ob[0].Seq, 999}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(); c.Outbox != 1 {
		t.Errorf("outbox depth %d after remove, want 1", c.Outbox)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestKeepRawToken(t *testing.T) {
	s := openTest(t, "", Options{KeepRawToken: true})
	if _, err := s.Blacklist(Record{JTI: "x", ExpiresAt: 10, Token: "raw"}, nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Lookup("x"); r.Token != "raw" {
		t.Errorf("token %q, want kept", r.Token)
	}
}

func TestSecondOpenFailsNamingDir(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	_, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open: %v; want ErrLocked naming %s", err, dir)
	}
}

func TestConcurrentBlacklistOfOneJTIConverges(t *testing.T) {
	s := openTest(t, "", Options{})
	const n = 64
	var wg sync.WaitGroup
	fresh := make(chan Record, n)
	for i := range n {
		wg.Go(func() {
			res, err := s.Blacklist(Record{JTI: "same", ExpiresAt: 9999, Origin: fmt.Sprint("w", i)}, []byte("ev"))
			if err != nil {
				t.Error(err)
			}
			if !res.Existed {
				fresh <- res.Record
			}
		})
	}
	wg.Wait()
	close(fresh)
	var won []Record
	for r := range fresh {
		won = append(won, r)
	}
	if len(won) != 1 {
		t.Fatalf("%d writers saw a fresh blacklist, want exactly 1", len(won))
	}
	c, _ := s.Counts()
	if c.Blacklisted != 1 || c.Outstanding != 1 || c.Outbox != 1 {
		t.Errorf("Counts = %+v, want one record and one outbox entry", c)
	}
	got, _ := s.Lookup("same")
	if got.Origin != won[0].Origin {
		t.Errorf("stored origin %q, want the winner's %q", got.Origin, won[0].Origin)
	}
}

func TestGroupCommit(t *testing.T) {
	s := openTest(t, "", Options{})
	release := make(chan struct{})
	started := make(chan struct{})
	go s.commit.do(func(*writeTx) error { close(started); <-release; return nil })
	<-started
	const n = 63
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.Blacklist(rec(fmt.Sprint("j", i), "", 100), nil); err != nil {
				t.Error(err)
			}
		})
	}
	poll.ForTrue(t, 10*time.Second, time.Millisecond, func() bool { s.commit.mu.Lock(); defer s.commit.mu.Unlock(); return len(s.commit.pending) == n })
	close(release)
	wg.Wait()
	s.commit.mu.Lock()
	groups := s.commit.groups
	s.commit.mu.Unlock()
	if groups != 2 {
		t.Errorf("%d writes took %d commits, want 2 (the blocked one and one group)", n+1, groups)
	}
	if c, _ := s.Counts(); c.Blacklisted != n {
		t.Errorf("blacklisted %d, want %d", c.Blacklisted, n)
	}
}

func TestBadRequestDoesNotFailItsGroup(t *testing.T) {
	s := openTest(t, "", Options{})
	release := make(chan struct{})
	started := make(chan struct{})
	go s.commit.do(func(*writeTx) error { close(started); <-release; return nil })
	<-started
	errc := make(chan error, 2)
	go func() { errc <- s.commit.do(func(*writeTx) error { return errors.New("boom") }) }()
	go func() { _, err := s.Blacklist(rec("good", "", 100), nil); errc <- err }()
	poll.ForTrue(t, 10*time.Second, time.Millisecond, func() bool { s.commit.mu.Lock(); defer s.commit.mu.Unlock(); return len(s.commit.pending) == 2 })
	close(release)
	var errs []string
	for range 2 {
		if err := <-errc; err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) != 1 || errs[0] != "boom" {
		t.Errorf("errors %q, want only boom", errs)
	}
	if ok, _ := s.IsBlacklisted("good"); !ok {
		t.Error("the good write was lost with its neighbour")
	}
}

func TestFlushRemovesExactlyTheExpiredSet(t *testing.T) {
	s := openTest(t, "", Options{})
	const cutoff = 1000
	var ops []Op
	for i := range 300 {
		exp := int64(cutoff - 150 + i) // 150 expired (< cutoff), 150 not
		r := rec(fmt.Sprintf("t%03d", i), fmt.Sprint("u", i%7), exp)
		r.CreatedAt, r.BlacklistedAt = 1, 1
		kind := OpOutstanding
		if i%3 == 0 {
			kind = OpBlacklist
		}
		ops = append(ops, Op{Kind: kind, Record: r})
	}
	ops = append(ops,
		Op{Kind: OpRevoke, Revocation: Revocation{User: "old", NotBefore: 10, Expires: cutoff - 1}},
		Op{Kind: OpRevoke, Revocation: Revocation{User: "new", NotBefore: 10, Expires: cutoff}})
	if _, err := s.Apply(ops, 1); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountExpired(cutoff); n != 150+50+1 {
		t.Errorf("CountExpired = %d, want %d", n, 150+50+1)
	}
	var reported int
	res, err := s.Flush(cutoff, 7, func(ids []string) { reported += len(ids) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Outstanding != 150 || res.Blacklisted != 50 || res.UserRevocations != 1 || reported != res.Removed() {
		t.Errorf("Flush = %+v (reported %d)", res, reported)
	}
	if res.Batches < res.Removed()/7 {
		t.Errorf("%d batches for %d entries at batch 7", res.Batches, res.Removed())
	}
	for i := range 300 {
		jti := fmt.Sprintf("t%03d", i)
		_, err := s.Lookup(jti)
		expired := int64(cutoff-150+i) < cutoff
		if expired != errors.Is(err, ErrNotFound) {
			t.Errorf("%s (exp %d): Lookup err %v, want removed=%v", jti, cutoff-150+i, err, expired)
		}
	}
	if _, ok, _ := s.UserNotBefore("old"); ok {
		t.Error("expired user revocation kept")
	}
	if _, ok, _ := s.UserNotBefore("new"); !ok {
		t.Error("user revocation at the cutoff removed")
	}
	c, _ := s.Counts()
	if c.Outstanding != 150 || c.Blacklisted != 50 || c.UserRevocations != 1 {
		t.Errorf("Counts after flush = %+v", c)
	}
	for u := range 7 {
		p, _ := s.List(Query{User: fmt.Sprint("u", u), Limit: 1000})
		for _, r := range p.Records {
			if r.ExpiresAt < cutoff {
				t.Errorf("user listing still has expired %s", r.JTI)
			}
		}
	}
	if res, _ := s.Flush(cutoff, 0, nil); res.Removed() != 0 {
		t.Errorf("second flush removed %d", res.Removed())
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestApplyIsIdempotentAndOrderInsensitive(t *testing.T) {
	var ops []Op
	for i := range 40 {
		r := rec(fmt.Sprint("j", i%10), fmt.Sprint("u", i%3), int64(5000+i%10))
		r.CreatedAt = int64(100 + i)
		r.Origin = fmt.Sprint("node", i%4)
		kind := OpOutstanding
		if i%2 == 0 {
			kind, r.BlacklistedAt, r.Reason = OpBlacklist, int64(200+i), fmt.Sprint("r", i)
		}
		ops = append(ops, Op{Kind: kind, Record: r})
	}
	ops = append(ops, Op{Kind: OpRevoke, Revocation: Revocation{User: "u1", NotBefore: 4000, Expires: 9000, Origin: "a"}},
		Op{Kind: OpRevoke, Revocation: Revocation{User: "u1", NotBefore: 4100, Expires: 9000, Origin: "b"}},
		Op{Kind: OpRevoke, Revocation: Revocation{Family: "j4", NotBefore: 4500, Expires: 9000, Origin: "c"}})
	state := func(ops []Op, split int) string {
		s := openTest(t, "", Options{NoSync: true})
		for i := 0; i < len(ops); i += split {
			if _, err := s.Apply(ops[i:min(i+split, len(ops))], uint64(i)); err != nil {
				t.Fatal(err)
			}
		}
		p, _ := s.List(Query{Limit: 1000})
		u, _, _ := s.UserNotBefore("u1")
		c, _ := s.Counts()
		c.AppliedSeq = 0
		return fmt.Sprintf("%+v %+v %+v", p.Records, u, c)
	}
	want := state(ops, len(ops))
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 5 {
		shuffled := append([]Op(nil), ops...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		twice := append(shuffled, ops...)
		if got := state(twice, 1+trial*3); got != want {
			t.Fatalf("trial %d:\n got %s\nwant %s", trial, got, want)
		}
	}
}

func TestListPagesWithStableCursor(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	var ops []Op
	for i := range 25 {
		r := rec(fmt.Sprintf("k%02d", i), "u", 100)
		r.BlacklistedAt = 1
		kind := OpOutstanding
		if i%5 == 0 {
			kind = OpBlacklist
		}
		ops = append(ops, Op{Kind: kind, Record: r})
	}
	if _, err := s.Apply(ops, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    Query
		want int
	}{
		{"all", Query{Limit: 4}, 25},
		{"by user", Query{User: "u", Limit: 3}, 25},
		{"blacklisted", Query{Blacklisted: Only, Limit: 2}, 5},
		{"not blacklisted", Query{Blacklisted: Not, Limit: 6}, 20},
		{"expired", Query{Expired: Only, Now: 200, Limit: 10}, 25},
		{"not expired", Query{Expired: Not, Now: 200}, 0},
		{"one jti", Query{JTI: "k07"}, 1},
		{"unknown user", Query{User: "nobody"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			q := tc.q
			for pages := 0; ; pages++ {
				if pages > 30 {
					t.Fatal("cursor does not advance")
				}
				p, err := s.List(q)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Records {
					if seen[r.JTI] {
						t.Fatalf("%s listed twice", r.JTI)
					}
					seen[r.JTI] = true
				}
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if len(seen) != tc.want {
				t.Errorf("listed %d, want %d", len(seen), tc.want)
			}
		})
	}
}

func TestInvalidRecordsAreRefused(t *testing.T) {
	s := openTest(t, "", Options{})
	for name, r := range map[string]Record{
		"empty jti": {ExpiresAt: 1},
		"long jti":  {JTI: strings.Repeat("x", MaxJTILen+1), ExpiresAt: 1},
		"no exp":    {JTI: "a"},
		"neg exp":   {JTI: "a", ExpiresAt: -5},
		"nul user":  {JTI: "a", ExpiresAt: 1, User: "a\x00b"},
		"bad utf8":  {JTI: "\xff", ExpiresAt: 1},
	} {
		if _, err := s.Blacklist(r, nil); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: %v, want ErrInvalidRecord", name, err)
		}
	}
	skipped, err := s.Apply([]Op{{Kind: OpBlacklist, Record: Record{JTI: "x"}}, {Kind: 99}, {Kind: OpRevoke}}, 3)
	if err != nil || skipped != 3 {
		t.Errorf("Apply of bad ops: skipped %d, %v", skipped, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(rec("abc", "42", 1700000000)))
	f.Add(encodeRecord(Record{JTI: "x", ExpiresAt: 1, Token: "t", Reason: "r"}))
	f.Add([]byte{})
	f.Add([]byte{1, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 2, 2, 2, 2, 0x80})
	f.Add(encodeRecord(Record{JTI: "b", ExpiresAt: 1, CreatedAt: 7, BlacklistedAt: 3}))
	f.Add([]byte{2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(encodeRecord(Record{JTI: "o", ExpiresAt: 1, ClientID: "app", SessionID: "s", Scope: "read write"}))
	f.Add(encodeRecord(Record{JTI: "o", ExpiresAt: 1, CreatedAt: 5, BlacklistedAt: 9, Scope: "x"}))
	f.Add([]byte{3, 2, 2, 2, 2, 1, 'j', 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{5, 2, 2, 2, 2, 1, 'j', 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// As a journal op, the merge finds the jti without decoding the
		// rest (opJTI); it must find the one decodeOp reads, and never
		// read out of bounds.
		op := append([]byte{byte(OpBlacklist)}, b...)
		i, j, ok := opJTI(op)
		exp, expOK := storedExp(b) // Open's digest check reads only the expiry
		r, err := decodeRecord(b)
		if err == nil && (!expOK || exp != r.ExpiresAt) {
			t.Fatalf("storedExp = %d, %v; the record's exp is %d", exp, expOK, r.ExpiresAt)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !ok || string(op[i:j]) != r.JTI {
			t.Fatalf("opJTI = %q, %v; the record's jti is %q", op[i:min(j, len(op))], ok, r.JTI)
		}
		again, err := decodeRecord(encodeRecord(r))
		if err != nil || again != r {
			t.Fatalf("re-decode: %+v, %v; want %+v", again, err, r)
		}
	})
}

func TestApplyOfNothingNewCommitsNothing(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	op := Op{Kind: OpBlacklist, Record: Record{JTI: "a", ExpiresAt: 100, CreatedAt: 5, BlacklistedAt: 5, Origin: "n1"}}
	if _, err := s.Apply([]Op{op}, 1); err != nil {
		t.Fatal(err)
	}
	s.commit.mu.Lock()
	before := s.commit.groups
	s.commit.mu.Unlock()
	for seq := uint64(2); seq <= 10; seq++ { // the same event again, and empty batches
		ops := []Op{op}
		if seq%2 == 0 {
			ops = nil
		}
		if _, err := s.Apply(ops, seq); err != nil {
			t.Fatal(err)
		}
	}
	s.commit.mu.Lock()
	after := s.commit.groups
	s.commit.mu.Unlock()
	if after != before {
		t.Errorf("%d commits for batches that change nothing, want 0", after-before)
	}
	if seq, _ := s.AppliedSeq(); seq != 10 {
		t.Errorf("AppliedSeq = %d, want 10 (pending)", seq)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{})
	if seq, _ := s.AppliedSeq(); seq != 10 {
		t.Errorf("AppliedSeq after reopen = %d, want 10 (written on Close)", seq)
	}
	// A batch that changes something writes the pending sequence too.
	if _, err := s.Apply(nil, 12); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply([]Op{{Kind: OpOutstanding, Record: Record{JTI: "b", ExpiresAt: 100, CreatedAt: 1}}}, 11); err != nil {
		t.Fatal(err)
	}
	var stored uint64
	s.view(func(tx *bolt.Tx) error { stored = getU64(tx.Bucket(bucketMeta), metaAppliedSeq); return nil })
	if stored != 12 {
		t.Errorf("stored sequence %d after a real commit, want the pending 12", stored)
	}
}

// Removed outbox entries vanish at once; their delete rides on the next
// commit, SyncOutbox or Close, and is on disk after a reopen.
func TestOutboxRemoveIsWrittenLater(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	for _, j := range []string{"a", "b", "c"} {
		if _, err := s.Blacklist(rec(j, "u", 10), []byte("ev-"+j)); err != nil {
			t.Fatal(err)
		}
	}
	ob, _ := s.OutboxPending(10)
	if err := s.OutboxRemove([]uint64{ob[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.OutboxPending(10); len(p) != 2 || payloads(p)[0] != "ev-b" {
		t.Fatalf("pending after remove = %+v", p)
	}
	if c, _ := s.Counts(); c.Outbox != 2 {
		t.Fatalf("outbox depth %d, want 2", c.Outbox)
	}
	// The next write carries the delete.
	if _, err := s.Blacklist(rec("d", "u", 10), []byte("ev-d")); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxRemove([]uint64{ob[1].Seq}); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncOutbox(); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxRemove([]uint64{ob[2].Seq}); err != nil {
		t.Fatal(err)
	}
	s.Close() // carries the last one
	s = openTest(t, dir, Options{})
	p, _ := s.OutboxPending(10)
	if fmt.Sprint(payloads(p)) != "[ev-d]" {
		t.Fatalf("pending after reopen = %+v, want only ev-d", p)
	}
	if c, _ := s.Counts(); c.Outbox != 1 {
		t.Fatalf("outbox depth %d after reopen, want 1", c.Outbox)
	}
}
