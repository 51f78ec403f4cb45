package persist

import (
	"encoding/binary"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// OutboxEntry is an event waiting to be published.
type OutboxEntry struct {
	Seq  uint64
	Data []byte
}

// published holds outbox entries the publisher has had acknowledged but
// that are still in the file: their delete rides on the next commit (the
// committer's prelude), so draining the outbox costs no fsync of its own
// and the publisher never waits for one between rounds. Until then they are
// hidden from OutboxPending and from the count. A crash before that commit
// publishes them again, which the stream's duplicate window and the
// idempotent apply absorb.
type published struct {
	mu   sync.Mutex
	seqs map[uint64]struct{}
}

func (p *published) add(seqs []uint64) {
	p.mu.Lock()
	if p.seqs == nil {
		p.seqs = make(map[uint64]struct{}, len(seqs))
	}
	for _, s := range seqs {
		p.seqs[s] = struct{}{}
	}
	p.mu.Unlock()
}

func (p *published) has(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.seqs[seq]
	return ok
}

func (p *published) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seqs)
}

func (p *published) snapshot() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]uint64, 0, len(p.seqs))
	for s := range p.seqs {
		out = append(out, s)
	}
	return out
}

func (p *published) forget(seqs []uint64) {
	p.mu.Lock()
	for _, s := range seqs {
		delete(p.seqs, s)
	}
	if len(p.seqs) == 0 {
		p.seqs = nil
	}
	p.mu.Unlock()
}

// OutboxPending returns up to max entries not yet published, oldest first.
func (s *Store) OutboxPending(max int) ([]OutboxEntry, error) {
	return s.OutboxPendingAfter(0, max)
}

// OutboxPendingAfter returns up to max entries not yet published with a
// seq above after, oldest first.
func (s *Store) OutboxPendingAfter(after uint64, max int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			seq := binary.BigEndian.Uint64(k)
			if s.published.has(seq) {
				continue
			}
			out = append(out, OutboxEntry{Seq: seq, Data: append([]byte(nil), v...)})
		}
		return nil
	})
	return out, err
}

// OutboxRemove deletes published entries. Unknown seqs are ignored. The
// entries disappear from OutboxPending and Counts at once; the delete is
// written with the next commit, or by SyncOutbox (see published).
func (s *Store) OutboxRemove(seqs []uint64) error {
	known := make([]uint64, 0, len(seqs))
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, seq := range seqs {
			if b.Get(u64(seq)) != nil {
				known = append(known, seq)
			}
		}
		return nil
	})
	s.published.add(known)
	return err
}

// SyncOutbox writes the deletes of removed outbox entries that no commit
// has carried yet. It costs nothing when there are none, and returns at
// once when a commit is in flight (the next one carries them).
func (s *Store) SyncOutbox() error {
	if s.published.len() == 0 || s.commit.busy() {
		return nil
	}
	return s.commit.do(func(*bolt.Tx) error { return nil })
}

// deleteOutbox deletes the entries under seqs that exist.
func deleteOutbox(tx *bolt.Tx, seqs []uint64) error {
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
}

// AppendOutbox durably appends an event that goes with no record change
// (a flush).
func (s *Store) AppendOutbox(data []byte) error {
	return s.commit.do(func(tx *bolt.Tx) error { return appendOutbox(tx, data) })
}
