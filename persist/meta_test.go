package persist

import "testing"

// The stream identity is recorded with the applied sequence, survives a
// reopen, and only SetApplied changes it: Apply moves the sequence on and
// leaves the identity, and a reset below a sequence kept in memory (an
// Apply that changed nothing) is not undone by it.
func TestAppliedStreamRecordedWithSequence(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	check := func(step string, wantSeq uint64, wantStream string) {
		t.Helper()
		if seq, err := s.AppliedSeq(); err != nil || seq != wantSeq {
			t.Errorf("%s: AppliedSeq() = %d, %v; want %d", step, seq, err, wantSeq)
		}
		if stream, err := s.AppliedStream(); err != nil || stream != wantStream {
			t.Errorf("%s: AppliedStream() = %q, %v; want %q", step, stream, err, wantStream)
		}
	}
	reopen := func() {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = openTest(t, dir, Options{})
	}
	check("a new store", 0, "")

	if err := s.SetApplied(0, "S 1"); err != nil {
		t.Fatalf("SetApplied: %v", err)
	}
	op := Op{Kind: OpBlacklist, Record: Record{JTI: "a", ExpiresAt: 100, CreatedAt: 1, BlacklistedAt: 1}}
	if _, err := s.Apply([]Op{op}, 7); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	check("after Apply", 7, "S 1")
	if _, err := s.Apply([]Op{op}, 9); err != nil { // changes nothing: the sequence stays in memory
		t.Fatalf("Apply: %v", err)
	}
	check("after an Apply that changes nothing", 9, "S 1")

	if err := s.SetApplied(2, "T 2"); err != nil {
		t.Fatalf("SetApplied: %v", err)
	}
	check("after SetApplied", 2, "T 2")
	reopen()
	check("after a reopen", 2, "T 2")

	if err := s.SetApplied(5, ""); err != nil {
		t.Fatalf("SetApplied: %v", err)
	}
	reopen()
	check("after SetApplied with no stream and a reopen", 5, "")
}
