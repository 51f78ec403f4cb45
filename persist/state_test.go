package persist

import "testing"

// State reads the applied position and the digests together, and moves
// with every change of the revocations: a blacklisting (still in the
// journal), a revocation, a later not-before of the same one (the count
// stays), an applied batch, and a batch that changes nothing but the
// sequence.
func TestState(t *testing.T) {
	s := openTest(t, "", Options{})
	st, err := s.State()
	if err != nil || st != (State{}) {
		t.Fatalf("empty store: %+v, %v", st, err)
	}
	seen := map[State]string{st: "empty"}
	step := func(name string, f func() error) State {
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st, err := s.State()
		if err != nil {
			t.Fatalf("%s: State: %v", name, err)
		}
		if prev, ok := seen[st]; ok {
			t.Fatalf("%s: the state %+v is the one after %s", name, st, prev)
		}
		seen[st] = name
		d, err := s.Digest()
		if err != nil || st.Blacklist != d {
			t.Fatalf("%s: State.Blacklist %v, Digest %v (%v)", name, st.Blacklist, d, err)
		}
		c, err := s.Counts()
		if err != nil || st.AppliedSeq != c.AppliedSeq || st.Revocations.Count != c.UserRevocations {
			t.Fatalf("%s: State %+v, Counts %+v (%v)", name, st, c, err)
		}
		return st
	}
	rec := Record{JTI: "j1", ExpiresAt: 2000, BlacklistedAt: 1, Origin: "n"}
	step("a blacklisting", func() error { _, err := s.Blacklist(rec, nil); return err })
	step("a user revocation", func() error {
		_, err := s.Revoke(Revocation{User: "u", NotBefore: 10, Expires: 100, Origin: "n"}, nil)
		return err
	})
	st = step("a later not-before", func() error {
		_, err := s.Revoke(Revocation{User: "u", NotBefore: 20, Expires: 100, Origin: "n"}, nil)
		return err
	})
	if st.Revocations.Count != 1 {
		t.Errorf("one revocation counted %d times", st.Revocations.Count)
	}
	step("a session revocation", func() error {
		_, err := s.Revoke(Revocation{By: BySession, ID: "sid", NotBefore: 10, Expires: 100, Origin: "n"}, nil)
		return err
	})
	step("an applied batch", func() error {
		_, err := s.Apply([]Op{{Kind: OpBlacklist, Record: Record{JTI: "j2", ExpiresAt: 2000, BlacklistedAt: 1, Origin: "m"}}}, 5)
		return err
	})
	st = step("a batch that changes nothing", func() error { _, err := s.Apply([]Op{{Kind: OpBlacklist, Record: rec}}, 6); return err })
	if st.AppliedSeq != 6 {
		t.Errorf("AppliedSeq %d after a no-op batch at 6", st.AppliedSeq)
	}
	st = step("the stream recorded", func() error { return s.SetApplied(6, "S 1") })
	if st.AppliedStream != "S 1" {
		t.Errorf("AppliedStream %q", st.AppliedStream)
	}
}
