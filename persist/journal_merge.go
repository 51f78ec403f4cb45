package persist

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

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

// opSlab holds a frozen journal bucket's ops, read in one pass, and their
// order for the merge: by jti, then journal order (opRef).
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
		n := j.mem.frozenOps
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
// with hashes hs, keys ≤ upTo) are all merged.
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
	upTo := j.frozenUpTo.Load()
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
		if tx.frozeUpTo > 0 || !j.freezeDue(n) {
			return nil
		}
		return j.freeze(tx)
	}
}

// freezeDue reports whether the journal holds n ops or more, no merge is
// under way and no bulk load writes the other bucket.
func (j *journal) freezeDue(n int) bool {
	return j.frozenUpTo.Load() == 0 && !j.loading.Load() && j.mem.pending() >= n
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
