package persist

import (
	"slices"
	"strings"
	"testing"
)

// Session, client and issuer revocations are kept, found, listed, survive
// a reopen, pass fsck and are flushed with the others; the same id as a
// user, a family, a session, a client and an issuer is five revocations
// that never meet.
func TestScopedRevocations(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if s.MayHaveScopedRevocations() {
		t.Fatal("an empty store says it may hold scoped revocations")
	}
	const id = "same-id"
	revs := []Revocation{
		{User: id, NotBefore: 100, Expires: 1000, Origin: "n"},
		{Family: id, NotBefore: 101, Expires: 1000, Origin: "n"},
		{By: BySession, ID: id, NotBefore: 102, Expires: 1000, Origin: "n"},
		{By: ByClient, ID: id, NotBefore: 103, Expires: 2000, Origin: "n"},
		{By: ByIssuer, ID: id, NotBefore: 104, Expires: 2000, Origin: "n"},
		{By: ByIssuer, ID: "", NotBefore: 105, Expires: 2000, Origin: "n"},
	}
	for _, r := range revs {
		if res, err := s.Revoke(r, nil); err != nil || res.Existed {
			t.Fatalf("Revoke(%+v) = %+v, %v", r, res, err)
		}
	}
	if !s.MayHaveScopedRevocations() {
		t.Fatal("MayHaveScopedRevocations false after scoped revocations")
	}
	// An earlier not-before changes nothing.
	if res, err := s.Revoke(Revocation{By: BySession, ID: id, NotBefore: 50, Expires: 1000, Origin: "n"}, nil); err != nil || !res.Existed {
		t.Fatalf("earlier session revocation: %+v, %v; want Existed", res, err)
	}
	check := func(s *Store) {
		t.Helper()
		for _, want := range revs {
			var got Revocation
			var ok bool
			var err error
			switch {
			case want.By != ByUser:
				got, ok, err = s.ScopedNotBefore(want.By, want.ID)
			case want.Family != "":
				got, ok, err = s.FamilyNotBefore(want.Family)
			default:
				got, ok, err = s.UserNotBefore(want.User)
			}
			if err != nil || !ok || got != want {
				t.Errorf("%s %q: %+v, %v, %v; want %+v", want.By, want.ID+want.User+want.Family, got, ok, err, want)
			}
		}
		if _, ok, _ := s.ScopedNotBefore(BySession, "other"); ok {
			t.Error("a session nobody revoked is revoked")
		}
		if _, ok, _ := s.ScopedNotBefore(ByClient, ""); ok {
			t.Error("the empty client is revoked")
		}
		var listed []Revocation
		for r, err := range s.Revocations() {
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, r)
		}
		if len(listed) != len(revs) {
			t.Errorf("Revocations() lists %d, want %d: %+v", len(listed), len(revs), listed)
		}
		for _, r := range revs {
			if !slices.Contains(listed, r) {
				t.Errorf("Revocations() lacks %+v", r)
			}
		}
		if c, err := s.Counts(); err != nil || c.UserRevocations != uint64(len(revs)) {
			t.Errorf("Counts = %+v, %v; want %d revocations", c, err, len(revs))
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Fsck(dir, FsckOptions{})
	if err != nil || rep.Problems != 0 {
		t.Fatalf("Fsck: %v, %+v", err, rep)
	}
	s = openTest(t, dir, Options{})
	if !s.MayHaveScopedRevocations() {
		t.Fatal("MayHaveScopedRevocations false after reopening a store that holds some")
	}
	check(s)

	// The flush removes those that expired, and names them by their keys.
	var removed []string
	res, err := s.Flush(1500, 0, func(ids []string) { removed = append(removed, ids...) })
	if err != nil || res.UserRevocations != 3 {
		t.Fatalf("Flush = %+v, %v; want 3 revocations removed", res, err)
	}
	if !slices.Contains(removed, ScopedKey(BySession, id)) || !slices.Contains(removed, id) {
		t.Errorf("flush reported %q, want the session's key and the user", removed)
	}
	if by, sid, ok := ParseScopedKey(ScopedKey(BySession, id)); !ok || by != BySession || sid != id {
		t.Errorf("ParseScopedKey(ScopedKey) = %v %q %v", by, sid, ok)
	}
	if _, ok, _ := s.ScopedNotBefore(BySession, id); ok {
		t.Error("the expired session revocation is still there")
	}
	if r, ok, _ := s.ScopedNotBefore(ByIssuer, ""); !ok || r.NotBefore != 105 {
		t.Errorf("the every-issuer revocation is gone after a flush before its expiry: %+v %v", r, ok)
	}
}

func TestScopedRevocationInvalid(t *testing.T) {
	s := openTest(t, "", Options{})
	for _, tc := range []struct {
		name string
		r    Revocation
	}{
		{"empty session", Revocation{By: BySession, NotBefore: 1}},
		{"long session", Revocation{By: BySession, ID: strings.Repeat("s", MaxSessionLen+1), NotBefore: 1}},
		{"empty client", Revocation{By: ByClient, NotBefore: 1}},
		{"long issuer", Revocation{By: ByIssuer, ID: strings.Repeat("i", MaxIssuerLen+1), NotBefore: 1}},
		{"session with a user", Revocation{By: BySession, ID: "s", User: "u", NotBefore: 1}},
		{"unknown kind", Revocation{By: ByIssuer + 1, ID: "x", NotBefore: 1}},
		{"no not-before", Revocation{By: ByClient, ID: "c"}},
		{"user in the scoped keyspace", Revocation{User: "\xffsid", NotBefore: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Revoke(tc.r, nil); err == nil {
				t.Fatalf("Revoke(%+v) accepted", tc.r)
			}
		})
	}
}

// Apply (the stream's path) and a bulk import take scoped revocations too.
func TestScopedRevocationApplyAndImport(t *testing.T) {
	s := openTest(t, "", Options{})
	if _, err := s.Apply([]Op{{Kind: OpRevoke, Revocation: Revocation{By: ByClient, ID: "c", NotBefore: 10, Expires: 100, Origin: "n"}}}, 1); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := s.ScopedNotBefore(ByClient, "c"); err != nil || !ok || r.NotBefore != 10 {
		t.Fatalf("after Apply: %+v %v %v", r, ok, err)
	}
	s2 := openTest(t, "", Options{})
	if _, err := s2.Import([]ImportOp{{Op: Op{Kind: OpRevoke, Revocation: Revocation{By: BySession, ID: "s", NotBefore: 10, Expires: 100}}}}); err != nil {
		t.Fatal(err)
	}
	if !s2.MayHaveScopedRevocations() {
		t.Fatal("MayHaveScopedRevocations false after an import of one")
	}
	if _, ok, _ := s2.ScopedNotBefore(BySession, "s"); !ok {
		t.Fatal("imported session revocation not found")
	}
}

// A record's client, session and scope are kept; a record without them is
// written in the form builds before them read (version 1 or 2), one with
// them in version 3 or 4.
func TestRecordOAuthFields(t *testing.T) {
	plain := Record{JTI: "p", User: "u", ExpiresAt: 100, CreatedAt: 5}
	oauth := Record{JTI: "o", ExpiresAt: 100, CreatedAt: 5, ClientID: "app", SessionID: "s-1", Scope: "read write"}
	for _, tc := range []struct {
		r       Record
		version byte
	}{
		{plain, recordVersion},
		{func() Record { r := plain; r.BlacklistedAt = 9; return r }(), recordDelta},
		{oauth, recordOAuth},
		{func() Record { r := oauth; r.BlacklistedAt = 9; return r }(), recordOAuthDelta},
	} {
		b := encodeRecord(tc.r)
		if b[0] != tc.version {
			t.Errorf("%+v encodes as version %d, want %d", tc.r, b[0], tc.version)
		}
		if got, err := decodeRecord(b); err != nil || got != tc.r {
			t.Errorf("decode: %+v, %v; want %+v", got, err, tc.r)
		}
	}
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if _, err := s.AddOutstanding(oauth, nil); err != nil {
		t.Fatal(err)
	}
	black := oauth
	black.JTI, black.BlacklistedAt = "b", 9
	if _, err := s.Blacklist(black, nil); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		for _, want := range []Record{oauth, black} {
			got, err := s.Lookup(want.JTI)
			if err != nil || got.ClientID != "app" || got.SessionID != "s-1" || got.Scope != "read write" {
				t.Errorf("Get(%s) = %+v, %v", want.JTI, got, err)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Fsck(dir, FsckOptions{}); err != nil || rep.Problems != 0 {
		t.Fatalf("Fsck: %v %+v", err, rep)
	}
	check(openTest(t, dir, Options{}))

	for _, r := range []Record{
		{JTI: "x", ExpiresAt: 1, ClientID: strings.Repeat("c", MaxClientLen+1)},
		{JTI: "x", ExpiresAt: 1, SessionID: strings.Repeat("s", MaxSessionLen+1)},
		{JTI: "x", ExpiresAt: 1, Scope: strings.Repeat("s", MaxScopeLen+1)},
	} {
		if err := r.validate(); err == nil {
			t.Errorf("a record with a field over its limit validates: %d %d %d", len(r.ClientID), len(r.SessionID), len(r.Scope))
		}
	}
}

// A registered token covered by its session's or client's revocation, or
// by one of every issuer, reads as blacklisted, with the reason.
func TestFoldScopedRevocation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r      Revocation
		reason string
	}{
		{"session", Revocation{By: BySession, ID: "s-1", NotBefore: 200}, ReasonSessionRevoked},
		{"client", Revocation{By: ByClient, ID: "app", NotBefore: 200}, ReasonClientRevoked},
		{"every issuer", Revocation{By: ByIssuer, NotBefore: 200}, ReasonIssuerRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, "", Options{})
			for _, r := range []Record{
				{JTI: "covered", ExpiresAt: 1000, IssuedAt: 100, ClientID: "app", SessionID: "s-1"},
				{JTI: "later", ExpiresAt: 1000, IssuedAt: 300, ClientID: "app", SessionID: "s-1"},
				{JTI: "other", ExpiresAt: 1000, IssuedAt: 100, ClientID: "web", SessionID: "s-2"},
			} {
				if _, err := s.AddOutstanding(r, nil); err != nil {
					t.Fatal(err)
				}
			}
			tc.r.Expires = 2000
			if _, err := s.Revoke(tc.r, nil); err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{"covered": true, "later": false, "other": tc.r.By == ByIssuer}
			for jti, black := range want {
				r, err := s.Lookup(jti)
				if err != nil || r.Blacklisted() != black || (black && r.Reason != tc.reason) {
					t.Errorf("%s: blacklisted %v (%q), %v; want %v", jti, r.Blacklisted(), r.Reason, err, black)
				}
			}
		})
	}
}
