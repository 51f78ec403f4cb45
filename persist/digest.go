package persist

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Digest summarises the blacklist so that two stores can be compared
// without listing them: Count is the number of blacklisted entries and Sum
// is the sum, modulo 2^64, of a 64-bit hash of jti ‖ exp over every one of
// them. Two stores that hold the same set of blacklisted (jti, exp) pairs
// have the same Digest, whatever order the writes arrived in and whichever
// node wrote first; the other fields of a record (times, origin, reason)
// do not enter it.
//
// The store keeps Sum up to date in the same transaction as every change of
// the blacklisted bucket, so reading it costs one key lookup.
type Digest struct {
	Count uint64
	Sum   uint64
}

// String is the digest as GET /v1/status shows it: the count, a colon, and
// the sum as 16 hex digits, e.g. "42:00c0ffee12345678".
func (d Digest) String() string { return fmt.Sprintf("%d:%016x", d.Count, d.Sum) }

// metaDigest holds Digest.Sum (8 bytes, big endian).
var metaDigest = []byte("blacklist_digest")

// digestHash is the 64-bit hash of one blacklisted entry: the first eight
// bytes of SHA-256 over len(jti) (uvarint) ‖ jti ‖ exp (8 bytes, big
// endian). Any node, in any version, must compute it the same way.
func digestHash(jti string, exp int64) uint64 {
	var buf [binary.MaxVarintLen64 + MaxJTILen + 8]byte // no allocation for a valid jti
	b := buf[:0]
	b = binary.AppendUvarint(b, uint64(len(jti)))
	b = append(b, jti...)
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	h := sha256.Sum256(b)
	return binary.BigEndian.Uint64(h[:8])
}

// addDigest adds d (mod 2^64) to the stored sum.
func addDigest(tx *bolt.Tx, d uint64) error {
	if d == 0 {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	return meta.Put(metaDigest, u64(getU64(meta, metaDigest)+d))
}

// recomputeDigest walks the blacklisted bucket. A record that does not
// decode counts in Count but adds nothing to Sum, as the incremental
// updates treat it.
func recomputeDigest(tx *bolt.Tx) Digest {
	var d Digest
	c := tx.Bucket(bucketBlacklisted).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		d.Count++
		if r, err := decodeStored(k, v); err == nil {
			d.Sum += digestHash(string(k), r.ExpiresAt)
		}
	}
	return d
}

// initDigest computes and stores the sums when the file has none (a new
// file, or one written before the digests existed).
func initDigest(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(metaDigest) == nil {
		if err := meta.Put(metaDigest, u64(recomputeDigest(tx).Sum)); err != nil {
			return err
		}
	}
	if meta.Get(metaRevDigest) == nil {
		return meta.Put(metaRevDigest, u64(recomputeRevDigest(tx).Sum))
	}
	return nil
}

// metaRevDigest holds the user and family revocations' digest (8 bytes, big
// endian): the sum, modulo 2^64, of revocationHash over every entry of
// user_revocations, kept up to date in the transaction of every change of
// the bucket, as the blacklist's. It is local to the store (Open checks
// it; nodes do not compare it): a changed key or not-before would
// otherwise un-revoke a user or family silently.
var metaRevDigest = []byte("revocation_digest")

// revocationHash is the first eight bytes of SHA-256 over len(key)
// (uvarint) ‖ key ‖ value of a user_revocations entry.
func revocationHash(key, v []byte) uint64 {
	b := make([]byte, 0, binary.MaxVarintLen64+len(key)+len(v))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = append(b, v...)
	h := sha256.Sum256(b)
	return binary.BigEndian.Uint64(h[:8])
}

// addRevDigest adds d (mod 2^64) to the stored revocations' sum.
func addRevDigest(tx *bolt.Tx, d uint64) error {
	if d == 0 {
		return nil
	}
	meta := tx.Bucket(bucketMeta)
	return meta.Put(metaRevDigest, u64(getU64(meta, metaRevDigest)+d))
}

// recomputeRevDigest walks user_revocations: the count and the sum.
func recomputeRevDigest(tx *bolt.Tx) Digest {
	var d Digest
	c := tx.Bucket(bucketUserRevoked).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		d.Count++
		d.Sum += revocationHash(k, v)
	}
	return d
}

// Digest returns the blacklist digest kept up to date by every write: the
// one a merge of the journal would leave, read without one (as Counts).
func (s *Store) Digest() (Digest, error) {
	var d Digest
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		d, err = s.blacklistDigest(tx)
		return err
	})
	return d, err
}

// blacklistDigest is Digest within tx: the trees' counters plus what the
// journal holds beside them.
func (s *Store) blacklistDigest(tx *bolt.Tx) (Digest, error) {
	jd, err := s.journalDelta(tx)
	if err != nil {
		return Digest{}, err
	}
	m := tx.Bucket(bucketMeta)
	return Digest{Count: getU64(m, metaNumBlacklisted) + jd.blacklisted, Sum: getU64(m, metaDigest) + jd.digest}, nil
}

// RecomputeDigest computes the digest from every blacklisted record, in
// one read transaction whose cost grows with the blacklist. It equals
// Digest() unless the file was changed by something that bypassed this
// package; tests and consistency checks compare the two.
func (s *Store) RecomputeDigest() (Digest, error) {
	if err := s.journal.settle(); err != nil {
		return Digest{}, err
	}
	var d Digest
	err := s.view(func(tx *bolt.Tx) error {
		d = recomputeDigest(tx)
		return nil
	})
	return d, err
}
