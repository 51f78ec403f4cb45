package node

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/node/token"
)

// openConformanceNode opens a node without NATS on dir, closed by the
// returned function or at cleanup, whichever comes first.
func openConformanceNode(t testing.TB, dir string) (*Node, func()) {
	t.Helper()
	n, err := New(Config{DataDir: dir, Token: token.Config{HSSecret: []byte("k")}, NATS: NATSConfig{Disabled: true},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var once sync.Once
	closeN := func() {
		once.Do(func() {
			if err := n.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(closeN)
	return n, closeN
}

// The node's store-backed adapters keep the contracts of events.Applier and
// events.Outbox: the suites the test doubles pass.
func TestStoreApplierConformance(t *testing.T) {
	eventstest.TestApplier(t, func(t testing.TB, dir string) (events.Applier, func()) {
		n, closeN := openConformanceNode(t, dir)
		return &applier{n: n}, closeN
	})
}

func TestStoreOutboxConformance(t *testing.T) {
	eventstest.TestOutbox(t, func(t testing.TB, dir string) (events.Outbox, func(...[]byte) error, func()) {
		n, closeN := openConformanceNode(t, dir)
		add := func(evs ...[]byte) error {
			for _, e := range evs {
				if err := n.store.AppendOutbox(e); err != nil {
					return err
				}
			}
			return nil
		}
		return outbox{n.store}, add, closeN
	})
}
