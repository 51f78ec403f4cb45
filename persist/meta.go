package persist

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Counts are the store's entry counts, kept in step with every write.
type Counts struct {
	Outstanding     uint64
	Blacklisted     uint64
	Outbox          uint64
	UserRevocations uint64
	AppliedSeq      uint64 // last applied stream sequence
}

// Counts returns the entry counts and the last applied stream sequence:
// the counts a merge of the journal would leave, read without one. It
// neither settles, freezes nor merges the journal (a metrics scrape calls
// it): the trees' counters are read with what the journal adds to them
// (journalDelta), in one read transaction.
func (s *Store) Counts() (Counts, error) {
	var c Counts
	err := s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		jd, err := s.journalDelta(tx)
		if err != nil {
			return err
		}
		c = Counts{
			Outstanding:     getU64(m, metaNumOutstanding) + jd.outstanding,
			Blacklisted:     getU64(m, metaNumBlacklisted) + jd.blacklisted,
			Outbox:          s.outboxDepth(m),
			UserRevocations: getU64(m, metaNumRevoked),
			AppliedSeq:      s.appliedSeq(getU64(m, metaAppliedSeq)),
		}
		return nil
	})
	return c, err
}

// OutboxDepth returns the outbox's depth alone (Counts.Outbox): the
// outbox's counter less the entries published and not yet deleted, without
// Counts' read of the journal.
func (s *Store) OutboxDepth() (uint64, error) {
	var n uint64
	err := s.view(func(tx *bolt.Tx) error {
		n = s.outboxDepth(tx.Bucket(bucketMeta))
		return nil
	})
	return n, err
}

func (s *Store) outboxDepth(meta *bolt.Bucket) uint64 {
	n := getU64(meta, metaNumOutbox)
	return n - min(uint64(s.published.events()), n)
}

// journalDelta is what merging the journal would add to the trees'
// counters and to the blacklist digest's sum (mod 2^64).
type journalDelta struct {
	outstanding, blacklisted uint64
	digest                   uint64
}

// journalCounts caches journalDelta's answer for one committed state of
// the file (a bbolt transaction id): until the next write commits, a
// scrape reads it at no cost.
type journalCounts struct {
	mu    sync.Mutex
	txid  int
	valid bool
	delta journalDelta
}

// journalDelta returns what a merge of the journal buckets would add to
// the trees' counters and digest, as tx sees them, without merging: the
// jtis the journal holds that the trees do not, and the change of each
// journaled blacklisting to the record it would leave (the merge rule of
// applyRecords, the frozen bucket's ops before the active one's). A
// chunk of a frozen bucket merged already is in the trees and counts
// once. A bucket a bulk load is writing is not counted (its ops are not
// the store's until the load commits). Its cost grows with the journal,
// not with the trees; the answer is cached until the next commit.
func (s *Store) journalDelta(tx *bolt.Tx) (journalDelta, error) {
	jc := &s.journalCounts
	jc.mu.Lock()
	defer jc.mu.Unlock()
	if jc.valid && jc.txid == tx.ID() {
		return jc.delta, nil
	}
	meta := tx.Bucket(bucketMeta)
	active := 0
	if v := meta.Get(metaJournal); len(v) == 1 && v[0] == 1 {
		active = 1
	}
	loading := -1
	if v := meta.Get(metaBulkLoad); len(v) > 0 {
		loading = int(v[0])
	}
	var d journalDelta
	outTree := tx.Bucket(bucketOutstanding)
	seen := map[string]struct{}{}
	var order []string          // blacklisted jtis, in journal order
	best := map[string]Record{} // each one's winning journaled blacklisting
	for _, i := range [2]int{1 - active, active} {
		if i == loading {
			continue
		}
		c := tx.Bucket(bucketJournals[i]).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			v, err := unsealEntry(v, false, s.journal.legacy)
			if err != nil {
				return journalDelta{}, fmt.Errorf("journal entry %x: %w", k, err)
			}
			err = entryOps(v, func(n int, enc []byte) error {
				i, j, ok := opJTI(enc)
				if !ok {
					return fmt.Errorf("%w: journal entry %x op %d", ErrCorrupt, k, n)
				}
				jti := enc[i:j]
				if _, ok := seen[string(jti)]; !ok {
					seen[string(jti)] = struct{}{}
					if outTree.Get(jti) == nil {
						d.outstanding++
					}
				}
				if OpKind(enc[0]) != OpBlacklist {
					return nil
				}
				op, err := decodeOp(enc)
				if err != nil {
					return fmt.Errorf("%w: journal entry %x op %d: %w", ErrCorrupt, k, n, err)
				}
				if cur, ok := best[op.Record.JTI]; !ok {
					best[op.Record.JTI] = op.Record
					order = append(order, op.Record.JTI)
				} else if blacklistedWins(op.Record, cur) {
					best[op.Record.JTI] = op.Record
				}
				return nil
			})
			if err != nil {
				return journalDelta{}, err
			}
		}
	}
	blackTree := tx.Bucket(bucketBlacklisted)
	for _, jti := range order {
		rec := best[jti]
		v := blackTree.Get([]byte(jti))
		if v == nil {
			d.blacklisted++
			d.digest += digestHash(rec.JTI, rec.ExpiresAt)
			continue
		}
		orig, err := decodeStored([]byte(jti), v)
		if err != nil { // a corrupt record loses to any new one, and is counted already
			d.digest += digestHash(rec.JTI, rec.ExpiresAt)
		} else if blacklistedWins(rec, orig) {
			d.digest += digestHash(rec.JTI, rec.ExpiresAt) - digestHash(orig.JTI, orig.ExpiresAt)
		}
	}
	jc.txid, jc.valid, jc.delta = tx.ID(), true, d
	return d, nil
}

// AppliedSeq returns the last stream sequence recorded by Apply.
func (s *Store) AppliedSeq() (uint64, error) {
	var seq uint64
	err := s.view(func(tx *bolt.Tx) error {
		seq = s.appliedSeq(getU64(tx.Bucket(bucketMeta), metaAppliedSeq))
		return nil
	})
	return seq, err
}

// appliedSeq is the later of the stored and the pending sequence.
func (s *Store) appliedSeq(stored uint64) uint64 { return max(stored, s.pending.v.Load()) }

// metaAppliedStream holds the identity of the stream the applied sequence
// counts in, as given to SetApplied (absent when none was given).
var metaAppliedStream = []byte("applied_stream")

// AppliedStream returns the identity of the stream the applied sequence
// counts in, as last given to SetApplied: opaque to the store, and "" when
// none was recorded (a new store, or one written before identities were).
// Apply leaves it.
func (s *Store) AppliedStream() (string, error) {
	var stream string
	err := s.view(func(tx *bolt.Tx) error {
		stream = string(tx.Bucket(bucketMeta).Get(metaAppliedStream))
		return nil
	})
	return stream, err
}

// SetApplied records seq as the last applied stream sequence, even if it
// is lower than the present one, and stream as the identity of the stream
// it counts in ("" removes it), in one transaction: used to rebuild from a
// stream's start, and to note which stream a replica follows.
func (s *Store) SetApplied(seq uint64, stream string) error {
	s.pending.v.Store(0)
	return s.commit.do(func(tx *writeTx) error {
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaAppliedSeq, u64(seq)); err != nil {
			return err
		}
		if stream == "" {
			return m.Delete(metaAppliedStream)
		}
		return m.Put(metaAppliedStream, []byte(stream))
	})
}

// NodeID returns the node id kept in the store, storing one the first
// time: the one the marker kept (a rebuilt store keeps its node's id), or
// else gen(). The marker keeps it too.
func (s *Store) NodeID(gen func() string) (string, error) {
	s.markerMu.Lock()
	defer s.markerMu.Unlock()
	var id string
	err := s.commit.do(func(tx *writeTx) error {
		m := tx.Bucket(bucketMeta)
		if v := m.Get(metaNodeID); len(v) > 0 {
			id = string(v)
			return nil
		}
		if id = s.markerID; id == "" {
			id = gen()
		}
		if id == "" {
			return fmt.Errorf("%w: empty node id", ErrInvalidRecord)
		}
		return m.Put(metaNodeID, []byte(id))
	})
	if err == nil && id != s.markerID {
		err = s.writeMarker()
	}
	return id, err
}
