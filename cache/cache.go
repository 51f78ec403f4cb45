// Package cache is the ristretto cache in front of blnode's store, and the
// rule that keeps it correct while the store changes underneath it.
//
// A Cache maps a key (a token id, a user id) to the answer a loader gave
// for it. A miss — absent, evicted, dropped or stale — always means "ask the
// loader", never "no": ristretto's Set of a new key is asynchronous and may
// be dropped, so the cache can only ever save a store read, not replace one.
//
// The danger is a stale answer: a checker that read "not blacklisted" from
// the store just before a blacklist committed, and then caches it. Cache
// prevents it with per-shard epochs. Every key hashes to one of Shards
// epochs. Get reads the key's epoch before it asks the loader and caches the
// answer with that epoch; a cached answer counts only while its epoch is
// still current. A writer calls Invalidate for every key it changed after
// its commit and before it tells anyone the write succeeded; Invalidate bumps
// the epochs, so an answer read before the commit can no longer be served.
//
// # Caveats
//
//   - New starts ristretto's own goroutines; Close stops them.
//   - Invalidate must run after the change is committed: invalidating first
//     leaves a window in which a checker can cache the old answer under the
//     new epoch.
//   - An Invalidate invalidates every key in the same shard, so a busy
//     writer costs checkers some extra misses, never a wrong answer.
package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("cache: closed")

// Config sizes a Cache. The zero value is ready to use.
type Config struct {
	// MaxEntries is how many answers the cache keeps (default 1<<20).
	MaxEntries int64
	// Shards is the number of epochs, rounded up to a power of two
	// (default a quarter of MaxEntries, from 16 to 4096: each takes a
	// cache line).
	Shards int
}

// Stats counts what Get did.
type Stats struct {
	Hits   uint64 // answered from the cache
	Misses uint64 // asked the loader
}

// Loader answers a key from the store.
type Loader[V any] func(key string) (V, error)

type entry[V any] struct {
	epoch uint64
	val   V
}

// Cache is a read-through cache of V values with epoch invalidation. It is
// safe for concurrent use.
type Cache[V any] struct {
	rc     *ristretto.Cache[string, entry[V]]
	load   Loader[V]
	seed   maphash.Seed
	mask   uint64
	epochs []paddedEpoch
	closed atomic.Bool
	hits   atomic.Uint64
	misses atomic.Uint64
}

// paddedEpoch keeps hot epochs on separate cache lines.
type paddedEpoch struct {
	atomic.Uint64
	_ [56]byte
}

// New returns a cache that answers misses with load.
func New[V any](load Loader[V], c Config) (*Cache[V], error) {
	if load == nil {
		return nil, errors.New("cache: nil loader")
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 1 << 20
	}
	if c.Shards <= 0 {
		c.Shards = int(min(max(c.MaxEntries/4, 16), 4096))
	}
	shards := 1
	for shards < c.Shards {
		shards <<= 1
	}
	rc, err := ristretto.NewCache(&ristretto.Config[string, entry[V]]{
		NumCounters:        c.MaxEntries * 10,
		MaxCost:            c.MaxEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Cache[V]{
		rc:     rc,
		load:   load,
		seed:   maphash.MakeSeed(),
		mask:   uint64(shards - 1),
		epochs: make([]paddedEpoch, shards),
	}, nil
}

func (c *Cache[V]) epoch(key string) *paddedEpoch {
	return &c.epochs[maphash.String(c.seed, key)&c.mask]
}

// Get returns key's answer: from the cache when a current one is there,
// otherwise from the loader, caching what it says. Loader errors are
// returned as they are and never cached.
func (c *Cache[V]) Get(key string) (V, error) {
	ep := c.epoch(key)
	e := ep.Load()
	if v, ok := c.rc.Get(key); ok && v.epoch == e {
		c.hits.Add(1)
		return v.val, nil
	}
	c.misses.Add(1)
	if c.closed.Load() {
		var zero V
		return zero, ErrClosed
	}
	val, err := c.load(key)
	if err != nil {
		return val, err
	}
	c.rc.Set(key, entry[V]{epoch: e, val: val}, 1)
	return val, nil
}

// Invalidate makes every cached answer for keys stale. Call it after the
// change to those keys is committed and before the change is acknowledged.
func (c *Cache[V]) Invalidate(keys ...string) {
	for _, k := range keys {
		c.epoch(k).Add(1)
	}
}

// InvalidateAll makes every cached answer stale.
func (c *Cache[V]) InvalidateAll() {
	for i := range c.epochs {
		c.epochs[i].Add(1)
	}
}

// Wait blocks until the Sets made so far have been applied or dropped.
// Tests use it; the check path never needs it.
func (c *Cache[V]) Wait() { c.rc.Wait() }

// Stats returns the hit and miss counts since New.
func (c *Cache[V]) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// Close stops the cache's goroutines. It is idempotent; Get afterwards
// answers hits it still has and ErrClosed for misses.
func (c *Cache[V]) Close() {
	if c.closed.CompareAndSwap(false, true) {
		c.rc.Close()
	}
}
