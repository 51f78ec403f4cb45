package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/natsproc"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// NATS faults with real server processes (internal/natsproc): the test
// binary runs itself as a nats-server, so a server can be killed with
// SIGKILL, as a crash or an OOM kill would.

// TestHelperNATSServer is not a test: natsproc runs it in a child process
// as a nats-server.
func TestHelperNATSServer(t *testing.T) { natsproc.Helper(t) }

// loadWriter blacklists jtis on n as fast as the store takes them (at most
// max), until stop is closed, and keeps those acknowledged.
type loadWriter struct {
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	done  chan struct{}
	err   error
}

func startLoad(n *running, prefix string, max int) *loadWriter {
	w := &loadWriter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := range max {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			jti := fmt.Sprintf("%s-%06d", prefix, i)
			if _, err := n.Blacklist(context.Background(), persist.Record{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix()}); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			w.acked = append(w.acked, jti)
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *loadWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitMore waits until n more writes than at the call are acknowledged.
func (w *loadWriter) waitMore(t testing.TB, n int) {
	t.Helper()
	want := w.count() + n
	poll.For(t, waitLong, pollEvery, func() error {
		w.mu.Lock()
		err, got := w.err, len(w.acked)
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("a write failed: %v", err)
		}
		if got < want {
			return fmt.Errorf("%d writes acknowledged, want %d", got, want)
		}
		return nil
	})
}

func (w *loadWriter) finish(t testing.TB) []string {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("a write failed: %v", w.err)
	}
	return append([]string(nil), w.acked...)
}

// TestNATSFaultsUnderLoad runs a 3-server cluster of nats-server processes
// with the stream on 3 replicas, a full node and two validators, under a
// steady load of writes. First one server is killed with SIGKILL and
// restarted; then all three are killed and, a while later, restarted.
// Writes never stop being acknowledged (the outbox holds them while NATS
// is away), validators keep answering from their replica and show NATS
// disconnected in their status, and every node converges to the writer's
// blacklist digest afterwards with every acknowledged write on it.
func TestNATSFaultsUnderLoad(t *testing.T) {
	procs := natsproc.Cluster(t, 3)
	var urls []string
	for _, p := range procs {
		urls = append(urls, p.URL)
	}
	cfg := func(role node.Role) node.Config {
		return node.Config{Role: role, CacheEntries: 1 << 12, NATS: node.NATSConfig{URLs: urls}, Stream: events.StreamConfig{Replicas: 3}}
	}
	full := startNode(t, cfg(node.RoleFull))
	v1 := startNode(t, cfg(node.RoleValidator))
	v2 := startNode(t, cfg(node.RoleValidator))
	waitAllReady(t, full, v1, v2)

	faults := 0
	t.Run("one server killed and restarted", func(t *testing.T) {
		w := startLoad(full, "one", 100_000)
		w.waitMore(t, 100)
		procs[1].Kill9(t)
		faults++
		w.waitMore(t, 200) // writes go on with a server dead
		procs[1].Start(t)
		w.waitMore(t, 100)
		acked := w.finish(t)
		waitConverged(t, waitLong, full, v1, v2)
		waitHasAll(t, acked, v1, v2)
		t.Logf("%d writes acknowledged around the kill, all on every node", len(acked))
	})

	t.Run("every server killed, then restarted", func(t *testing.T) {
		before := blacklistN(t, full.Node, "before-outage", 20)
		waitConverged(t, waitLong, full, v1, v2)
		w := startLoad(full, "all", 100_000)
		w.waitMore(t, 50)
		for _, p := range procs {
			p.Kill9(t)
			faults++
		}
		// NATS is gone: writes are still acknowledged (into the outbox).
		w.waitMore(t, 300)
		poll.For(t, waitLong, pollEvery, func() error {
			st, err := full.Status(t.Context())
			if err != nil {
				return err
			}
			if st.NATS != "disconnected" || st.OutboxDepth == 0 {
				return fmt.Errorf("writer status: NATS %s, outbox %d; want disconnected with a backlog", st.NATS, st.OutboxDepth)
			}
			return nil
		})
		for _, v := range []*running{v1, v2} {
			st, err := v.Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if st.NATS != "disconnected" || !st.Ready {
				t.Errorf("validator status during the outage %+v: want NATS disconnected, still ready", st)
			}
			for _, jti := range before {
				if b, err := v.Check(jti); err != nil || !b {
					t.Fatalf("validator during the outage: Check(%s) = %v, %v; want blacklisted from its replica", jti, b, err)
				}
			}
		}
		began := time.Now()
		for _, p := range procs {
			p.Start(t)
		}
		t.Logf("servers restarted in %v", time.Since(began))
		w.waitMore(t, 100)
		acked := w.finish(t)
		waitConverged(t, 2*waitLong, full, v1, v2)
		t.Logf("converged %v after the restart", time.Since(began))
		waitHasAll(t, acked, v1, v2)
		t.Logf("%d writes acknowledged across a full NATS outage, all on every node", len(acked))
	})
	t.Logf("%d nats-server processes killed with SIGKILL; converged at %s", faults, digestOf(t, full))
}
