package persist

import (
	bolt "go.etcd.io/bbolt"
)

// State is where a store stands, read in one transaction: the stream
// position it has applied and the digests of what it holds. Two reads
// with equal States saw the same revocations (a validator of a listing:
// GET /v1/revocations derives its ETag from it).
type State struct {
	AppliedSeq    uint64 // as AppliedSeq
	AppliedStream string // as AppliedStream
	Blacklist     Digest // as Digest: comparable between nodes
	// Revocations is the digest of the user, family, session, client and
	// issuer revocations: their count, and the sum of a hash of each one's
	// stored key and value (not-before, expiry, origin). Unlike Blacklist
	// it is local to the store: nodes do not compare it.
	Revocations Digest
}

// State returns the store's State. Like Counts, it reads the journal
// beside the trees and merges nothing, so it costs a few key lookups.
//
// Everything applied up to State.AppliedSeq is visible to any read that
// starts after State returns; such a read may also see later writes.
func (s *Store) State() (State, error) {
	var st State
	err := s.view(func(tx *bolt.Tx) error {
		black, err := s.blacklistDigest(tx)
		if err != nil {
			return err
		}
		m := tx.Bucket(bucketMeta)
		st = State{
			AppliedSeq:    s.appliedSeq(getU64(m, metaAppliedSeq)),
			AppliedStream: string(m.Get(metaAppliedStream)),
			Blacklist:     black,
			Revocations:   Digest{Count: getU64(m, metaNumRevoked), Sum: getU64(m, metaRevDigest)},
		}
		return nil
	})
	return st, err
}
