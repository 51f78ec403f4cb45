package persist

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// UserRevocation is a "log out everywhere": every token of User issued
// before NotBefore is rejected, until Expires, when no such token can still
// be valid.
type UserRevocation struct {
	User      string
	NotBefore int64 // Unix seconds
	Expires   int64 // Unix seconds
}

// RevokeUser durably records that user's tokens issued before notBefore are
// revoked, until expires. A later notBefore wins; an earlier one changes
// nothing (Existed is then true). outbox is handled as in Blacklist.
func (s *Store) RevokeUser(user string, notBefore, expires int64, outbox []byte) (existed bool, err error) {
	if err := validUser(user); err != nil {
		return false, err
	}
	if notBefore <= 0 {
		return false, fmt.Errorf("%w: not-before must be positive", ErrInvalidRecord)
	}
	err = s.commit.do(func(tx *bolt.Tx) error {
		wrote, err := putUserRevocation(tx, user, notBefore, expires)
		existed = !wrote
		if err != nil || !wrote {
			return err
		}
		return appendOutbox(tx, outbox)
	})
	return existed, err
}

// UserNotBefore returns the user's revocation, if any (ok false when none).
func (s *Store) UserNotBefore(user string) (r UserRevocation, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUserRevoked).Get([]byte(user))
		if v == nil {
			return nil
		}
		if len(v) != 16 {
			return fmt.Errorf("%w: revocation of %q", ErrCorrupt, user)
		}
		r = UserRevocation{User: user, NotBefore: int64(binary.BigEndian.Uint64(v)), Expires: int64(binary.BigEndian.Uint64(v[8:]))}
		ok = true
		return nil
	})
	return r, ok, err
}

func putUserRevocation(tx *bolt.Tx, user string, notBefore, expires int64) (bool, error) {
	b := tx.Bucket(bucketUserRevoked)
	key := []byte(user)
	if v := b.Get(key); len(v) == 16 {
		oldNB, oldExp := int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
		if oldNB >= notBefore {
			return false, nil
		}
		if err := tx.Bucket(bucketByExp).Delete(expKey(oldExp, tagRevocation, user)); err != nil {
			return false, err
		}
	} else if err := addCounter(tx, metaNumRevoked, 1); err != nil {
		return false, err
	}
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(notBefore))
	binary.BigEndian.PutUint64(v[8:], uint64(max(expires, 0)))
	if err := b.Put(key, v); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketByExp).Put(expKey(expires, tagRevocation, user), nil)
}
