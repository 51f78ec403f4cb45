package events_test

import (
	"sync"
	"testing"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
)

// The test doubles keep the contracts of events.Applier and events.Outbox
// (the node runs the same suites over its store-backed adapters). Their
// state lives in memory, keyed by dir, so that opening dir again is a
// restart.

func TestMemApplierConformance(t *testing.T) {
	var mu sync.Mutex
	replicas := map[string]*memApplier{}
	eventstest.TestApplier(t, func(_ testing.TB, dir string) (events.Applier, func()) {
		mu.Lock()
		defer mu.Unlock()
		if replicas[dir] == nil {
			replicas[dir] = newApplier(0)
		}
		return replicas[dir], func() {}
	})
}

func TestMemOutboxConformance(t *testing.T) {
	var mu sync.Mutex
	outboxes := map[string]*memOutbox{}
	eventstest.TestOutbox(t, func(_ testing.TB, dir string) (events.Outbox, func(...[]byte) error, func()) {
		mu.Lock()
		defer mu.Unlock()
		if outboxes[dir] == nil {
			outboxes[dir] = newOutbox()
		}
		o := outboxes[dir]
		return o, func(evs ...[]byte) error { o.Add(evs...); return nil }, func() {}
	})
}
