package persist

import (
	"encoding/binary"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// OutboxEntry is one entry of the outbox: the payloads (events, encoded by
// the caller) of one commit, in the order they were written. A commit's
// payloads share an entry, up to maxEntryPayloads of them and about
// maxEntryBytes, so a publisher can send them as one message and, if it must
// send them again, send the very same message.
type OutboxEntry struct {
	Seq      uint64
	Payloads [][]byte
}

// Outbox entry limits: a commit's payloads beyond them go to further
// entries.
const (
	maxEntryPayloads = 256
	maxEntryBytes    = 60 << 10
)

// entryMark begins a value that holds several payloads: then, for each, its
// length (uvarint) and its bytes. A value that begins with anything else is
// one payload, as every entry was before entries were shared; a payload
// therefore never begins with entryMark (stageOutbox refuses it).
const entryMark = 0x00

// encodeEntry is the stored value of payloads.
func encodeEntry(payloads [][]byte) []byte {
	if len(payloads) == 1 {
		return payloads[0]
	}
	n := 1
	for _, p := range payloads {
		n += binary.MaxVarintLen32 + len(p)
	}
	v := make([]byte, 1, n)
	v[0] = entryMark
	for _, p := range payloads {
		v = binary.AppendUvarint(v, uint64(len(p)))
		v = append(v, p...)
	}
	return v
}

// decodeEntry splits a stored value into its payloads, which alias v. A
// value that is not a well-formed list comes back as its one payload, so a
// damaged entry reaches the publisher (which drops what does not decode)
// instead of blocking the queue.
func decodeEntry(v []byte) [][]byte {
	if len(v) == 0 || v[0] != entryMark {
		return [][]byte{v}
	}
	var out [][]byte
	for rest := v[1:]; len(rest) > 0; {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n == 0 || n > uint64(len(rest)-w) {
			return [][]byte{v}
		}
		out = append(out, rest[w:w+int(n)])
		rest = rest[w+int(n):]
	}
	if len(out) == 0 {
		return [][]byte{v}
	}
	return out
}

// outboxLen is the number of payloads of a stored value.
func outboxLen(v []byte) int {
	if v == nil {
		return 0
	}
	return len(decodeEntry(v))
}

// stageOutbox adds data to the outbox entry the transaction writes (writeOutbox); nil adds nothing.
func (tx *writeTx) stageOutbox(data []byte) error {
	if data == nil {
		return nil
	}
	if len(data) == 0 || data[0] == entryMark {
		return fmt.Errorf("%w: outbox payload must be non-empty and not begin with 0x%02x", ErrInvalidRecord, entryMark)
	}
	tx.outbox = append(tx.outbox, data)
	return nil
}

// writeOutbox writes the payloads the transaction's writes staged, as few
// entries as the limits allow, under the next sequences (the committer's
// epilogue: it runs once every request of a group has run).
func (s *Store) writeOutbox(tx *writeTx) error {
	staged := tx.outbox
	if len(staged) == 0 {
		return nil
	}
	b := tx.Bucket(bucketOutbox)
	for len(staged) > 0 {
		n, size := 0, 0
		for n < len(staged) && n < maxEntryPayloads && (n == 0 || size+len(staged[n]) <= maxEntryBytes) {
			size += len(staged[n])
			n++
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(u64(seq), encodeEntry(staged[:n])); err != nil {
			return err
		}
		staged = staged[n:]
	}
	return addCounter(tx.Tx, metaNumOutbox, int64(len(tx.outbox)))
}

// published holds outbox entries the publisher has had acknowledged but
// that are still in the file: their delete rides on the next commit (the
// committer's prelude), so draining the outbox costs no fsync of its own
// and the publisher never waits for one between rounds. Until then they are
// hidden from OutboxPending and from the count. A crash before that commit
// publishes them again, which the stream's duplicate window and the
// idempotent apply absorb.
type published struct {
	mu       sync.Mutex
	seqs     map[uint64]int // entry → its payloads
	payloads int            // sum over seqs
}

func (p *published) add(seqs map[uint64]int) {
	p.mu.Lock()
	if p.seqs == nil {
		p.seqs = make(map[uint64]int, len(seqs))
	}
	for s, n := range seqs {
		if _, ok := p.seqs[s]; !ok {
			p.seqs[s] = n
			p.payloads += n
		}
	}
	p.mu.Unlock()
}

func (p *published) has(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.seqs[seq]
	return ok
}

// len is the number of entries; events the number of their payloads.
func (p *published) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seqs)
}

func (p *published) events() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.payloads
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
		p.payloads -= p.seqs[s]
		delete(p.seqs, s)
	}
	if len(p.seqs) == 0 {
		p.seqs, p.payloads = nil, 0
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
			out = append(out, OutboxEntry{Seq: seq, Payloads: decodeEntry(append([]byte(nil), v...))})
		}
		return nil
	})
	return out, err
}

// OutboxRemove deletes published entries. Unknown seqs are ignored. The
// entries disappear from OutboxPending and Counts at once; the delete is
// written with the next commit, or by SyncOutbox (see published).
func (s *Store) OutboxRemove(seqs []uint64) error {
	known := make(map[uint64]int, len(seqs))
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, seq := range seqs {
			if v := b.Get(u64(seq)); v != nil {
				known[seq] = outboxLen(v)
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
	return s.commit.do(func(*writeTx) error { return nil })
}

// deleteOutbox deletes the entries under seqs that exist.
func deleteOutbox(tx *bolt.Tx, seqs []uint64) error {
	b := tx.Bucket(bucketOutbox)
	n := int64(0)
	for _, seq := range seqs {
		k := u64(seq)
		v := b.Get(k)
		if v == nil {
			continue
		}
		n += int64(outboxLen(v))
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return addCounter(tx, metaNumOutbox, -n)
}

// AppendOutbox durably appends an event that goes with no record change
// (a flush).
func (s *Store) AppendOutbox(data []byte) error {
	return s.commit.do(func(tx *writeTx) error { return tx.stageOutbox(data) })
}
