package node_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/nodeapi"
	"github.com/blnode/blnode/persist"
)

// ownEvents returns a node's blnode_events_own_total.
func ownEvents(t testing.TB, n *node.Node) float64 {
	t.Helper()
	v, ok := value(gather(t, n), "blnode_events_own_total")
	if !ok {
		t.Fatal("no blnode_events_own_total")
	}
	return v
}

// A full node's own token events come back from the stream and are not
// written to its store again; every other node applies them. The writer,
// a second full node and a validator end with the same blacklist, the same
// outstanding count and one audit entry per admin write, and a restarted
// writer (which no longer knows its events) replays them to the same state.
func TestOwnEventsAreNotWrittenTwice(t *testing.T) {
	s := eventstest.RunServer(t)
	a := startNode(t, fleetConfig(node.RoleFull, 1, s))
	b := startNode(t, fleetConfig(node.RoleFull, 1, s))
	v := startNode(t, fleetConfig(node.RoleValidator, 1, s))

	const writers, each = 16, 25
	exp := time.Now().Add(time.Hour).Unix()
	admin := nodeapi.WithActor(t.Context(), nodeapi.Actor{Name: "admin", Reason: "test"})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		jtis []string
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				jti := fmt.Sprintf("own-%02d-%02d", w, i)
				var err error
				if i%5 == 0 {
					_, err = a.AddOutstanding(t.Context(), persist.Record{JTI: jti, ExpiresAt: exp, User: "u"})
				} else {
					_, err = a.Blacklist(admin, persist.Record{JTI: jti, ExpiresAt: exp, User: "u"})
				}
				if err != nil {
					t.Errorf("write %s: %v", jti, err)
					return
				}
				if i%5 != 0 {
					mu.Lock()
					jtis = append(jtis, jti)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// A write that changes nothing publishes nothing: nothing to skip.
	if res, err := a.Blacklist(admin, persist.Record{JTI: jtis[0], ExpiresAt: exp, User: "u"}); err != nil || !res.Existed {
		t.Fatalf("blacklist again: %+v, %v", res, err)
	}
	waitHasAll(t, jtis, a, b, v)
	const total = writers * each
	poll.For(t, waitLong, pollEvery, func() error {
		if got := ownEvents(t, a.Node); got != total {
			return fmt.Errorf("writer skipped %v own events, want %d", got, total)
		}
		return nil
	})
	for name, n := range map[string]*running{"full node": b, "validator": v} {
		if got := ownEvents(t, n.Node); got != 0 {
			t.Errorf("%s skipped %v events, want 0 (none are its own)", name, got)
		}
	}
	want := sameState(t, total, len(jtis), a, b, v)

	// Restarted, the writer knows none of its events: a replay from the
	// start of the stream applies them all and changes nothing.
	a.stop()
	replayFromStart(t, a.dir)
	cfg := fleetConfig(node.RoleFull, 1, s)
	cfg.DataDir = a.dir
	a = startNode(t, cfg)
	waitNodeReady(t, a)
	if got := ownEvents(t, a.Node); got != 0 {
		t.Errorf("restarted writer skipped %v events, want 0", got)
	}
	if got := sameState(t, total, len(jtis), a, b, v); got != want {
		t.Errorf("after the replay: digest %s, want %s", got, want)
	}
}

// sameState checks that every node holds the same blacklist (digest and
// count) and, the full nodes (the first two), every outstanding token and
// one audit entry per admin write, and returns the writer's blacklist digest.
func sameState(t testing.TB, total, black int, nodes ...*running) string {
	t.Helper()
	var first node.Status
	poll.For(t, waitLong, pollEvery, func() error {
		for i, n := range nodes {
			st, err := n.Status(t.Context())
			if err != nil {
				return err
			}
			if st.Blacklisted != uint64(black) {
				return fmt.Errorf("node %d: %d blacklisted, want %d", i, st.Blacklisted, black)
			}
			// A validator follows revocations only.
			if st.Role == node.RoleFull && st.Outstanding != uint64(total) {
				return fmt.Errorf("node %d: %d outstanding, want %d", i, st.Outstanding, total)
			}
			if i == 0 {
				first = st
			} else if st.BlacklistDigest != first.BlacklistDigest {
				return fmt.Errorf("node %d: digest %s, the writer's %s", i, st.BlacklistDigest, first.BlacklistDigest)
			}
		}
		return nil
	})
	for i, n := range nodes[:2] {
		p, err := n.Audit(t.Context(), node.AuditQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Entries) != black {
			t.Errorf("node %d: %d audit entries, want %d (one per admin blacklisting)", i, len(p.Entries), black)
		}
	}
	return first.BlacklistDigest
}

// replayFromStart sets the last applied sequence of the stopped node's
// store in dir to 0, so that the node replays its stream from the start.
func replayFromStart(t testing.TB, dir string) {
	t.Helper()
	st, err := persist.Open(dir, persist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stream, err := st.AppliedStream()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetApplied(0, stream); err != nil {
		t.Fatal(err)
	}
}
