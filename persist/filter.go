package persist

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// idFilter is an exact in-memory index of the blacklisted bucket's keys by
// a keyed 64-bit hash: a multiset holding one hash per stored blacklisted
// jti. A jti whose hash is absent is certainly not in the bucket, so the
// check of an unrevoked token (most checks) needs no read transaction and
// no page of the file; a present hash is confirmed in the bucket. Each
// shard is an open-addressing table of hashes (linear probing, at most 3/4
// full), about 11-16 bytes per blacklisted entry. Open builds it from the
// bucket; the store's committed hook (Store.committed) applies each
// transaction's additions and removals once the transaction has committed,
// additions before the merged ops leave the memtable (see journal.go), so
// a reader never misses an entry.
type idFilter struct {
	seed   maphash.Seed
	shards [filterShards]filterShard
}

// filterShards is a power of two; a hash's top bits pick its shard and its
// low bits its slot.
const filterShards = 64

type filterShard struct {
	mu    sync.RWMutex
	slots []uint64 // 0 is empty; hashes are never 0 (see hash)
	n     int
	_     [24]byte // keep hot shards on separate cache lines
}

func newIDFilter(size int) *idFilter {
	f := &idFilter{seed: maphash.MakeSeed()}
	per := size / filterShards
	for i := range f.shards {
		f.shards[i].slots = make([]uint64, tableSize(per))
	}
	return f
}

// tableSize is the smallest power of two (at least 16) that holds n hashes
// at most 3/4 full.
func tableSize(n int) int {
	c := 16
	for c*3 < n*4 {
		c *= 2
	}
	return c
}

func (f *idFilter) hash(jti []byte) uint64 {
	if h := maphash.Bytes(f.seed, jti); h != 0 {
		return h
	}
	return 1
}

// hashString is hash of a jti held as a string (maphash gives the same
// value for the same bytes), without converting it.
func (f *idFilter) hashString(jti string) uint64 {
	if h := maphash.String(f.seed, jti); h != 0 {
		return h
	}
	return 1
}

func (f *idFilter) shard(h uint64) *filterShard { return &f.shards[h>>58] }

// has reports whether a blacklisted jti may hash to h.
func (f *idFilter) has(h uint64) bool {
	s := f.shard(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			return false
		case h:
			return true
		}
	}
}

func (f *idFilter) add(hs []uint64) {
	for _, h := range hs {
		s := f.shard(h)
		s.mu.Lock()
		if (s.n+1)*4 > len(s.slots)*3 {
			s.grow()
		}
		s.insert(h)
		s.n++
		s.mu.Unlock()
	}
}

func (s *filterShard) insert(h uint64) {
	mask := uint64(len(s.slots) - 1)
	i := h & mask
	for s.slots[i] != 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = h
}

func (s *filterShard) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	for _, h := range old {
		if h != 0 {
			s.insert(h)
		}
	}
}

// remove takes one copy of each hash out (linear probing with backward
// shift: the entries after it move up, so no probe chain breaks).
func (f *idFilter) remove(hs []uint64) {
	for _, h := range hs {
		s := f.shard(h)
		s.mu.Lock()
		s.delete(h)
		s.mu.Unlock()
	}
}

func (s *filterShard) delete(h uint64) {
	mask := uint64(len(s.slots) - 1)
	i := h & mask
	for {
		switch s.slots[i] {
		case 0:
			return // not present
		case h:
			s.n--
			for j := (i + 1) & mask; s.slots[j] != 0; j = (j + 1) & mask {
				home := s.slots[j] & mask
				// The entry at j may fill the hole at i if its probe
				// from home to j passes i.
				if (i <= j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
					s.slots[i], i = s.slots[j], j
				}
			}
			s.slots[i] = 0
			return
		}
		i = (i + 1) & mask
	}
}

// loadFilter builds the filter from the blacklisted bucket, first thing on
// Open, before anything is written to the file. The same walk recomputes
// the blacklist digest and count and compares them with those every write
// kept in meta: a key or record changed outside this package (a flipped
// bit, an edit of the file) would otherwise un-revoke a token silently, and
// the open fails with ErrDamaged instead. The journal's ops not yet merged
// need no care: a merge changes the bucket, the count and the digest in one
// transaction, so the three always agree on disk. Then it walks every other
// bucket once, so that a damaged page faults now, under guard (guard.go),
// and not at its first read or write. A bucket that does not exist yet (a
// new file, or one from an older version) is skipped, as is the digest of a
// file from before it existed.
func (s *Store) loadFilter() error {
	return s.db.View(func(tx *bolt.Tx) error {
		if k := rootOutOfOrder(tx); k != nil {
			return fmt.Errorf("%w: %s: bucket names out of order at %q", ErrDamaged, s.db.Path(), k)
		}
		var kept, got Digest
		checkDigest := false
		if meta := tx.Bucket(bucketMeta); meta != nil {
			kept = Digest{Count: getU64(meta, metaNumBlacklisted), Sum: getU64(meta, metaDigest)}
			checkDigest = meta.Get(metaDigest) != nil
		}
		s.filter = newIDFilter(int(min(kept.Count, 1<<26)))
		if b := tx.Bucket(bucketBlacklisted); b != nil {
			var hs []uint64
			var prev []byte
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if bytes.Compare(prev, k) >= 0 {
					return fmt.Errorf("%w: %s: blacklisted keys out of order at %q", ErrDamaged, s.db.Path(), k)
				}
				prev = k
				got.Count++
				if exp, ok := storedExp(v); ok {
					got.Sum += digestHash(string(k), exp)
				}
				hs = append(hs, s.filter.hash(k))
				if len(hs) == 4096 {
					s.filter.add(hs)
					hs = hs[:0]
				}
			}
			s.filter.add(hs)
		}
		if checkDigest && got != kept {
			return fmt.Errorf("%w: blacklist digest %v kept by the writes, %v recomputed from the records in %s",
				ErrDamaged, kept, got, s.db.Path())
		}
		if meta := tx.Bucket(bucketMeta); meta != nil && meta.Get(metaRevDigest) != nil && tx.Bucket(bucketUserRevoked) != nil {
			kept := Digest{Count: getU64(meta, metaNumRevoked), Sum: getU64(meta, metaRevDigest)}
			if got := recomputeRevDigest(tx); got != kept {
				return fmt.Errorf("%w: user and family revocations' digest %v kept by the writes, %v recomputed from the entries in %s",
					ErrDamaged, kept, got, s.db.Path())
			}
		}
		// A cursor walk: tens of ns a key.
		for _, name := range [][]byte{bucketOutstanding, bucketByUser, bucketByExp, bucketUserRevoked, bucketOutbox, bucketMeta,
			bucketJournals[0], bucketJournals[1]} {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			k, sink := outOfOrder(b)
			s.touched ^= sink // keeps the reads
			if k != nil {
				return fmt.Errorf("%w: %s: %s keys out of order at %q", ErrDamaged, s.db.Path(), name, k)
			}
		}
		return nil
	})
}

// rootOutOfOrder returns the first top-level bucket name that does not
// sort after the one before it, or nil: bbolt finds a bucket by binary
// search, and a damaged name would hide its neighbours.
func rootOutOfOrder(tx *bolt.Tx) []byte {
	var prev []byte
	c := tx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return k
		}
		prev = k
	}
	return nil
}

// outOfOrder walks b's keys and returns the first that does not sort after
// the one before it, or nil. It reads the first and last byte of every
// value too: a damaged length that puts a value past the file's end faults
// here, under guard, rather than at its first read.
func outOfOrder(b *bolt.Bucket) (k []byte, sink byte) {
	var prev []byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return k, sink
		}
		if len(v) > 0 {
			sink ^= v[0] ^ v[len(v)-1]
		}
		prev = k
	}
	return nil, sink
}
