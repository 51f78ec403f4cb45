package persist

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestImportCountsAndIsIdempotent(t *testing.T) {
	s := openTest(t, "", Options{})
	created := int64(1_000_000_000_000_000_000)
	bl := rec("b", "u1", 5000)
	bl.CreatedAt, bl.BlacklistedAt, bl.Reason = created, created+5, "imported"
	out := rec("a", "u1", 5000)
	out.CreatedAt = created
	ops := []ImportOp{
		{Op: Op{Kind: OpOutstanding, Record: out}, Outbox: []byte("ev-a")},
		{Op: Op{Kind: OpOutstanding, Record: func() Record { r := bl; r.BlacklistedAt = 0; return r }()}, Outbox: []byte("ev-b-out")},
		{Op: Op{Kind: OpBlacklist, Record: bl}, Outbox: []byte("ev-b-bl")},
		{Op: Op{Kind: OpRevoke, Revocation: Revocation{User: "u2", NotBefore: 100, Expires: 9000, Origin: "n1"}}, Outbox: []byte("ev-u2")},
		{Op: Op{Kind: OpOutstanding, Record: Record{JTI: "", ExpiresAt: 1}}, Outbox: []byte("never")}, // invalid: no jti
		{Op: Op{Kind: OpBlacklist, Record: rec("c", "", 5000)}, Outbox: []byte("never")},              // invalid: no blacklisted time
		{Op: Op{Kind: OpRevoke, Revocation: Revocation{User: "u3"}}, Outbox: []byte("never")},         // invalid: no not-before
	}
	res, err := s.Import(ops)
	if err != nil {
		t.Fatal(err)
	}
	want := ImportResult{Outstanding: 2, Blacklisted: 1, Revocations: 1, Invalid: 3}
	if res != want {
		t.Fatalf("first Import = %+v, want %+v", res, want)
	}
	pending, err := s.OutboxPending(100)
	if err != nil {
		t.Fatal(err)
	}
	if got := payloads(pending); fmt.Sprint(got) != "[ev-a ev-b-out ev-b-bl ev-u2]" {
		t.Errorf("outbox = %v, want one event per change, in order", got)
	}
	if len(pending) != 1 {
		t.Errorf("outbox holds %d entries, want the import's events in one", len(pending))
	}
	r, err := s.Lookup("b")
	if err != nil || r.CreatedAt != created || r.BlacklistedAt != created+5 || r.Reason != "imported" {
		t.Errorf("Lookup(b) = %+v, %v; want the imported times and reason", r, err)
	}

	res, err = s.Import(ops)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ImportResult{Unchanged: 4, Invalid: 3}); res != want {
		t.Fatalf("second Import = %+v, want %+v", res, want)
	}
	c, _ := s.Counts()
	if want := (Counts{Outstanding: 2, Blacklisted: 1, Outbox: 4, UserRevocations: 1}); c != want {
		t.Errorf("Counts after two imports = %+v, want %+v", c, want)
	}

	// An earlier creation time wins the merge rule: the record is updated
	// and announced again.
	earlier := out
	earlier.CreatedAt = created - 1
	res, err = s.Import([]ImportOp{{Op: Op{Kind: OpOutstanding, Record: earlier}, Outbox: []byte("ev-a2")}})
	if err != nil || res != (ImportResult{Updated: 1}) {
		t.Fatalf("Import of an earlier record = %+v, %v; want Updated 1", res, err)
	}
}

func TestEntriesListsEveryTokenOnceInOrder(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	const n = 2*exportPage + 37 // several pages and a partial one
	want := map[string]string{}
	var ops []ImportOp
	for i := range n {
		jti := fmt.Sprintf("j%05d", i)
		r := rec(jti, fmt.Sprint(i%7), 10_000)
		r.CreatedAt = 1
		switch i % 3 {
		case 0:
			ops = append(ops, ImportOp{Op: Op{Kind: OpOutstanding, Record: r}})
			want[jti] = "o"
		case 1:
			r.BlacklistedAt = 2
			ops = append(ops, ImportOp{Op: Op{Kind: OpBlacklist, Record: r}})
			want[jti] = "ob"
		case 2: // a blacklisting without its outstanding record (applied from another node, then flushed apart)
			r.BlacklistedAt = 2
			if _, err := s.Apply([]Op{{Kind: OpBlacklist, Record: r}}, 0); err != nil {
				t.Fatal(err)
			}
			want[jti] = "b"
		}
	}
	if _, err := s.Import(ops); err != nil {
		t.Fatal(err)
	}
	// Remove the outstanding halves of the third kind directly, as a flush
	// of a record re-written with another expiry can leave them.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for jti, k := range want {
			if k == "b" {
				if err := tx.Bucket(bucketOutstanding).Delete([]byte(jti)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	prev := ""
	seen := 0
	for e, err := range s.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		jti := e.JTI()
		if jti <= prev {
			t.Fatalf("entry %q after %q: not in order or repeated", jti, prev)
		}
		prev = jti
		kind := ""
		if e.Outstanding != nil {
			kind += "o"
		}
		if e.Blacklisted != nil {
			kind += "b"
		}
		if kind != want[jti] {
			t.Errorf("entry %s has %q, want %q", jti, kind, want[jti])
		}
		if m := e.Merged(); m.Blacklisted() != (e.Blacklisted != nil) || m.JTI != jti {
			t.Errorf("Merged(%s) = %+v", jti, m)
		}
		seen++
	}
	if seen != n {
		t.Fatalf("Entries yielded %d, want %d", seen, n)
	}

	// Stopping early stops.
	count := 0
	for range s.Entries() {
		count++
		if count == 3 {
			break
		}
	}
	if count != 3 {
		t.Errorf("break after 3 gave %d", count)
	}
}

func TestRevocationsListsUsersAndFamilies(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	var ops []ImportOp
	for i := range exportPage + 5 {
		ops = append(ops, ImportOp{Op: Op{Kind: OpRevoke, Revocation: Revocation{User: fmt.Sprintf("u%04d", i), NotBefore: 10, Expires: 20, Origin: "n"}}})
	}
	ops = append(ops, ImportOp{Op: Op{Kind: OpRevoke, Revocation: Revocation{Family: "fam1", User: "u1", NotBefore: 11, Expires: 21}}})
	res, err := s.Import(ops)
	if err != nil || res.Revocations != len(ops) {
		t.Fatalf("Import = %+v, %v", res, err)
	}
	users, families := 0, 0
	for r, err := range s.Revocations() {
		if err != nil {
			t.Fatal(err)
		}
		if r.Family != "" {
			families++
			if r.Family != "fam1" || r.NotBefore != 11 || r.Expires != 21 {
				t.Errorf("family revocation = %+v", r)
			}
			continue
		}
		users++
		if r.NotBefore != 10 || r.Expires != 20 || r.Origin != "n" {
			t.Errorf("user revocation = %+v", r)
		}
	}
	if users != exportPage+5 || families != 1 {
		t.Errorf("Revocations gave %d users and %d families", users, families)
	}
}
