package persist

import (
	"encoding/binary"
	"fmt"
	"log/slog"
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
// keeps the op's place in the journal (an opRef) in memory, by a hash of its jti (memtable),
// for reads.
//
// There are two journal buckets. One takes new ops; once mergeAt ops have
// gathered in it, a commit freezes it (the other, empty, takes the ops from
// then on) and a background merger folds the frozen bucket into the trees
// in key order, mergeChunk ops per transaction, so that a writer waits at
// most for one chunk; then it drops the frozen bucket. Merging in key order
// shares many ops per page, and merging an op twice changes nothing, so a
// crash mid-merge only repeats work: Open reloads both buckets into memory
// and resumes. Reads that need the trees whole (listings, flush, export,
// Close) merge everything first (settle); Counts and Digest read the
// journal beside the trees instead, without merging (meta.go).
//
// Reads that answer from one jti (IsBlacklisted, Lookup) look in the
// memtable first, then read the ops it names from the journal buckets and
// the trees in one read transaction: an op is in its bucket until the
// transaction that drops the bucket commits, and by then it is in the trees
// too, so a reader never misses one. The filter (filter.go) learns a merged
// key when its chunk commits, before the memtable forgets the op.

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
	// frozenUpTo is the last key of the bucket waiting for a merge (the
	// frozen one), 0 if none
	active     int
	frozenUpTo atomic.Uint64
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
	if j.frozenUpTo.Load() != 0 {
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
func (j *journal) holdsOps() bool { return j.frozenUpTo.Load() != 0 || j.mem.pending() != 0 }

// blacklisted reports whether a blacklisting of some jti with hash h is
// journaled.
func (j *journal) blacklisted(h uint64) bool { return j.mem.blacklisted(h) }

// refs returns the refs of the journaled ops of the jtis with hash h.
func (j *journal) refs(h uint64) []opRef { return j.mem.refs(nil, h) }

// view runs fn in a read-only transaction, as Store.view.
func (j *journal) view(fn func(tx *bolt.Tx) error) error { return view(j.db, fn) }

// metaJournalSealed is set (to 1) once every journal entry carries a
// checksum: at an open that finds both journal buckets empty.
var metaJournalSealed = []byte("journal_sealed")

// write appends op to the journal in tx and stages it for the memtable.
func (j *journal) write(tx *writeTx, op Op) error {
	return j.writeEntry(tx, encodeOp(op), []Op{op})
}

// writeBlock appends ops to the journal in tx as blocks of at most
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

// writeEntry appends v, the encoding of ops, as one journal entry under
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

// freeze hands new ops to the other journal bucket (empty: the last merge
// dropped it), with the sequence carried on so journal keys only grow.
func (j *journal) freeze(tx *writeTx) error {
	old := tx.Bucket(bucketJournals[tx.active])
	next := 1 - tx.active
	if err := tx.Bucket(bucketJournals[next]).SetSequence(old.Sequence()); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := tx.Bucket(bucketMeta).Put(metaJournal, []byte{byte(next)}); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	tx.frozeUpTo, tx.active = old.Sequence(), next
	return nil
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
	if t.staged > 0 || t.frozeUpTo > 0 {
		j.mem.commit(&t.stage, t.staged, t.frozeUpTo > 0)
	}
	if t.merged != nil {
		j.mem.forget(t.merged, t.mergedUpTo)
		j.frozenUpTo.Store(0)
	}
	j.active = t.active
	if t.frozeUpTo > 0 {
		j.frozenUpTo.Store(t.frozeUpTo)
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
	j.frozenUpTo.Store(x.last)
	j.mergeDue.Store(true)
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
				j.mem.frozenOps = n
				j.frozenUpTo.Store(last)
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
