package node_test

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
)

// watcher checks one validator all the time: once it has reported a token
// blacklisted, it must never accept it again, across its restarts.
type watcher struct {
	v        atomic.Pointer[running]
	mu       sync.Mutex
	reported map[string]bool
	violated []string
}

func (w *watcher) check(jtis []string) {
	v := w.v.Load()
	for _, jti := range jtis {
		b, err := v.Check(jti)
		if err != nil {
			continue // a validator rebuilding answers 503: not an answer
		}
		w.mu.Lock()
		switch {
		case b:
			w.reported[jti] = true
		case w.reported[jti]:
			w.violated = append(w.violated, jti)
		}
		w.mu.Unlock()
	}
}

// Validators follow the live subject through the faults of issue 16: a gap
// forced in the live subject (messages the stream stores but does not
// republish), the NATS server restarted, and a validator stopped while
// events are written and started again (away past what the live subject
// carried). Each ends with the full node's digest, and no validator ever
// accepts a token it has reported blacklisted.
func TestLiveValidatorsThroughFaults(t *testing.T) {
	s := eventstest.RunServer(t)
	quiet := slog.New(slog.DiscardHandler)
	cfg := func(role node.Role, dir string) node.Config {
		c := fleetConfig(role, 1, s)
		c.DataDir, c.Logger = dir, quiet
		c.NATS.StreamInfoInterval = 300 * time.Millisecond
		return c
	}
	full := startNode(t, cfg(node.RoleFull, ""))
	dirs := []string{t.TempDir(), t.TempDir()}
	var watchers []*watcher
	for _, dir := range dirs {
		w := &watcher{reported: map[string]bool{}}
		w.v.Store(startNode(t, cfg(node.RoleValidator, dir)))
		watchers = append(watchers, w)
	}
	js := newStreamWriter(t, s).js

	var mu sync.Mutex
	var acked []string
	write := func(prefix string, n int) {
		t.Helper()
		jtis := blacklistN(t, full.Node, prefix, n)
		mu.Lock()
		acked = append(acked, jtis...)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range watchers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				mu.Lock()
				jtis := acked[max(0, len(acked)-50):]
				mu.Unlock()
				w.check(jtis)
			}
		})
	}
	waitLive := func() {
		t.Helper()
		poll.For(t, waitLong, pollEvery, func() error {
			for i, w := range watchers {
				if fs := w.v.Load().FleetStatus(); !fs.Live || !fs.Ready {
					return fmt.Errorf("validator %d: live %v, ready %v", i, fs.Live, fs.Ready)
				}
			}
			return nil
		})
	}

	write("before", 20)
	waitLive()

	// A gap: the stream stores events without republishing them.
	eventstest.WithoutRepublish(t, js, events.DefaultStreamName, func() {
		write("unrepublished", 5)
		// The publisher drains its outbox on its own: wait until the
		// stream holds them before republishing again.
		poll.For(t, waitLong, pollEvery, func() error {
			if st, err := full.Status(t.Context()); err != nil || st.OutboxDepth != 0 {
				return fmt.Errorf("outbox %d (%v)", st.OutboxDepth, err)
			}
			return nil
		})
	})
	write("after-gap", 5)
	waitHasAll(t, acked, full, watchers[0].v.Load(), watchers[1].v.Load())
	for i, w := range watchers {
		if fs := w.v.Load().FleetStatus(); fs.LiveGaps == 0 {
			t.Errorf("validator %d: no gap counted after unrepublished events", i)
		}
	}
	waitLive()

	// The NATS server restarts while events are written.
	write("before-restart", 10)
	eventstest.RestartServer(t, s)
	write("after-restart", 10)
	waitHasAll(t, acked, full, watchers[0].v.Load(), watchers[1].v.Load())
	waitLive()

	// A validator away while events are written, started again.
	away := watchers[1]
	away.v.Load().stop()
	write("while-away", 50)
	away.v.Store(startNode(t, cfg(node.RoleValidator, dirs[1])))
	write("back", 10)
	waitHasAll(t, acked, full, watchers[0].v.Load(), away.v.Load())
	waitLive()

	close(stop)
	wg.Wait()
	want, err := full.Store().Digest()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range watchers {
		// Blacklistings are in force on arrival (Check saw them all) and
		// committed within PreviewWait: the digest follows.
		poll.For(t, waitLong, pollEvery, func() error {
			if got, err := w.v.Load().Store().Digest(); err != nil || got != want {
				return fmt.Errorf("validator %d: digest %v (%v), full node's %v", i, got, err, want)
			}
			return nil
		})
		if len(w.violated) > 0 {
			t.Errorf("validator %d accepted %d tokens it had reported blacklisted: %v", i, len(w.violated), w.violated[:min(5, len(w.violated))])
		}
		if len(w.reported) == 0 {
			t.Errorf("validator %d: the watcher saw nothing reported", i)
		}
	}
}
