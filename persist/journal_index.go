package persist

import (
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// An opRef names one journaled op in memory: the key of its entry (see
// journal_encoding.go), its slot in the entry and, in the low bit, whether
// it is a blacklisting, packed as key<<(blockBits+1) | slot<<1 | black.
// Refs order as their ops were journaled (the black bit never decides: no
// two ops share a key and a slot), and no ref is 0 (journal keys start at
// 1). It is never written to the file.
type opRef uint64

// newOpRef returns the ref of op slot of the journal entry at key, an op
// of kind.
func newOpRef(key uint64, slot int, kind OpKind) opRef {
	ref := opRef(key<<(blockBits+1) | uint64(slot)<<1)
	if kind == OpBlacklist {
		ref |= 1
	}
	return ref
}

// key returns the key of the ref's journal entry.
func (r opRef) key() uint64 { return uint64(r) >> (blockBits + 1) }

// slot returns the op's place in its journal entry.
func (r opRef) slot() int { return int(r>>1) & (maxBlock - 1) }

// black reports whether the op is a blacklisting.
func (r opRef) black() bool { return r&1 == 1 }

// refIndex maps a jti's filter hash to the refs of its journaled ops,
// oldest first. Keyed by hash, it holds no pointers for the garbage
// collector to scan; two jtis that share a hash share an entry, and a
// reader tells their ops apart by the jti each op carries.
type refIndex struct {
	m    map[uint64]refPair
	more map[uint64][]opRef // refs after the first two (rare)
}

// refPair holds up to two refs; 0 is none.
type refPair [2]opRef

// add appends ref to the refs of h.
func (x *refIndex) add(h uint64, ref opRef) {
	if x.m == nil {
		x.m = make(map[uint64]refPair)
	}
	p := x.m[h]
	switch {
	case p[0] == 0:
		p[0] = ref
	case p[1] == 0:
		p[1] = ref
	default:
		if x.more == nil {
			x.more = make(map[uint64][]opRef)
		}
		x.more[h] = append(x.more[h], ref)
		return
	}
	x.m[h] = p
}

// refs appends the refs of h to dst.
func (x *refIndex) refs(dst []opRef, h uint64) []opRef {
	p, ok := x.m[h]
	if !ok {
		return dst
	}
	for _, r := range p {
		if r != 0 {
			dst = append(dst, r)
		}
	}
	return append(dst, x.more[h]...)
}

// black reports whether a ref of h is a blacklisting (without allocating:
// the check path asks).
func (x *refIndex) black(h uint64) bool {
	if x.m[h].black() {
		return true
	}
	for _, r := range x.more[h] {
		if r.black() {
			return true
		}
	}
	return false
}

// black reports whether either ref is a blacklisting.
func (p refPair) black() bool { return p[0].black() || p[1].black() }

// drop removes the refs of h to entries with keys ≤ upTo.
func (x *refIndex) drop(h, upTo uint64) {
	all := x.refs(nil, h)
	delete(x.m, h)
	delete(x.more, h)
	for _, r := range all {
		if r.key() > upTo {
			x.add(h, r)
		}
	}
}

// memtable indexes the journal's ops by jti hash.
type memtable struct {
	mu        sync.RWMutex
	x         refIndex
	bulk      *bulkIndex   // the ops of a bulk load's frozen bucket, if any
	activeOps int          // ops in the journal bucket taking new ops
	frozenOps int          // ops in the other one, when frozen
	black     atomic.Int64 // hashes with a blacklisting in x, plus bulk's; read without the lock
}

// refs appends the refs of h, the bulk index's too, to dst.
func (t *memtable) refs(dst []opRef, h uint64) []opRef {
	t.mu.RLock()
	defer t.mu.RUnlock()
	dst = t.x.refs(dst, h)
	if t.bulk != nil {
		dst = t.bulk.appendRefs(dst, h)
	}
	return dst
}

// blacklisted reports whether a blacklisting of some jti with hash h is
// journaled.
func (t *memtable) blacklisted(h uint64) bool {
	if t.black.Load() == 0 {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.x.black(h) || t.bulk != nil && t.bulk.blacklisted(h)
}

// pending returns how many ops the journal bucket taking new ops holds.
func (t *memtable) pending() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.activeOps
}

// commit adds the ops a committed transaction journaled (stage); froze
// says it froze the journal first, so they are all the new bucket holds.
func (t *memtable) commit(stage *refIndex, staged int, froze bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if froze {
		t.activeOps, t.frozenOps = 0, t.activeOps
	}
	t.activeOps += staged
	t.merge(stage)
}

// sortedBulk reports whether the frozen journal bucket, whose last key is
// upTo, is a bulk load's whose ops are in strictly ascending jti order.
func (t *memtable) sortedBulk(upTo uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.bulk != nil && t.bulk.sorted && t.bulk.last == upTo
}

// addBulk adds the n ops of a bulk load, which the committed transaction
// made the frozen journal bucket, indexed by x. No bucket was frozen
// before (BeginBulkLoad), so no other bulk index is there.
func (t *memtable) addBulk(x *bulkIndex, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.frozenOps += n
	t.bulk = x
	t.black.Add(x.black)
}

// merge adds the refs of stage (under mu).
func (t *memtable) merge(stage *refIndex) {
	black := t.black.Load()
	var refs []opRef
	for h, p := range stage.m {
		if _, ok := t.x.m[h]; !ok && stage.more[h] == nil {
			// A jti new to the memtable, with one or two ops: most of them.
			if t.x.m == nil {
				t.x.m = make(map[uint64]refPair, len(stage.m))
			}
			t.x.m[h] = p
			if p.black() {
				black++
			}
			continue
		}
		was := t.x.black(h)
		refs = stage.refs(refs[:0], h)
		for _, r := range refs {
			t.x.add(h, r)
		}
		if !was && t.x.black(h) {
			black++
		}
	}
	t.black.Store(black)
}

// forget drops the refs to entries with keys ≤ upTo of the hashes hs (a
// merged journal bucket's).
func (t *memtable) forget(hs []uint64, upTo uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	black := t.black.Load()
	for _, h := range hs {
		if _, ok := t.x.m[h]; !ok {
			continue // none of its refs are here (a bulk load's, or dropped already)
		}
		was := t.x.black(h)
		t.x.drop(h, upTo)
		if was && !t.x.black(h) {
			black--
		}
	}
	if len(t.x.m) == 0 {
		t.x = refIndex{} // let the maps' memory go
	}
	if t.bulk != nil && t.bulk.last <= upTo {
		black -= t.bulk.black
		t.bulk = nil // all its ops are merged
	}
	t.black.Store(black)
}

// journalOp reads the op of ref from whichever journal bucket holds it; ok
// is false once it has been merged and its bucket dropped.
func journalOp(tx *bolt.Tx, ref opRef) (op Op, ok bool, err error) {
	k := u64(ref.key())
	for _, name := range bucketJournals {
		if v := tx.Bucket(name).Get(k); v != nil {
			v, err := unsealEntry(v, false, true)
			var enc []byte
			if err == nil {
				enc, err = entryOp(v, ref.slot())
			}
			if err == nil {
				op, err = decodeOp(enc)
			}
			if err != nil {
				return Op{}, false, fmt.Errorf("%w: journal entry %x: %w", ErrCorrupt, k, err)
			}
			return op, true, nil
		}
	}
	return Op{}, false, nil
}

// current returns the winning record of bucket (blacklisted or
// outstanding) for jti among the journaled ops refs names (see known) and
// the tree, as tx sees them.
func current(tx *bolt.Tx, refs []opRef, black bool, jti string) (Record, bool, error) {
	var best Record
	have := false
	take := func(r Record) {
		wins := outstandingWins
		if black {
			wins = blacklistedWins
		} else {
			r.BlacklistedAt, r.Reason = 0, ""
		}
		if !have || wins(r, best) {
			best, have = r, true
		}
	}
	for _, ref := range refs {
		if black && !ref.black() {
			continue // an outstanding op carries no blacklisting
		}
		op, ok, err := journalOp(tx, ref)
		if err != nil {
			return Record{}, false, err
		}
		if ok && op.Record.JTI == jti {
			take(op.Record)
		}
	}
	bucket := bucketOutstanding
	if black {
		bucket = bucketBlacklisted
	}
	if v := tx.Bucket(bucket).Get([]byte(jti)); v != nil {
		r, err := decodeStored([]byte(jti), v)
		if err != nil {
			return Record{}, false, wrapKey(err, []byte(jti))
		}
		take(r)
	}
	return best, have, nil
}

// known returns the refs of the journaled ops of jti (and of any jti
// sharing its hash): those staged in the committing transaction (stage;
// only the committer passes one) and the memtable's. A reader calls it
// before it opens its read transaction (see the top of this file).
func (j *journal) known(stage *refIndex, jti string) []opRef {
	h := j.filter.hashString(jti)
	var out []opRef
	if stage != nil {
		out = stage.refs(out, h)
	}
	return j.mem.refs(out, h)
}
