package persist

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// payloads flattens entries into their payloads, as strings, in order.
func payloads(entries []OutboxEntry) []string {
	var out []string
	for _, e := range entries {
		for _, p := range e.Payloads {
			out = append(out, string(p))
		}
	}
	return out
}

// The payloads of one transaction share an entry; the count is of
// payloads, and removing the entry takes all of them, before and after a
// reopen.
func TestOutboxTransactionSharesEntry(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if _, err := s.Blacklist(rec("a", "u", 10), []byte("ev-a")); err != nil {
		t.Fatal(err)
	}
	err := s.commit.do(func(tx *writeTx) error {
		for _, p := range []string{"ev-b", "ev-c", "ev-d"} {
			if err := tx.stageOutbox([]byte(p)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := s.OutboxPending(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ob) != 2 || fmt.Sprint(payloads(ob[:1])) != "[ev-a]" || fmt.Sprint(payloads(ob[1:])) != "[ev-b ev-c ev-d]" {
		t.Fatalf("outbox = %q, want [ev-a] then [ev-b ev-c ev-d]", payloads(ob))
	}
	if c, _ := s.Counts(); c.Outbox != 4 {
		t.Fatalf("outbox depth %d, want 4 events", c.Outbox)
	}
	if err := s.OutboxRemove([]uint64{ob[1].Seq}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(); c.Outbox != 1 {
		t.Fatalf("outbox depth %d after removing the shared entry, want 1", c.Outbox)
	}
	s.Close()
	s = openTest(t, dir, Options{})
	if c, _ := s.Counts(); c.Outbox != 1 {
		t.Fatalf("outbox depth %d after reopen, want 1", c.Outbox)
	}
	if ob, _ := s.OutboxPending(10); fmt.Sprint(payloads(ob)) != "[ev-a]" {
		t.Fatalf("outbox after reopen = %q, want [ev-a]", payloads(ob))
	}
}

// A request that fails in a group leaves nothing in the outbox: the group
// is retried request by request, and each of the others gets its entry.
func TestOutboxFailedRequestStagesNothing(t *testing.T) {
	s := openTest(t, "", Options{})
	boom := errors.New("boom")
	stage := func(p string, fail bool) *writeReq {
		return &writeReq{wake: make(chan struct{}, 1), fn: func(tx *writeTx) error {
			if err := tx.stageOutbox([]byte(p)); err != nil {
				return err
			}
			if fail {
				return boom
			}
			return nil
		}}
	}
	group := []*writeReq{stage("ev-a", false), stage("ev-b", true), stage("ev-c", false)}
	s.commit.run(group)
	if !errors.Is(group[1].err, boom) || group[0].err != nil || group[2].err != nil {
		t.Fatalf("errors %v, %v, %v; want only the second to fail", group[0].err, group[1].err, group[2].err)
	}
	ob, _ := s.OutboxPending(10)
	if len(ob) != 2 || fmt.Sprint(payloads(ob)) != "[ev-a ev-c]" {
		t.Fatalf("outbox = %q in %d entries, want [ev-a] and [ev-c]", payloads(ob), len(ob))
	}
	if c, _ := s.Counts(); c.Outbox != 2 {
		t.Fatalf("outbox depth %d, want 2", c.Outbox)
	}
}

// A commit with more payloads than an entry holds spreads them over
// entries within the limits, in order.
func TestOutboxEntryLimits(t *testing.T) {
	s := openTest(t, "", Options{})
	var want []string
	ops := make([]ImportOp, 0, 700)
	for i := range 700 {
		p := fmt.Sprintf("ev-%03d-", i)
		if i%100 == 7 {
			p += strings.Repeat("x", 20<<10) // a few large payloads
		}
		want = append(want, p)
		ops = append(ops, ImportOp{Op: Op{Kind: OpOutstanding, Record: rec(fmt.Sprintf("j%03d", i), "u", 10)}, Outbox: []byte(p)})
	}
	if _, err := s.Import(ops); err != nil {
		t.Fatal(err)
	}
	ob, err := s.OutboxPending(100)
	if err != nil {
		t.Fatal(err)
	}
	if got := payloads(ob); !slices.Equal(got, want) {
		t.Fatalf("outbox holds %d payloads, want the %d written, in order", len(got), len(want))
	}
	if len(ob) < 3 {
		t.Errorf("%d entries for 700 payloads, want at least 3", len(ob))
	}
	for _, e := range ob {
		size := 0
		for _, p := range e.Payloads {
			size += len(p)
		}
		if len(e.Payloads) > maxEntryPayloads || (len(e.Payloads) > 1 && size > maxEntryBytes) {
			t.Errorf("entry %d: %d payloads, %d bytes; limits %d, %d", e.Seq, len(e.Payloads), size, maxEntryPayloads, maxEntryBytes)
		}
	}
	if c, _ := s.Counts(); c.Outbox != 700 {
		t.Errorf("outbox depth %d, want 700", c.Outbox)
	}
}

func TestOutboxRefusesMarkedPayload(t *testing.T) {
	s := openTest(t, "", Options{})
	for _, p := range [][]byte{{}, {entryMark, 'x'}} {
		if _, err := s.Blacklist(rec("a", "u", 10), p); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Blacklist with outbox payload %q: %v, want ErrInvalidRecord", p, err)
		}
	}
	if ok, _ := s.IsBlacklisted("a"); ok {
		t.Error("refused write was stored")
	}
}

// FuzzOutboxEntry: any stored value decodes without a panic into non-empty
// payloads, and a list of payloads round-trips.
func FuzzOutboxEntry(f *testing.F) {
	f.Add([]byte(`{"v":1}`), []byte(`{"v":1,"id":"b"}`), uint8(2))
	f.Add(encodeEntry([][]byte{[]byte("a"), []byte("bc")}), []byte("d"), uint8(1))
	f.Add([]byte{entryMark, 5, 'a'}, []byte{}, uint8(3))
	f.Fuzz(func(t *testing.T, a, b []byte, n uint8) {
		for _, v := range [][]byte{a, b} {
			for _, p := range decodeEntry(v) {
				if len(p) == 0 && len(v) != 0 {
					t.Fatalf("decodeEntry(%q) gave an empty payload", v)
				}
			}
		}
		if len(a) == 0 || len(b) == 0 || a[0] == entryMark {
			return
		}
		list := make([][]byte, 0, int(n%5)+1)
		for i := range cap(list) {
			list = append(list, [][]byte{a, b}[i%2])
		}
		got := decodeEntry(encodeEntry(list))
		if !slices.EqualFunc(got, list, bytes.Equal) {
			t.Fatalf("round trip of %q gave %q", list, got)
		}
		if outboxLen(encodeEntry(list)) != len(list) {
			t.Fatalf("outboxLen of %d payloads = %d", len(list), outboxLen(encodeEntry(list)))
		}
	})
}
