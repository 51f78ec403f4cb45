package node

import "sync"

// ownEvents holds the ids of the token events (outstanding, blacklist) this
// node committed to its store with their outbox entry, until they come back
// from the stream. A full node follows the stream it publishes to, and
// applying its own event again would journal the record a second time (and
// its audit entry): under load the applier's batches are too large for the
// store's "changes nothing" check, so every write was written twice. The
// applier skips an event it finds here. Skipping is applying: the store
// holds what the event holds since the write committed, and the merge rule
// makes a second apply change nothing, whatever came in between.
//
// Only ids this process made enter the set, so an event of a store that
// was rebuilt, or of another node with the same node id, is never skipped.
// The set is bounded: past two generations of ownGeneration ids (an event
// stream down for long) the oldest are forgotten, and those events are
// applied as any other, which is what happened before the set existed.
type ownEvents struct {
	mu       sync.Mutex
	cur, old map[string]struct{}
}

// ownGeneration is how many ids a generation of ownEvents holds.
const ownGeneration = 1 << 16

// add remembers id, before its write commits.
func (o *ownEvents) add(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.cur) >= ownGeneration {
		o.old, o.cur = o.cur, nil
	}
	if o.cur == nil {
		o.cur = make(map[string]struct{}, 1024)
	}
	o.cur[id] = struct{}{}
}

// forget drops id: its write failed or changed nothing, so no event of it
// was published.
func (o *ownEvents) forget(id string) { o.take(id) }

// take reports whether id is one of this node's committed events, and
// forgets it.
func (o *ownEvents) take(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.cur[id]; ok {
		delete(o.cur, id)
		return true
	}
	if _, ok := o.old[id]; ok {
		delete(o.old, id)
		return true
	}
	return false
}
