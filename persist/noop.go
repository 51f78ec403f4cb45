package persist

import (
	"encoding/binary"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// A replica applies every event of the stream, its own included, and most
// of them change nothing: the writer stored them before it published them,
// and a replay redelivers what was applied. Committing such a batch would
// cost an fsync only to move the last applied sequence. Apply checks in a
// read transaction first; when nothing would change, it keeps the sequence
// in memory (pendingSeq) and writes it with the next commit or on Close.
// Losing it in a crash only means replaying a few idempotent events.

// pendingSeq is a last applied sequence not yet written to the file.
type pendingSeq struct{ v atomic.Uint64 }

func (p *pendingSeq) note(seq uint64) {
	for {
		cur := p.v.Load()
		if seq <= cur || p.v.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// noop reports whether applying ops would leave the store as it is.
func (s *Store) noop(tx *bolt.Tx, ops []Op) bool {
	for _, op := range ops {
		switch op.Kind {
		case OpOutstanding:
			if !s.recordHolds(tx, op.Record, false) {
				return false
			}
		case OpBlacklist:
			if !s.recordHolds(tx, op.Record, false) || !s.recordHolds(tx, op.Record, true) {
				return false
			}
		case OpRevoke:
			r := op.Revocation
			v := tx.Bucket(bucketUserRevoked).Get(r.key())
			if len(v) < 16 {
				return false
			}
			nb, origin := int64(binary.BigEndian.Uint64(v)), string(v[16:])
			if nb < r.NotBefore || (nb == r.NotBefore && origin > r.Origin) {
				return false
			}
		case OpAudit:
			if tx.Bucket(bucketAudit).Get(op.Audit.key()) == nil {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// recordHolds reports whether the store (journal or trees) already holds a
// record for rec.JTI that wins the merge rule against rec.
func (s *Store) recordHolds(tx *bolt.Tx, rec Record, black bool) bool {
	old, ok, err := current(tx, s.journal.known(nil, rec.JTI), black, rec.JTI)
	if err != nil || !ok {
		return false
	}
	if black {
		return !blacklistedWins(rec, old)
	}
	rec.BlacklistedAt, rec.Reason = 0, ""
	return !outstandingWins(rec, old)
}
