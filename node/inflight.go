package node

import (
	"sync"
	"sync/atomic"
)

// inflight holds the jtis of blacklist events a replica has received but
// not yet committed. The check path answers "blacklisted" for them at once,
// so an event is in force on a validator as soon as it arrives, not one
// fsync later: the event is already durable in the stream, and a token that
// is rejected a commit early is rejected correctly. The set is empty almost
// always; a check then pays one atomic load.
type inflight struct {
	n    atomic.Int64 // entries in set; read without the lock
	mu   sync.RWMutex
	set  map[string]int // jti → how many batches in flight hold it
	peak int            // the most entries set has held since it was made
}

// inflightKeep is the most entries a set may have held and be kept once
// empty: live batches reuse it, a catch-up's large one is let go.
const inflightKeep = 4096

// has reports whether jti is in flight.
func (f *inflight) has(jti string) bool {
	if f.n.Load() == 0 {
		return false
	}
	f.mu.RLock()
	_, ok := f.set[jti]
	f.mu.RUnlock()
	return ok
}

// add puts jtis in flight; every add is undone by a remove of the same ids.
func (f *inflight) add(jtis ...string) {
	if len(jtis) == 0 {
		return
	}
	f.mu.Lock()
	if f.set == nil {
		f.set = make(map[string]int, len(jtis))
	}
	for _, j := range jtis {
		f.set[j]++
	}
	f.peak = max(f.peak, len(f.set))
	f.n.Store(int64(len(f.set)))
	f.mu.Unlock()
}

// remove takes jtis out of flight once their batch is committed (and the
// cache told) or has failed.
func (f *inflight) remove(jtis []string) {
	if len(jtis) == 0 {
		return
	}
	f.mu.Lock()
	for _, j := range jtis {
		if c := f.set[j]; c > 1 {
			f.set[j] = c - 1
		} else {
			delete(f.set, j)
		}
	}
	if len(f.set) == 0 && f.peak > inflightKeep {
		f.set, f.peak = nil, 0 // a catch-up batch grew it large
	}
	f.n.Store(int64(len(f.set)))
	f.mu.Unlock()
}
