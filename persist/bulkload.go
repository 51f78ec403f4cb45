package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// A bulk load fills an empty store with a replica's whole set at once: a
// validator joining from a snapshot. It is the journal's write path (see
// journal.go) made atomic and cheaper for a set that arrives in one piece:
//
//   - The ops go to the journal bucket that is not taking ops (empty: the
//     store is), as blocks of up to blockOps ops, one transaction per Add,
//     under keys reserved in the other bucket's sequence, so that journal
//     keys stay unique across both buckets. Nothing else writes that
//     bucket while the load is under way: the journal is not frozen then.
//   - Nothing of it is visible until Commit: the memtable learns its ops
//     (from an index the load builds as it goes) only when the transaction
//     that records the applied sequence has committed, and that
//     transaction makes the bucket the frozen one, which the merger folds
//     into the trees once the node has caught up, as it does a replay's.
//   - Abort, or an Open after a crash before Commit (the meta key
//     metaBulkLoad names the bucket), drops the bucket: the store is as
//     empty as it was. A bulk load never leaves a part of its set behind.
//
// User and family revocations are few beside tokens: the load keeps them
// in memory and writes them in Commit's transaction.

// ErrNotEmpty is returned by BeginBulkLoad when the store holds anything
// already, or another bulk load is under way.
var ErrNotEmpty = errors.New("persist: store not empty")

// metaBulkLoad is present while a bulk load writes a journal bucket: the
// bucket's index (0 or 1), then the first key it reserved (8 bytes, big
// endian). Open drops the bucket of a load that never committed.
var metaBulkLoad = []byte("bulk_load")

// bulkKeys is how many journal keys a bulk load reserves: one an entry
// (of up to blockOps ops), far more than any load takes.
const bulkKeys = 1 << 20

// BulkLoad is a bulk load under way (BeginBulkLoad). Its methods are not
// safe for concurrent use; the store's other methods are, beside it.
type BulkLoad struct {
	s      *Store
	bucket int        // the journal bucket it writes
	next   uint64     // the key of its next entry
	limit  uint64     // one past its last reserved key
	refs   []bulkRef  // its record ops, in journal order
	index  *bulkIndex // refs grouped by hash, once it commits
	// unsorted is set once a record op's jti does not sort after the one
	// before it (lastJTI)
	unsorted bool
	lastJTI  string
	revs     []Revocation
	buf      []byte // the entry being written (bbolt holds it until its commit)
	done     bool   // committed or aborted
}

// BeginBulkLoad starts a bulk load into the store, which must be empty: no
// record, revocation or journaled op, applied sequence 0. hint is how many
// ops are expected (sizes the load's index; 0 when unknown). Every
// BeginBulkLoad that succeeds is ended by Commit or Abort.
func (s *Store) BeginBulkLoad(hint int) (*BulkLoad, error) {
	if !s.journal.loading.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: a bulk load is under way", ErrNotEmpty)
	}
	l := &BulkLoad{s: s}
	if hint > 0 {
		l.refs = make([]bulkRef, 0, min(hint, maxBulkHint))
	}
	err := s.commit.do(func(tx *writeTx) error {
		if err := s.checkEmpty(tx); err != nil {
			return err
		}
		active := tx.Bucket(bucketJournals[tx.active])
		seq := active.Sequence()
		if err := active.SetSequence(seq + bulkKeys); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		l.bucket, l.next, l.limit = 1-tx.active, seq+1, seq+1+bulkKeys
		return tx.Bucket(bucketMeta).Put(metaBulkLoad, append([]byte{byte(l.bucket)}, u64(l.next)...))
	})
	if err != nil {
		s.journal.loading.Store(false)
		return nil, err
	}
	return l, nil
}

// maxBulkHint caps the index BeginBulkLoad sizes up front.
const maxBulkHint = 1 << 24

// checkEmpty returns ErrNotEmpty unless tx (a write transaction of the
// committer) sees an empty store.
func (s *Store) checkEmpty(tx *writeTx) error {
	m := tx.Bucket(bucketMeta)
	for _, k := range [][]byte{metaAppliedSeq, metaNumOutstanding, metaNumBlacklisted, metaNumRevoked} {
		if getU64(m, k) != 0 {
			return fmt.Errorf("%w: %s is %d", ErrNotEmpty, k, getU64(m, k))
		}
	}
	for _, name := range bucketJournals {
		if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
			return fmt.Errorf("%w: the journal holds ops", ErrNotEmpty)
		}
	}
	if tx.staged > 0 || s.journal.holdsOps() || s.pending.v.Load() != 0 {
		return fmt.Errorf("%w: ops are being written", ErrNotEmpty)
	}
	return nil
}

// Add writes ops, as Apply would apply them, in one transaction, invisible
// until Commit. An invalid op fails the call (wrapping ErrInvalidRecord)
// and writes nothing of it; the load should then be aborted. Add keeps no
// reference to ops or their strings.
func (l *BulkLoad) Add(ops []Op) error {
	if l.done {
		return fmt.Errorf("persist: bulk load already ended")
	}
	s := l.s
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case OpOutstanding, OpBlacklist:
			if op.Record.Token != "" || op.Record.CreatedAt == 0 {
				op.Record = s.prepare(op.Record) // in place otherwise: a copy of a record costs a write barrier a string
			}
			if op.Kind == OpOutstanding {
				op.Record.BlacklistedAt = 0
			}
			if err := op.Record.validate(); err != nil {
				return fmt.Errorf("persist: bulk load: op %d: %w", i, err)
			}
			if op.Kind == OpBlacklist && op.Record.BlacklistedAt == 0 {
				return fmt.Errorf("persist: bulk load: op %d: %w: blacklisting without a time", i, ErrInvalidRecord)
			}
		case OpRevoke:
			if err := op.Revocation.validate(); err != nil {
				return fmt.Errorf("persist: bulk load: op %d: %w", i, err)
			}
		default:
			return fmt.Errorf("persist: bulk load: op %d: %w: unknown kind %d", i, ErrInvalidRecord, op.Kind)
		}
	}
	for len(ops) > 0 {
		// A run of record ops is written in one transaction; the
		// revocations between are kept for Commit.
		if ops[0].Kind == OpRevoke {
			r := ops[0].Revocation
			r.User, r.Family, r.Origin = strings.Clone(r.User), strings.Clone(r.Family), strings.Clone(r.Origin)
			r.ID = strings.Clone(r.ID)
			l.s.noteRevocation(r)
			l.revs = append(l.revs, r)
			ops = ops[1:]
			continue
		}
		n := 1
		for n < len(ops) && ops[n].Kind != OpRevoke {
			n++
		}
		if err := l.write(ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// write writes record ops in one transaction, as journal entries of up to
// blockOps ops, and indexes them.
func (l *BulkLoad) write(ops []Op) error {
	entries := (len(ops) + blockOps - 1) / blockOps
	if l.next+uint64(entries) > l.limit {
		return fmt.Errorf("persist: bulk load: more than %d journal entries", bulkKeys)
	}
	l.buf = l.buf[:0]
	ends := make([]int, 0, entries) // where each entry ends in buf
	for i := 0; i < len(ops); i += blockOps {
		l.buf = sealedBlock(l.buf, ops[i:min(i+blockOps, len(ops))])
		ends = append(ends, len(l.buf))
	}
	s, first := l.s, l.next
	err := s.commit.do(func(tx *writeTx) error {
		b := tx.Bucket(bucketJournals[l.bucket])
		start := 0
		for i, end := range ends {
			if err := b.Put(u64(first+uint64(i)), l.buf[start:end]); err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			start = end
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.next += uint64(entries)
	for i := range ops {
		jti := ops[i].Record.JTI
		key := first + uint64(i/blockOps)
		l.refs = append(l.refs, bulkRef{s.filter.hashString(jti), newOpRef(key, i%blockOps, ops[i].Kind)})
		if !l.unsorted && len(l.refs) > 1 && jti <= l.lastJTI {
			l.unsorted = true
		}
		l.lastJTI = jti
	}
	l.lastJTI = strings.Clone(l.lastJTI) // not the caller's memory
	return nil
}

// Commit makes the load's ops visible and records appliedSeq as the last
// applied stream sequence and stream as the identity of the stream it
// counts in (as SetApplied), in one transaction with the load's user and
// family revocations. A crash before it leaves the store empty; after it,
// the store holds the whole set. After an error the load should be
// aborted.
func (l *BulkLoad) Commit(appliedSeq uint64, stream string) error {
	if l.done {
		return fmt.Errorf("persist: bulk load already ended")
	}
	s := l.s
	if len(l.refs) > 0 && l.index == nil {
		l.index = newBulkIndex(l.refs, l.next-1)
		l.index.sorted = !l.unsorted
		l.refs = nil
	}
	err := s.commit.do(func(tx *writeTx) error {
		for _, r := range l.revs {
			if _, err := putRevocation(tx.Tx, r); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaAppliedSeq, u64(appliedSeq)); err != nil {
			return err
		}
		if err := m.Delete(metaBulkLoad); err != nil {
			return err
		}
		tx.bulk = l
		if stream == "" {
			return m.Delete(metaAppliedStream)
		}
		return m.Put(metaAppliedStream, []byte(stream))
	})
	if err != nil {
		return err
	}
	l.end()
	return nil
}

// Abort drops what the load wrote: the store is as empty as it was. It is
// idempotent, and does nothing after Commit.
func (l *BulkLoad) Abort() error {
	if l.done {
		return nil
	}
	l.end()
	return l.s.commit.do(func(tx *writeTx) error { return dropUnfinishedBulkLoad(tx.Tx) })
}

// end ends the load: another may begin.
func (l *BulkLoad) end() {
	l.done, l.revs, l.buf, l.refs, l.index = true, nil, nil, nil, nil
	l.s.journal.loading.Store(false)
}

// dropUnfinishedBulkLoad drops what a bulk load that did not commit
// wrote (Abort; Open, after a crash or a Close before Commit, before the
// journal is loaded): it empties its journal bucket, gives back the keys
// it reserved unless the other bucket has taken keys after them, and
// removes metaBulkLoad.
func dropUnfinishedBulkLoad(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(metaBulkLoad)
	if v == nil {
		return nil
	}
	if len(v) != 9 || v[0] > 1 {
		return fmt.Errorf("%w: bulk load key %x", ErrCorrupt, v)
	}
	i, first := int(v[0]), binary.BigEndian.Uint64(v[1:])
	name := bucketJournals[i]
	if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := tx.CreateBucket(name); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if other := tx.Bucket(bucketJournals[1-i]); other.Sequence() == first-1+bulkKeys {
		if err := other.SetSequence(first - 1); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return meta.Delete(metaBulkLoad)
}
