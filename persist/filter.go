package persist

import (
	"hash/maphash"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// idFilter is an exact in-memory index of the blacklisted bucket's keys by
// a keyed 64-bit hash: count[h] is how many stored blacklisted jtis hash to
// h. A jti whose hash is absent is certainly not in the bucket, so the
// check of an unrevoked token (most checks) needs no read transaction and
// no page of the file; a present hash is confirmed in the bucket. It costs
// about 20 bytes per blacklisted entry. Open builds it from the bucket; the
// committer's after func applies each transaction's additions and removals
// once the transaction has committed, additions before the merged ops leave
// the memtable (see journal.go), so a reader never misses an entry.
type idFilter struct {
	seed   maphash.Seed
	shards [filterShards]filterShard
}

const filterShards = 64

type filterShard struct {
	mu sync.RWMutex
	n  map[uint64]uint32
	_  [40]byte // keep hot shards on separate cache lines
}

// loadFilter builds the filter from the blacklisted bucket (on Open).
func (s *Store) loadFilter() error {
	return s.db.View(func(tx *bolt.Tx) error {
		// Sized for what the bucket holds: maps that grow step by step
		// leave their old tables behind as garbage, and the process's
		// memory keeps the high-water mark.
		s.filter = newIDFilter(int(getU64(tx.Bucket(bucketMeta), metaNumBlacklisted)))
		var hs []uint64
		c := tx.Bucket(bucketBlacklisted).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			hs = append(hs, s.filter.hash(k))
			if len(hs) == 4096 {
				s.filter.add(hs)
				hs = hs[:0]
			}
		}
		s.filter.add(hs)
		return nil
	})
}

func newIDFilter(size int) *idFilter {
	f := &idFilter{seed: maphash.MakeSeed()}
	for i := range f.shards {
		f.shards[i].n = make(map[uint64]uint32, size/filterShards+size/filterShards/8)
	}
	return f
}

func (f *idFilter) hash(jti []byte) uint64 { return maphash.Bytes(f.seed, jti) }

func (f *idFilter) shard(h uint64) *filterShard { return &f.shards[h%filterShards] }

// has reports whether a blacklisted jti may hash to h.
func (f *idFilter) has(h uint64) bool {
	s := f.shard(h)
	s.mu.RLock()
	_, ok := s.n[h]
	s.mu.RUnlock()
	return ok
}

func (f *idFilter) add(hs []uint64) {
	for _, h := range hs {
		s := f.shard(h)
		s.mu.Lock()
		s.n[h]++
		s.mu.Unlock()
	}
}

func (f *idFilter) remove(hs []uint64) {
	for _, h := range hs {
		s := f.shard(h)
		s.mu.Lock()
		if c := s.n[h]; c > 1 {
			s.n[h] = c - 1
		} else {
			delete(s.n, h)
		}
		s.mu.Unlock()
	}
}
