package persist

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/poll"
)

// TestPanickingWriteFailsAlone: a write whose fn panics inside a group
// commit fails with ErrPanicked, its neighbours commit, and later writes and
// Close return. The callers recover their own panics, as the HTTP server's
// recoverer does, so that a leader that never hands on leadership shows as
// writers that wait forever (the deadline below), not as a crash.
func TestPanickingWriteFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group bool // the panic is in a group, or alone (its own leader)
	}{
		{name: "in a group", group: true},
		{name: "alone", group: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				closed := make(chan error, 1)
				go func() { closed <- s.Close() }()
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Error("Close still waiting after 10s")
				}
			})
			call := func(fn func(*writeTx) error) (err error) {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("the panic reached the caller: %v", p)
					}
				}()
				return s.commit.do(fn)
			}
			const n = 8
			errc := make(chan error, n)
			var good sync.WaitGroup
			if tc.group {
				release, started := make(chan struct{}), make(chan struct{})
				go call(func(*writeTx) error { close(started); <-release; return nil })
				<-started
				for i := range n {
					good.Go(func() {
						_, err := s.Blacklist(rec(fmt.Sprint("j", i), "", 100), nil)
						errc <- err
					})
				}
				panicked := make(chan error, 1)
				go func() { panicked <- call(func(*writeTx) error { panic("boom in a write") }) }()
				poll.ForTrue(t, 10*time.Second, time.Millisecond, func() bool { s.commit.mu.Lock(); defer s.commit.mu.Unlock(); return len(s.commit.pending) == n+1 })
				close(release)
				checkPanicked(t, within(t, panicked))
				for range n {
					if err := within(t, errc); err != nil {
						t.Errorf("a neighbour of the panicking write: %v", err)
					}
				}
			} else {
				checkPanicked(t, call(func(*writeTx) error { panic("boom in a write") }))
			}
			later := make(chan error, 1)
			go func() { _, err := s.Blacklist(rec("later", "", 100), nil); later <- err }()
			if err := within(t, later); err != nil {
				t.Fatalf("a later write: %v", err)
			}
			if c, err := s.Counts(); err != nil || (tc.group && c.Blacklisted != n+1) {
				t.Errorf("counts %+v (%v)", c, err)
			}
			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			if err := within(t, closed); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

func checkPanicked(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrPanicked) || !strings.Contains(err.Error(), "boom in a write") {
		t.Fatalf("the panicking write: %v, want ErrPanicked with the panic's value", err)
	}
}

// within receives from c, failing the test after 10s: the deadline of a
// call that must not wait forever.
func within(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting after 10s")
		return nil
	}
}

// TestPanicInTheCommitReleasesLeadership: a panic in the committer's own
// code (here its epilogue) fails that transaction's writers with
// ErrPanicked; the next writes and Close go through.
func TestPanicInTheCommitReleasesLeadership(t *testing.T) {
	s := openTest(t, "", Options{NoSync: true})
	epilogue := s.commit.epilogue
	once := true
	s.commit.epilogue = func(tx *writeTx) error {
		if once {
			once = false
			panic("boom in the epilogue")
		}
		return epilogue(tx)
	}
	_, err := s.Blacklist(rec("first", "", 100), nil)
	if !errors.Is(err, ErrPanicked) || !strings.Contains(err.Error(), "boom in the epilogue") {
		t.Fatalf("write during the panicking commit: %v, want ErrPanicked", err)
	}
	later := make(chan error, 1)
	go func() { _, err := s.Blacklist(rec("later", "", 100), nil); later <- err }()
	if err := within(t, later); err != nil {
		t.Fatalf("a later write: %v", err)
	}
	if ok, _ := s.IsBlacklisted("first"); ok {
		t.Error("the write of the panicking commit was kept")
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if err := within(t, closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
