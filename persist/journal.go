package persist

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal keeps token writes cheap. A token record lives in three
// B+trees keyed by random ids (outstanding or blacklisted, by_user, by_exp),
// so writing one in place dirties a page of each: with small groups every
// write costs several 4 KiB pages on disk. Instead a write appends its op to
// a journal bucket (sequential keys: a group of writes shares a page or
// two) in the same fsynced transaction as its outbox entry, and the store
// keeps the op's journal seq in memory, by a hash of its jti (memtable),
// for reads.
//
// There are two journal buckets. One takes new ops; once mergeAt ops have
// gathered in it, a commit freezes it (the other, empty, takes the ops from
// then on) and a background merger folds the frozen bucket into the trees
// in key order, mergeChunk ops per transaction, so that a writer waits at
// most for one chunk; then it drops the frozen bucket. Merging in key order
// shares many ops per page, and merging an op twice changes nothing, so a
// crash mid-merge only repeats work: Open reloads both buckets into memory
// and resumes. Reads that need the trees whole (listings, counts, flush,
// digest, export, Close) merge everything first (settle).
//
// Reads that answer from one jti (IsBlacklisted, Lookup) look in the
// memtable first, then read the ops it names from the journal buckets and
// the trees in one read transaction: an op is in its bucket until the
// transaction that drops the bucket commits, and by then it is in the trees
// too, so a reader never misses one. The filter (filter.go) learns a merged
// key when its chunk commits, before the memtable forgets the op.

// mergeAt is the journal length that freezes it for a merge. Bigger merges
// share more pages per op: ops with random keys touch nearly every leaf of a
// large tree, so a merge costs about the size of the trees, whatever its
// length, and the cost per op falls as the merge grows (a full node taking
// 64 concurrent writers spent a fifth of its CPU on merges at 1<<16 on a
// store of a few hundred thousand ids). The index takes 30-60 B per op.
const mergeAt = 1 << 18

// catchUpMergeAt replaces mergeAt while the stream delivers a backlog in
// large batches (a replay): a fresh validator's trees are then built in one
// merge that only appends, after it is caught up, instead of being
// rewritten by one merge per mergeAt ops while it catches up. It bounds the
// memory the journal's index takes in the meantime (30-60 B per op).
const catchUpMergeAt = 1 << 21

// catchUpBatch is the Apply batch size taken as a sign of a replay (see
// catchUpIdle).
const catchUpBatch = 1024

// mergeChunk is how many ops one merge transaction folds into the trees.
const mergeChunk = 1 << 15

// bucketJournals are the two journal buckets; metaJournal names the one
// taking new ops (0 or 1; 0 when absent).
var (
	bucketJournals = [2][]byte{[]byte("journal"), []byte("journal.1")}
	metaJournal    = []byte("journal_active")
)

// journal is the store's journal (see the top of this file): the two
// buckets that take token ops until they are merged into the trees, the
// memtable that indexes their ops for reads, and the merger that folds a
// frozen bucket into the trees. The store writes ops through it inside
// its write transactions and lets it see each transaction begin and
// commit (Store.prelude, Store.committed).
type journal struct {
	db     *bolt.DB
	commit *committer // the store's: merges commit through it, between writes
	filter *idFilter  // the store's: hashes jtis for the memtable
	log    *slog.Logger

	mem memtable // the ops of both buckets, by jti hash
	// active is the bucket taking new ops (0 or 1; the committer's);
	// frozen is the last key of the bucket waiting for a merge, 0 if none
	active int
	frozen atomic.Uint64
	// legacy is set when the journal may hold entries written before
	// checksums (metaJournalSealed unset when the store opened)
	legacy bool

	mergeMu sync.Mutex    // held by whoever merges the frozen bucket
	merging mergeProgress // how far the merge under mergeMu got
	mergeAt int           // journal length that freezes it (mergeAt; tests lower it)
	chunk   int           // ops per merge transaction (mergeChunk; tests lower it)
	// the merger's: a freeze wakes it; Close stops it and waits for done
	wake, stop, done chan struct{}

	// catchUpAt is when Apply last received a replay-sized batch, or a
	// bulk load committed, as time since epoch (the store's open); 0 if
	// never (see catchingUp)
	catchUpAt atomic.Int64
	epoch     time.Time
	// loading is set while a bulk load writes the bucket not taking ops
	// (bulkload.go); mergeDue when one has committed, and its bucket
	// waits for the merger
	loading, mergeDue atomic.Bool
}

// newJournal returns the journal of the store whose file is db, empty
// until load.
func newJournal(db *bolt.DB, commit *committer, filter *idFilter, log *slog.Logger) *journal {
	return &journal{db: db, commit: commit, filter: filter, log: log, mergeAt: mergeAt, chunk: mergeChunk, epoch: time.Now()}
}

// startMerger starts the merger, waking it at once if a merge was under
// way when the store last closed.
func (j *journal) startMerger() {
	j.wake, j.stop, j.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go j.merger()
	if j.frozen.Load() != 0 {
		j.wake <- struct{}{}
	}
}

// stopMerger stops the merger, between two merge transactions, and waits
// for it to return.
func (j *journal) stopMerger() {
	close(j.stop)
	<-j.done
}

// holdsOps reports whether either journal bucket holds an op.
func (j *journal) holdsOps() bool { return j.frozen.Load() != 0 || j.mem.pending() != 0 }

// blacklisted reports whether a blacklisting of some jti with hash h is
// journaled.
func (j *journal) blacklisted(h uint64) bool { return j.mem.blacklisted(h) }

// refs returns the refs of the journaled ops of the jtis with hash h.
func (j *journal) refs(h uint64) []opRef { return j.mem.refs(nil, h) }

// view runs fn in a read-only transaction, as Store.view.
func (j *journal) view(fn func(tx *bolt.Tx) error) error { return view(j.db, fn) }

// A journal entry is one op (encodeOp), or a block of the ops of one
// Apply (encodeBlock), under the journal's next sequence number (its key).
// An opRef names one journaled op in memory: the key of its entry and its
// slot in the entry and, in the low bit, whether it is a blacklisting,
// packed as key<<(blockBits+1) | slot<<1 | black. Refs order as their ops
// were journaled (the black bit never decides: no two ops share a key and
// a slot), and no ref is 0 (journal keys start at 1). It is never written
// to the file.
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

// blockBits bounds a block to maxBlock ops; the key keeps the other bits.
const (
	blockBits = 20
	maxBlock  = 1 << blockBits
)

// blockOps is how many ops a bulk load's journal entries hold at most.
// bbolt keeps two to four values to a leaf and rewrites a leaf whole when
// it changes, so each entry a transaction appends rewrites the last few
// before it: entries far smaller than a transaction's writes keep that to
// a fraction of them (a bulk load writing one entry a transaction wrote
// three to four times its bytes; 1.3 times with these).
const blockOps = 2048

// blockMarker starts a block; an op starts with its kind, never this.
const blockMarker = 0xb1

// A journal entry is sealed with a checksum: checkMarker, the CRC-32C
// (Castagnoli) of the rest, then the entry (an op or a block). The trees'
// records are covered by the blacklist digest, which a merge updates; the
// checksum covers an op from its commit to its merge, so that a byte
// changed in the journal of a stopped node is found when the store opens
// (and by the merge and fsck) instead of being merged as a different token.
// Entries written before checksums (a file whose journal was not empty when
// this build first opened it) have no marker; metaJournalSealed says when
// every entry is sealed and an entry without the marker is damage.
const (
	checkMarker = 0xc5
	sealLen     = 5
)

// metaJournalSealed is set (to 1) once every journal entry carries a
// checksum: at an open that finds both journal buckets empty.
var metaJournalSealed = []byte("journal_sealed")

// sealEntry returns v with the checksum header in front.
func sealEntry(v []byte) []byte {
	out := make([]byte, sealLen, sealLen+len(v))
	out[0] = checkMarker
	binary.BigEndian.PutUint32(out[1:], crc32.Checksum(v, castagnoli()))
	return append(out, v...)
}

// unsealEntry returns the entry inside v. With verify it checks the
// checksum (on load, merge and fsck; a read of one op does not pay for its
// block's). An entry without the header is accepted only where legacy says
// entries from before checksums may remain.
func unsealEntry(v []byte, verify, legacy bool) ([]byte, error) {
	if len(v) == 0 || v[0] != checkMarker {
		if !legacy {
			return nil, fmt.Errorf("%w: journal entry without its checksum", ErrCorrupt)
		}
		return v, nil
	}
	if len(v) < sealLen {
		return nil, fmt.Errorf("%w: short journal entry", ErrCorrupt)
	}
	if verify {
		if want, got := binary.BigEndian.Uint32(v[1:]), crc32.Checksum(v[sealLen:], castagnoli()); want != got {
			return nil, fmt.Errorf("%w: journal entry checksum %08x, the entry sums to %08x", ErrCorrupt, want, got)
		}
	}
	return v[sealLen:], nil
}

// castagnoli returns the CRC-32C table (crc32 builds it once and keeps it).
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// encodeBlock writes ops as one journal entry: the marker, the count and
// the end offset of each op (4 bytes each, so that any op is found at
// once), then the ops as encodeOp writes them.
func encodeBlock(ops []Op) []byte { return appendBlock(nil, ops) }

// appendBlock appends encodeBlock(ops) to b, growing it once at most.
func appendBlock(b []byte, ops []Op) []byte {
	n := 5 + 4*len(ops)
	for i := range ops {
		n += 1 + maxRecordLen(ops[i].Record)
	}
	b = slices.Grow(b, n)
	at := len(b) // the block's offsets count from its start
	b = append(b, blockMarker)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ops)))
	b = append(b, make([]byte, 4*len(ops))...)
	for i := range ops {
		b = appendRecord(append(b, byte(ops[i].Kind)), ops[i].Record)
		binary.BigEndian.PutUint32(b[at+5+4*i:], uint32(len(b)-at))
	}
	return b
}

// sealedBlock appends sealEntry(encodeBlock(ops)) to b, without a copy.
func sealedBlock(b []byte, ops []Op) []byte {
	at := len(b)
	b = appendBlock(append(b, checkMarker, 0, 0, 0, 0), ops)
	binary.BigEndian.PutUint32(b[at+1:], crc32.Checksum(b[at+sealLen:], castagnoli()))
	return b
}

// entryOps calls fn with the encoding of each op of a journal entry v, in
// order; it stops at fn's first error.
func entryOps(v []byte, fn func(i int, op []byte) error) error {
	n, err := entryLen(v)
	for i := 0; err == nil && i < n; i++ {
		var op []byte
		if op, err = entryOp(v, i); err == nil {
			err = fn(i, op)
		}
	}
	return err
}

// entryLen returns how many ops a journal entry v holds.
func entryLen(v []byte) (int, error) {
	if len(v) == 0 || v[0] != blockMarker {
		return 1, nil
	}
	if len(v) < 5 {
		return 0, fmt.Errorf("%w: short journal block", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(v[1:]))
	if n > maxBlock || 5+4*n > len(v) {
		return 0, fmt.Errorf("%w: journal block of %d ops in %d bytes", ErrCorrupt, n, len(v))
	}
	return n, nil
}

// entryOp returns the encoding of op i of a journal entry v.
func entryOp(v []byte, i int) ([]byte, error) {
	n, err := entryLen(v)
	switch {
	case err != nil:
		return nil, err
	case i >= n:
		return nil, fmt.Errorf("%w: journal op %d of an entry of %d", ErrCorrupt, i, n)
	case len(v) == 0 || v[0] != blockMarker:
		return v, nil // a single op
	}
	start := 5 + 4*n
	if i > 0 {
		start = int(binary.BigEndian.Uint32(v[5+4*(i-1):]))
	}
	end := int(binary.BigEndian.Uint32(v[5+4*i:]))
	if start > end || end > len(v) || start < 5+4*n {
		return nil, fmt.Errorf("%w: journal block op %d spans %d..%d", ErrCorrupt, i, start, end)
	}
	return v[start:end], nil
}

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

func (p refPair) black() bool { return p[0].black() || p[1].black() }

// drop removes the refs of h for seqs ≤ upTo.
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
	mu     sync.RWMutex
	x      refIndex
	bulk   *bulkIndex   // the ops of a bulk load's frozen bucket, if any
	ops    int          // ops in the journal bucket taking new ops
	frozen int          // ops in the other one, when frozen
	black  atomic.Int64 // hashes with a blacklisting in x, plus bulk's; read without the lock
}

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
	return t.ops
}

// commit adds the ops a committed transaction journaled (stage); froze
// says it froze the journal first, so they are all the new bucket holds.
func (t *memtable) commit(stage *refIndex, staged int, froze bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if froze {
		t.ops, t.frozen = 0, t.ops
	}
	t.ops += staged
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
	t.frozen += n
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

// forget drops the refs of seqs ≤ upTo of the hashes hs (a merged journal
// bucket's).
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

// opSlab holds a frozen journal bucket's ops, read in one pass, and their
// order for the merge: by jti, then seq.
type opSlab struct {
	data  []byte
	order []slabOp
}

// slabOp is one op of a slab: where its encoding and its jti lie in data.
type slabOp struct {
	prefix     uint64 // the jti's first 8 bytes, big-endian: most comparisons end here
	ref        opRef  // the op's place in the journal: ops of one jti merge in its order
	start, end int    // the op
	jti, jend  int    // its jti
}

// readFrozen copies the frozen journal bucket (the one not taking new ops)
// into a slab, sorted for the merge: one sequential read instead of a
// lookup per op.
func (j *journal) readFrozen() (*opSlab, error) {
	sl := &opSlab{}
	err := j.view(func(tx *bolt.Tx) error {
		active := 0
		if v := tx.Bucket(bucketMeta).Get(metaJournal); len(v) == 1 && v[0] == 1 {
			active = 1
		}
		b := tx.Bucket(bucketJournals[1-active])
		j.mem.mu.RLock()
		n := j.mem.frozen
		j.mem.mu.RUnlock()
		sl.order = make([]slabOp, 0, n)
		sl.data = make([]byte, 0, n*96)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%w: journal key %x", ErrCorrupt, k)
			}
			key := binary.BigEndian.Uint64(k)
			v, err := unsealEntry(v, true, j.legacy)
			if err != nil {
				return fmt.Errorf("journal entry %x: %w", k, err)
			}
			err = entryOps(v, func(n int, op []byte) error {
				i, j, ok := opJTI(op)
				if !ok {
					return fmt.Errorf("%w: journal entry %x op %d", ErrCorrupt, k, n)
				}
				at := len(sl.data)
				sl.data = append(sl.data, op...)
				var p [8]byte
				copy(p[:], op[i:j])
				sl.order = append(sl.order, slabOp{prefix: binary.BigEndian.Uint64(p[:]), ref: newOpRef(key, n, OpKind(op[0])),
					start: at, end: len(sl.data), jti: at + i, jend: at + j})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(sl.order, func(a, b slabOp) int {
		if a.prefix != b.prefix {
			return cmp.Compare(a.prefix, b.prefix)
		}
		if c := bytes.Compare(sl.data[a.jti:a.jend], sl.data[b.jti:b.jend]); c != 0 {
			return c
		}
		return cmp.Compare(a.ref, b.ref)
	})
	return sl, err
}

// opJTI finds the jti in a journal op's encoding (see encodeOp and
// encodeRecord): v[i:j].
func opJTI(v []byte) (i, j int, ok bool) {
	if len(v) < 2 {
		return 0, 0, false
	}
	i = 2 // kind, record version
	for range 4 {
		_, n := binary.Varint(v[i:])
		if n <= 0 {
			return 0, 0, false
		}
		i += n
	}
	l, n := binary.Uvarint(v[i:])
	if n <= 0 || l > uint64(len(v)-i-n) {
		return 0, 0, false
	}
	i += n
	return i, i + int(l), true
}

// writeTx is a write transaction of the committer: the bbolt transaction,
// and what its requests changed beside the file, which the store publishes
// once it has committed (Store.committed). Only the committing goroutine
// touches it.
type writeTx struct {
	*bolt.Tx
	active int      // journal bucket taking ops in this transaction
	stage  refIndex // ops journaled in this transaction
	staged int
	froze  uint64 // set when this transaction froze the journal: its last seq
	// set when this transaction dropped the frozen bucket: the hashes of
	// the jtis it held, and its last seq
	merged     []uint64
	mergedUpTo uint64
	added      []uint64  // keys added to the blacklisted bucket, by filter hash
	removed    []uint64  // and removed from it
	unoutboxed []uint64  // published outbox entries this transaction deleted
	outbox     [][]byte  // outbox payloads its writes staged (writeOutbox)
	bulk       *BulkLoad // the bulk load this transaction committed
}

// journal appends op to the journal in tx and stages it for the memtable.
func (j *journal) write(tx *writeTx, op Op) error {
	return j.writeEntry(tx, encodeOp(op), []Op{op})
}

// journalBlock appends ops to the journal in tx as blocks of at most
// maxBlock, one entry each, and stages them for the memtable.
func (j *journal) writeBlock(tx *writeTx, ops []Op) error {
	for len(ops) > 0 {
		part := ops[:min(len(ops), maxBlock)]
		ops = ops[len(part):]
		if err := j.writeEntry(tx, encodeBlock(part), part); err != nil {
			return err
		}
	}
	return nil
}

// journalEntry appends v, the encoding of ops, as one journal entry under
// the next journal key, and stages ops for the memtable.
func (j *journal) writeEntry(tx *writeTx, v []byte, ops []Op) error {
	b := tx.Bucket(bucketJournals[tx.active])
	key, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(u64(key), sealEntry(v)); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	for i, op := range ops {
		tx.stage.add(j.filter.hashString(op.Record.JTI), newOpRef(key, i, op.Kind))
	}
	tx.staged += len(ops)
	return nil
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

// freeze hands new ops to the other journal bucket (empty: the last merge
// dropped it), with the sequence carried on so journal seqs only grow.
func (j *journal) freeze(tx *writeTx) error {
	old := tx.Bucket(bucketJournals[tx.active])
	next := 1 - tx.active
	if err := tx.Bucket(bucketJournals[next]).SetSequence(old.Sequence()); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := tx.Bucket(bucketMeta).Put(metaJournal, []byte{byte(next)}); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	tx.froze, tx.active = old.Sequence(), next
	return nil
}

// mergeOps folds ops (of slab) into the trees.
func (j *journal) mergeOps(tx *writeTx, slab *opSlab, ops []slabOp) error {
	batch := make([]Op, 0, len(ops))
	for _, o := range ops {
		op, err := decodeOp(slab.data[o.start:o.end])
		if err != nil {
			return fmt.Errorf("%w: journal entry %x op %d: %w", ErrCorrupt, u64(o.ref.key()), o.ref.slot(), err)
		}
		batch = append(batch, op)
	}
	return j.mergeBatch(tx, batch)
}

// mergeBatch folds decoded journal ops into the trees.
func (j *journal) mergeBatch(tx *writeTx, batch []Op) error {
	added, err := applyRecords(tx.Tx, batch)
	if err != nil {
		return err
	}
	for _, id := range added {
		tx.added = append(tx.added, j.filter.hash(id))
	}
	return nil
}

// dropFrozen empties the frozen journal bucket, whose ops (of the jtis
// with hashes hs, seqs ≤ upTo) are all merged.
func (j *journal) dropFrozen(tx *writeTx, hs []uint64, upTo uint64) error {
	name := bucketJournals[1-tx.active]
	if err := tx.DeleteBucket(name); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := tx.CreateBucket(name); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	tx.merged, tx.mergedUpTo = hs, upTo
	return nil
}

// mergeFrozen merges the frozen journal bucket, if there is one, a chunk
// per transaction, and drops it. A close of stop ends it between chunks;
// the next call resumes where it stopped (j.merging).
func (j *journal) mergeFrozen(stop <-chan struct{}) error {
	j.mergeMu.Lock()
	defer j.mergeMu.Unlock()
	upTo := j.frozen.Load()
	if upTo == 0 {
		return nil
	}
	if j.mem.sortedBulk(upTo) {
		return j.mergeSorted(stop, upTo)
	}
	m := &j.merging
	if m.slab == nil || m.upTo != upTo {
		slab, err := j.readFrozen()
		if err != nil {
			return err
		}
		*m = mergeProgress{upTo: upTo, slab: slab}
	}
	slab := m.slab
	for m.next < len(slab.order) {
		select {
		case <-stop:
			return nil // the next call resumes from m.next
		default:
		}
		chunk := slab.order[m.next:min(m.next+j.chunk, len(slab.order))]
		if err := j.commit.do(func(tx *writeTx) error { return j.mergeOps(tx, slab, chunk) }); err != nil {
			return err
		}
		m.next += len(chunk)
	}
	hs := make([]uint64, len(slab.order))
	for i, o := range slab.order {
		hs[i] = j.filter.hash(slab.data[o.jti:o.jend])
	}
	if err := j.commit.do(func(tx *writeTx) error { return j.dropFrozen(tx, hs, upTo) }); err != nil {
		return err
	}
	*m = mergeProgress{}
	return nil
}

// mergeProgress is how far mergeFrozen got with the frozen bucket of
// upTo, so that a merge stopped between chunks resumes (under mergeMu).
type mergeProgress struct {
	upTo uint64
	slab *opSlab
	next int // first op of slab.order not merged
	// mergeSorted's place instead of a slab: the entry and the op in it
	// to merge next
	key  uint64
	slot int
}

// mergeSorted merges the frozen journal bucket of a bulk load whose ops
// are in strictly ascending jti order (a snapshot's): entry by entry, as
// the bucket holds them, without mergeFrozen's copy of the bucket into a
// slab and its sort. The memtable's bulk index is dropped whole with the
// bucket.
func (j *journal) mergeSorted(stop <-chan struct{}, upTo uint64) error {
	m := &j.merging
	if m.upTo != upTo || m.slab != nil {
		*m = mergeProgress{upTo: upTo}
	}
	for {
		select {
		case <-stop:
			return nil // the next call resumes from m.key, m.slot
		default:
		}
		batch, key, slot, err := j.readSorted(m.key, m.slot, j.chunk)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		if err := j.commit.do(func(tx *writeTx) error { return j.mergeBatch(tx, batch) }); err != nil {
			return err
		}
		m.key, m.slot = key, slot
	}
	// No hash to forget one by one: the memtable holds the bucket's ops in
	// its bulk index only.
	if err := j.commit.do(func(tx *writeTx) error { return j.dropFrozen(tx, []uint64{}, upTo) }); err != nil {
		return err
	}
	*m = mergeProgress{}
	return nil
}

// readSorted decodes up to n ops of the frozen journal bucket, from op
// slot of the first entry at key or after, and returns them with the
// place of the op after them.
func (j *journal) readSorted(key uint64, slot, n int) (ops []Op, nextKey uint64, nextSlot int, err error) {
	nextKey, nextSlot = key, slot
	err = j.view(func(tx *bolt.Tx) error {
		active := 0
		if v := tx.Bucket(bucketMeta).Get(metaJournal); len(v) == 1 && v[0] == 1 {
			active = 1
		}
		c := tx.Bucket(bucketJournals[1-active]).Cursor()
		for k, v := c.Seek(u64(key)); k != nil && len(ops) < n; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%w: journal key %x", ErrCorrupt, k)
			}
			if at := binary.BigEndian.Uint64(k); at != key {
				key, slot = at, 0
			}
			v, err := unsealEntry(v, true, j.legacy)
			if err != nil {
				return fmt.Errorf("journal entry %x: %w", k, err)
			}
			count, err := entryLen(v)
			if err != nil {
				return fmt.Errorf("journal entry %x: %w", k, err)
			}
			end := min(slot+n-len(ops), count)
			for i := slot; i < end; i++ {
				enc, err := entryOp(v, i)
				if err == nil {
					var op Op
					op, err = decodeOp(enc) // copies out of the file's pages
					ops = append(ops, op)
				}
				if err != nil {
					return fmt.Errorf("%w: journal entry %x op %d: %w", ErrCorrupt, k, i, err)
				}
			}
			nextKey, nextSlot = key, end
			if end == count {
				nextKey, nextSlot = key+1, 0
			}
			key, slot = key+1, 0
		}
		return nil
	})
	return ops, nextKey, nextSlot, err
}

// merger runs mergeFrozen whenever a commit freezes the journal, until
// stop is closed. It also freezes a journal that a replay left long (see
// catchUpMergeAt) once the replay has ended, whether or not anything is
// written after it.
func (j *journal) merger() {
	defer close(j.done)
	stop := j.stop
	tick := time.NewTicker(catchUpIdle)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-j.wake:
		case <-tick.C:
			// A bulk load's bucket, frozen as it committed, is merged once
			// the catch-up after it has ended, or has journaled as much as
			// makes a replay freeze (no freeze while it waits).
			if j.mergeDue.Load() && (!j.catchingUp() || j.mem.pending() >= catchUpMergeAt) {
				j.mergeDue.Store(false)
				break
			}
			if j.catchingUp() || !j.freezeDue(j.mergeAt) {
				continue // spare the commit
			}
			if err := j.commit.do(j.freezeIfAt(j.mergeAt)); err != nil {
				j.log.Error("journal freeze failed", "err", err)
				continue
			}
		}
		if err := j.mergeFrozen(stop); err != nil {
			j.log.Error("journal merge failed; reads that need the trees whole will retry it", "err", err)
		}
	}
}

// freezeIfAt returns a transaction func that freezes the journal if
// freezeDue(n) and this transaction has not frozen it yet.
func (j *journal) freezeIfAt(n int) func(tx *writeTx) error {
	return func(tx *writeTx) error {
		if tx.froze > 0 || !j.freezeDue(n) {
			return nil
		}
		return j.freeze(tx)
	}
}

// freezeDue reports whether the journal holds n ops or more, no merge is
// under way and no bulk load writes the other bucket.
func (j *journal) freezeDue(n int) bool {
	return j.frozen.Load() == 0 && !j.loading.Load() && j.mem.pending() >= n
}

// catchUpIdle is how long after its last replay-sized batch the store
// still counts as catching up: a replay's smaller batches in between do not
// end it, and a stream that goes quiet does.
const catchUpIdle = time.Second

// catchingUp reports whether a replay-sized batch arrived within
// catchUpIdle.
func (j *journal) catchingUp() bool {
	at := j.catchUpAt.Load()
	return at != 0 && time.Since(j.epoch)-time.Duration(at) < catchUpIdle
}

// prelude runs first in every write transaction: it writes the deletes
// of published outbox entries, then lets the journal note which bucket
// takes the transaction's ops and freeze it if it is due (journal.prelude).
// The func it returns runs once the transaction has committed.
func (s *Store) prelude(tx *writeTx) (func(), error) {
	if s.published.len() > 0 {
		seqs := s.published.snapshot()
		if err := deleteOutbox(tx.Tx, seqs); err != nil {
			return nil, err
		}
		tx.unoutboxed = seqs
	}
	if err := s.journal.prelude(tx); err != nil {
		return nil, err
	}
	return func() { s.committed(tx) }, nil
}

// committed publishes what the committed transaction t changed.
func (s *Store) committed(t *writeTx) {
	// The filter first: a reader that no longer finds a merged op in the
	// memtable must find its key in the filter.
	s.filter.add(t.added)
	s.filter.remove(t.removed)
	s.journal.committed(t)
	if t.unoutboxed != nil {
		s.published.forget(t.unoutboxed)
	}
	if l := t.bulk; l != nil && l.index != nil {
		s.journal.committedBulk(l.index)
	}
}

// prelude notes in tx the bucket taking new ops and freezes the journal
// once mergeAt ops have gathered (catchUpMergeAt while a replay lasts) and
// no merge is under way (Store.prelude).
func (j *journal) prelude(tx *writeTx) error {
	tx.active = j.active
	limit := j.mergeAt
	if j.catchingUp() {
		limit = max(limit, catchUpMergeAt)
	}
	return j.freezeIfAt(limit)(tx)
}

// committed publishes what the committed transaction t changed in the
// journal: the ops it wrote go to the memtable, a merged bucket leaves it,
// and a freeze wakes the merger (Store.committed, after the filter).
func (j *journal) committed(t *writeTx) {
	if t.staged > 0 || t.froze > 0 {
		j.mem.commit(&t.stage, t.staged, t.froze > 0)
	}
	if t.merged != nil {
		j.mem.forget(t.merged, t.mergedUpTo)
		j.frozen.Store(0)
	}
	j.active = t.active
	if t.froze > 0 {
		j.frozen.Store(t.froze)
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
}

// committedBulk publishes a bulk load that a transaction committed, whose
// ops x indexes: its bucket is the frozen one now. The merge waits, as
// after a replay's batch, until the node has caught up (merger).
func (j *journal) committedBulk(x *bulkIndex) {
	j.noteCatchUp()
	j.mem.addBulk(x, len(x.hs))
	j.frozen.Store(x.last)
	j.mergeDue.Store(true)
}

// noteCatchUp records that a replay-sized batch or a bulk load arrived
// now (see catchingUp).
func (j *journal) noteCatchUp() {
	j.catchUpAt.Store(int64(max(time.Since(j.epoch), 1)))
}

// settle merges the journal into the trees, for reads that need them
// whole. It costs nothing when the journal is empty.
func (j *journal) settle() error {
	if !j.holdsOps() {
		return nil
	}
	if err := j.mergeFrozen(nil); err != nil {
		return err
	}
	if err := j.commit.do(j.freezeIfAt(1)); err != nil {
		return err
	}
	return j.mergeFrozen(nil)
}

// load fills the memtable from both journal buckets and notes a frozen
// one for the merger (on Open, before the merger starts).
func (j *journal) load() error {
	return j.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaJournal); len(v) == 1 && v[0] == 1 {
			j.active = 1
		}
		j.legacy = !journalSealed(tx)
		for _, i := range []int{1 - j.active, j.active} {
			var stage refIndex
			n := 0
			var last uint64
			err := tx.Bucket(bucketJournals[i]).ForEach(func(k, v []byte) error {
				if len(k) != 8 {
					return fmt.Errorf("%w: journal key %x", ErrCorrupt, k)
				}
				last = binary.BigEndian.Uint64(k)
				v, err := unsealEntry(v, true, j.legacy)
				if err != nil {
					return fmt.Errorf("journal entry %x: %w", k, err)
				}
				return entryOps(v, func(slot int, enc []byte) error {
					// Only the kind and the jti: the merge decodes the rest.
					from, to, ok := opJTI(enc)
					if !ok || (OpKind(enc[0]) != OpOutstanding && OpKind(enc[0]) != OpBlacklist) {
						return fmt.Errorf("%w: journal entry %x op %d", ErrCorrupt, k, slot)
					}
					stage.add(j.filter.hash(enc[from:to]), newOpRef(last, slot, OpKind(enc[0])))
					n++
					return nil
				})
			})
			if err != nil {
				return err
			}
			if i == j.active {
				j.mem.commit(&stage, n, false)
			} else {
				j.mem.commit(&stage, 0, false)
				j.mem.frozen = n
				j.frozen.Store(last)
			}
		}
		return nil
	})
}

// journalSealed reports whether every journal entry of the file carries a
// checksum (metaJournalSealed).
func journalSealed(tx *bolt.Tx) bool {
	v := tx.Bucket(bucketMeta).Get(metaJournalSealed)
	return len(v) == 1 && v[0] == 1
}

// sealJournal marks the journal sealed when both its buckets are empty
// (a new file, or one whose journal was merged whole): from then on every
// entry carries a checksum.
func sealJournal(tx *bolt.Tx) error {
	if journalSealed(tx) {
		return nil
	}
	for _, name := range bucketJournals {
		if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
			return nil
		}
	}
	return tx.Bucket(bucketMeta).Put(metaJournalSealed, []byte{1})
}

// encodeOp is the journal's form of a record op: its kind, then the record.
func encodeOp(op Op) []byte {
	return appendRecord([]byte{byte(op.Kind)}, op.Record)
}

func decodeOp(b []byte) (Op, error) {
	if len(b) == 0 || (OpKind(b[0]) != OpOutstanding && OpKind(b[0]) != OpBlacklist) {
		return Op{}, fmt.Errorf("%w: unknown journal op", ErrCorrupt)
	}
	r, err := decodeRecord(b[1:])
	if err != nil {
		return Op{}, err
	}
	return Op{Kind: OpKind(b[0]), Record: r}, nil
}
