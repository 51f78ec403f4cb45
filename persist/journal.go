package persist

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The journal keeps token writes cheap. A token record lives in three
// B+trees keyed by random ids (outstanding or blacklisted, by_user, by_exp),
// so writing one in place dirties a page of each: with small groups every
// write costs several 4 KiB pages on disk. Instead a write appends its op to
// the journal bucket (sequential keys: a group of writes shares a page or
// two) in the same fsynced transaction as its outbox entry, and the store
// keeps the op in memory (memtable) for reads. Ops are merged into the
// trees in large sorted batches (applyRecords) once mergeAt have gathered,
// when a read needs the trees whole (listings, counts, flush, digest,
// export) and on Close; a merge shares many ops per page. Open reloads the
// journal into memory, so a crash loses nothing acknowledged.
//
// Reads that answer from one jti (IsBlacklisted, Lookup) look in the
// memtable first and then in the filter (filter.go) or a read transaction
// of the trees; a merge commits the trees, and updates the filter, before
// it drops the merged ops from memory, so a reader never misses an op in
// between.

// mergeAt is the journal length that triggers a merge. Bigger merges share
// more pages per op and hold the writers longer.
const mergeAt = 1 << 16

// catchUpMergeAt replaces mergeAt while the stream delivers a backlog in
// large batches (a replay): fewer, larger merges rewrite each tree page
// fewer times, and the ops journaled since the last of them are merged
// after the replica is ready (by its next commit, read or Close).
const catchUpMergeAt = 1 << 18

// catchUpBatch is the Apply batch size taken as a sign of a replay.
const catchUpBatch = 1024

// memEntry is what the journal holds for one jti: the winners, under each
// bucket's merge rule, of its journaled ops.
type memEntry struct {
	out, black       Record
	hasOut, hasBlack bool
	seq              uint64 // highest journal seq of its ops
}

// add folds op into e under the merge rules.
func (e *memEntry) add(op Op, seq uint64) {
	out := op.Record
	out.BlacklistedAt, out.Reason = 0, ""
	if !e.hasOut || outstandingWins(out, e.out) {
		e.out, e.hasOut = out, true
	}
	if op.Kind == OpBlacklist && (!e.hasBlack || blacklistedWins(op.Record, e.black)) {
		e.black, e.hasBlack = op.Record, true
	}
	e.seq = max(e.seq, seq)
}

// absorb folds o (a later entry for the same jti) into e.
func (e *memEntry) absorb(o *memEntry) {
	if o.hasOut && (!e.hasOut || outstandingWins(o.out, e.out)) {
		e.out, e.hasOut = o.out, true
	}
	if o.hasBlack && (!e.hasBlack || blacklistedWins(o.black, e.black)) {
		e.black, e.hasBlack = o.black, true
	}
	e.seq = max(e.seq, o.seq)
}

// memtable is the journal's ops in memory, by jti.
type memtable struct {
	mu    sync.RWMutex
	m     map[string]*memEntry
	ops   int          // journal entries not yet merged
	black atomic.Int64 // entries with a blacklisting; read without the lock
}

// get returns a copy of jti's entry.
func (t *memtable) get(jti string) (memEntry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.m[jti]
	if !ok {
		return memEntry{}, false
	}
	return *e, true
}

func (t *memtable) blacklisted(jti string) bool {
	if t.black.Load() == 0 {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.m[jti]
	return ok && e.hasBlack
}

func (t *memtable) pending() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ops
}

// commit applies what a committed transaction did: drop the entries merged
// into the trees (seq ≤ merged), then add the ops it journaled.
func (t *memtable) commit(merged uint64, stage map[string]*memEntry, staged int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	black := t.black.Load()
	if merged > 0 {
		for k, e := range t.m {
			if e.seq <= merged {
				if e.hasBlack {
					black--
				}
				delete(t.m, k)
			}
		}
		t.ops = 0
	}
	t.ops += staged
	for k, e := range stage {
		if e.seq <= merged {
			continue
		}
		if t.m == nil {
			t.m = make(map[string]*memEntry, len(stage))
		}
		cur, ok := t.m[k]
		switch {
		case !ok:
			t.m[k] = e
			if e.hasBlack {
				black++
			}
		case !cur.hasBlack && e.hasBlack:
			black++
			fallthrough
		default:
			cur.absorb(e)
		}
	}
	if len(t.m) == 0 {
		t.m = nil
	}
	t.black.Store(black)
}

// txState is what the transaction being committed changed in the journal;
// only the committing goroutine touches it (the committer's prelude resets
// it, its after func publishes it to the memtable).
type txState struct {
	stage  map[string]*memEntry // ops journaled in this transaction
	staged int                  // of those, ops journaled after its merge
	merged uint64               // highest journal seq merged into the trees; 0 if none
	// keys added to and removed from the blacklisted bucket, by filter hash
	added, removed []uint64
}

// journal appends op to the journal in tx and stages it for the memtable.
func (s *Store) journal(tx *bolt.Tx, op Op) error {
	b := tx.Bucket(bucketJournal)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(u64(seq), encodeOp(op)); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if s.tx.stage == nil {
		s.tx.stage = make(map[string]*memEntry)
	}
	stageOp(s.tx.stage, op, seq)
	s.tx.staged++
	return nil
}

// stageOp folds op, journaled under seq, into its jti's entry of stage.
func stageOp(stage map[string]*memEntry, op Op, seq uint64) {
	e := stage[op.Record.JTI]
	if e == nil {
		e = &memEntry{}
		stage[op.Record.JTI] = e
	}
	e.add(op, seq)
}

// current returns the winning record of bucket (blacklisted or
// outstanding) for jti among the journal entries given (see known) and the
// tree as tx sees it.
func current(tx *bolt.Tx, known []memEntry, black bool, jti string) (Record, bool, error) {
	var best Record
	have := false
	take := func(e memEntry) {
		r, ok := e.out, e.hasOut
		wins := outstandingWins
		if black {
			r, ok, wins = e.black, e.hasBlack, blacklistedWins
		}
		if ok && (!have || wins(r, best)) {
			best, have = r, true
		}
	}
	for _, e := range known {
		take(e)
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
		take(memEntry{out: r, hasOut: !black, black: r, hasBlack: black})
	}
	return best, have, nil
}

// known returns what the journal holds for jti: ops staged in the
// committing transaction (stage; only the committer passes one) and the
// memtable. A reader calls it before it opens its read transaction (see
// the top of this file).
func (s *Store) known(stage map[string]*memEntry, jti string) []memEntry {
	var out []memEntry
	if e, ok := stage[jti]; ok {
		out = append(out, *e)
	}
	if e, ok := s.mem.get(jti); ok {
		out = append(out, e)
	}
	return out
}

// mergeJournal merges every journaled op into the trees, in key order, and
// empties the journal.
func (s *Store) mergeJournal(tx *bolt.Tx) error {
	b := tx.Bucket(bucketJournal)
	var ops []Op
	var last uint64
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		op, err := decodeOp(v)
		if err != nil {
			// A journal entry is written by this build in a committed
			// transaction; one that does not decode is a damaged file.
			return fmt.Errorf("%w: journal entry %x: %w", ErrCorrupt, k, err)
		}
		ops = append(ops, op)
		if len(k) == 8 {
			last = binary.BigEndian.Uint64(k)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	added, err := applyRecords(tx, ops)
	if err != nil {
		return err
	}
	for _, id := range added {
		s.tx.added = append(s.tx.added, s.filter.hash(id))
	}
	// Dropping the bucket frees its pages at once; the sequence carries
	// on, so journal seqs only grow.
	seq := b.Sequence()
	if err := tx.DeleteBucket(bucketJournal); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	nb, err := tx.CreateBucket(bucketJournal)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := nb.SetSequence(seq); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	s.tx.merged = max(s.tx.merged, last)
	s.tx.staged = 0
	return nil
}

// prelude runs first in every write transaction: it resets the
// transaction's journal state, writes the deletes of published outbox
// entries and merges the journal once mergeAt ops have gathered. The func it
// returns runs once the transaction has committed.
func (s *Store) prelude(tx *bolt.Tx) (func(), error) {
	s.tx = txState{}
	var seqs []uint64
	if s.published.len() > 0 {
		seqs = s.published.snapshot()
		if err := deleteOutbox(tx, seqs); err != nil {
			return nil, err
		}
	}
	limit := s.mergeAt
	if s.catchingUp.Load() {
		limit = max(limit, catchUpMergeAt)
	}
	if s.mem.pending() >= limit {
		if err := s.mergeJournal(tx); err != nil {
			return nil, err
		}
	}
	return func() {
		if seqs != nil {
			s.published.forget(seqs)
		}
		// The filter first: a reader that misses a merged op in the
		// memtable must find its key in the filter (filter.go).
		s.filter.add(s.tx.added)
		s.filter.remove(s.tx.removed)
		if s.tx.merged > 0 || s.tx.staged > 0 {
			s.mem.commit(s.tx.merged, s.tx.stage, s.tx.staged)
		}
		s.tx = txState{}
	}, nil
}

// settle merges the journal into the trees, for reads that need them
// whole. It costs nothing when the journal is empty.
func (s *Store) settle() error {
	if s.mem.pending() == 0 {
		return nil
	}
	return s.commit.do(s.mergeJournal)
}

// loadJournal fills the memtable from the journal (on Open).
func (s *Store) loadJournal() error {
	return s.db.View(func(tx *bolt.Tx) error {
		stage := map[string]*memEntry{}
		n := 0
		err := tx.Bucket(bucketJournal).ForEach(func(k, v []byte) error {
			op, err := decodeOp(v)
			if err != nil || len(k) != 8 {
				return fmt.Errorf("%w: journal entry %x: %v", ErrCorrupt, k, err)
			}
			stageOp(stage, op, binary.BigEndian.Uint64(k))
			n++
			return nil
		})
		if err != nil {
			return err
		}
		s.mem.commit(0, stage, n)
		return nil
	})
}

// encodeOp is the journal's form of a record op: its kind, then the record.
func encodeOp(op Op) []byte {
	r := encodeRecord(op.Record)
	b := make([]byte, 0, 1+len(r))
	return append(append(b, byte(op.Kind)), r...)
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
