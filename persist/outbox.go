package persist

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// OutboxEntry is an event waiting to be published.
type OutboxEntry struct {
	Seq  uint64
	Data []byte
}

// OutboxPending returns up to max entries, oldest first.
func (s *Store) OutboxPending(max int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			out = append(out, OutboxEntry{Seq: binary.BigEndian.Uint64(k), Data: append([]byte(nil), v...)})
		}
		return nil
	})
	return out, err
}

// OutboxRemove durably deletes published entries. Unknown seqs are ignored.
func (s *Store) OutboxRemove(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return s.commit.do(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		n := int64(0)
		for _, seq := range seqs {
			k := u64(seq)
			if b.Get(k) == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return addCounter(tx, metaNumOutbox, -n)
	})
}

// AppendOutbox durably appends an event that goes with no record change
// (a flush).
func (s *Store) AppendOutbox(data []byte) error {
	return s.commit.do(func(tx *bolt.Tx) error { return appendOutbox(tx, data) })
}
