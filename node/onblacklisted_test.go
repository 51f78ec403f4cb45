package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// seenInForce records what a validator's Config.OnBlacklisted reported and
// what the validator's Check answered at that moment.
type seenInForce struct {
	node atomic.Pointer[node.Node]
	mu   sync.Mutex
	seen map[string]bool // jti → Check's answer when reported
}

func (s *seenInForce) report(jti string) {
	n := s.node.Load()
	ok := false
	if n != nil {
		ok, _ = n.Check(jti)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if had, dup := s.seen[jti]; dup {
		ok = ok && had
	}
	s.seen[jti] = ok
}

// wait waits until every jti has been reported, and fails the test for
// any reported while Check did not answer true.
func (s *seenInForce) wait(t *testing.T, jtis []string) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, jti := range jtis {
			if _, ok := s.seen[jti]; !ok {
				return fmt.Errorf("%s not reported yet (%d of %d)", jti, len(s.seen), len(jtis))
			}
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, jti := range jtis {
		if !s.seen[jti] {
			t.Errorf("%s reported by OnBlacklisted while Check answered false", jti)
		}
	}
}

// startReporting starts a validator whose OnBlacklisted reports to a new
// seenInForce, set before the node runs so that no report misses it.
func startReporting(t *testing.T, s *server.Server) *seenInForce {
	t.Helper()
	r := &seenInForce{seen: map[string]bool{}}
	cfg := fleetConfig(node.RoleValidator, 1, s)
	cfg.DataDir, cfg.Token, cfg.FlushInterval = t.TempDir(), token.Config{HSSecret: secret}, -1
	cfg.OnBlacklisted = r.report
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.node.Store(n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		n.Close()
	})
	return r
}

// TestOnBlacklistedReportsWhatIsInForce: the hook reports every
// blacklisting a validator receives, live (previewed on arrival) and
// replayed (in force from its batch's commit), and Check answers true for
// it from the moment it is reported.
func TestOnBlacklistedReportsWhatIsInForce(t *testing.T) {
	s := eventstest.RunServer(t)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	live := startReporting(t, s)
	waitHasAll(t, blacklistN(t, full.Node, "warm", 1), full)
	poll.For(t, waitLong, pollEvery, func() error {
		if n := live.node.Load(); !n.Ready() {
			return errors.New("the live validator is not ready")
		}
		return nil
	})
	first := blacklistN(t, full.Node, "live", 200)
	live.wait(t, first)

	// A validator started now replays them all from the stream.
	replayed := startReporting(t, s)
	replayed.wait(t, first)
	second := blacklistN(t, full.Node, "after", 50)
	live.wait(t, second)
	replayed.wait(t, second)
}
