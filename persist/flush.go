package persist

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// FlushResult counts what a flush removed.
type FlushResult struct {
	Outstanding     int
	Blacklisted     int
	UserRevocations int
	Batches         int
}

// Removed is the number of entries removed in all.
func (r FlushResult) Removed() int { return r.Outstanding + r.Blacklisted + r.UserRevocations }

// DefaultFlushBatch is the number of entries one flush transaction removes.
const DefaultFlushBatch = 5000

// Flush removes every outstanding and blacklisted record, and every user
// revocation, whose expiry is before cutoff (Unix seconds). It walks the
// by_exp index, so its cost grows with what it removes, not with what the
// store keeps, and it commits in batches of at most batch entries so checks
// and writes never wait behind one long transaction. removed, when not nil,
// is called after each committed batch with the token ids and users whose
// entries it removed.
func (s *Store) Flush(cutoff int64, batch int, removed func(ids []string)) (FlushResult, error) {
	if err := s.journal.settle(); err != nil {
		return FlushResult{}, err
	}
	if batch <= 0 {
		batch = DefaultFlushBatch
	}
	var total FlushResult
	end := expKey(cutoff, 0, "")
	for {
		var res FlushResult
		var ids []string
		err := s.commit.do(func(tx *writeTx) error {
			res, ids = FlushResult{}, ids[:0]
			idx := tx.Bucket(bucketByExp)
			c := idx.Cursor()
			var keys [][]byte
			for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0 && len(keys) < batch; k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			for _, k := range keys {
				exp, tag, id, ok := splitExpKey(k)
				if err := idx.Delete(k); err != nil {
					return err
				}
				if !ok {
					continue
				}
				gone, err := removeExpired(tx.Tx, tag, id, exp)
				if err != nil {
					return err
				}
				if gone {
					ids = append(ids, id)
					if tag == tagBlacklisted {
						tx.removed = append(tx.removed, s.filter.hashString(id))
					}
					switch tag {
					case tagOutstanding:
						res.Outstanding++
					case tagBlacklisted:
						res.Blacklisted++
					case tagRevocation:
						res.UserRevocations++
					}
				}
			}
			if len(keys) > 0 {
				res.Batches = 1
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total.Outstanding += res.Outstanding
		total.Blacklisted += res.Blacklisted
		total.UserRevocations += res.UserRevocations
		total.Batches += res.Batches
		if res.Batches == 0 {
			return total, nil
		}
		if removed != nil && len(ids) > 0 {
			removed(ids)
		}
	}
}

// CountExpired returns how many entries a flush at cutoff would remove.
func (s *Store) CountExpired(cutoff int64) (int, error) {
	if err := s.journal.settle(); err != nil {
		return 0, err
	}
	n := 0
	end := expKey(cutoff, 0, "")
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketByExp).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// removeExpired deletes the entry an index key points to, if the entry
// still carries that expiry. It keeps the by_user index and the counters in
// step.
func removeExpired(tx *bolt.Tx, tag byte, id string, exp int64) (bool, error) {
	var bucket, counter, other []byte
	switch tag {
	case tagOutstanding:
		bucket, counter, other = bucketOutstanding, metaNumOutstanding, bucketBlacklisted
	case tagBlacklisted:
		bucket, counter, other = bucketBlacklisted, metaNumBlacklisted, bucketOutstanding
	case tagRevocation:
		b := tx.Bucket(bucketUserRevoked)
		v := b.Get([]byte(id))
		if len(v) < 16 || int64(binary.BigEndian.Uint64(v[8:16])) != exp {
			return false, nil
		}
		if err := addRevDigest(tx, -revocationHash([]byte(id), v)); err != nil {
			return false, err
		}
		if err := b.Delete([]byte(id)); err != nil {
			return false, err
		}
		return true, addCounter(tx, metaNumRevoked, -1)
	default:
		return false, nil
	}
	b := tx.Bucket(bucket)
	key := []byte(id)
	v := b.Get(key)
	if v == nil {
		return false, nil
	}
	rec, err := decodeStored(key, v)
	if err == nil && rec.ExpiresAt != exp {
		return false, nil // re-written with another expiry; its own index key covers it
	}
	if err := b.Delete(key); err != nil {
		return false, err
	}
	if err := addCounter(tx, counter, -1); err != nil {
		return false, err
	}
	if err == nil && tag == tagBlacklisted {
		if err := addDigest(tx, -digestHash(id, rec.ExpiresAt)); err != nil {
			return false, err
		}
	}
	if err == nil && rec.User != "" && !stillHas(tx, other, key, rec.User) {
		if err := tx.Bucket(bucketByUser).Delete(userKey(rec.User, id)); err != nil {
			return false, err
		}
	}
	return true, nil
}

// stillHas reports whether bucket holds jti for the same user.
func stillHas(tx *bolt.Tx, bucket, jti []byte, user string) bool {
	v := tx.Bucket(bucket).Get(jti)
	if v == nil {
		return false
	}
	r, err := decodeStored(jti, v)
	return err == nil && r.User == user
}
