package persist

import (
	"fmt"

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

// Counts returns the entry counts and the last applied stream sequence.
func (s *Store) Counts() (Counts, error) {
	if err := s.journal.settle(); err != nil {
		return Counts{}, err
	}
	var c Counts
	err := s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		c = Counts{
			Outstanding:     getU64(m, metaNumOutstanding),
			Blacklisted:     getU64(m, metaNumBlacklisted),
			Outbox:          getU64(m, metaNumOutbox) - min(uint64(s.published.events()), getU64(m, metaNumOutbox)),
			UserRevocations: getU64(m, metaNumRevoked),
			AppliedSeq:      s.appliedSeq(getU64(m, metaAppliedSeq)),
		}
		return nil
	})
	return c, err
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
