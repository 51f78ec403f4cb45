package persist

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Revocation is a "log out everywhere": every token of User (or of the
// refresh-rotation Family, when set; or, when By says so, of a session,
// client or issuer: ID) issued before NotBefore is rejected, until
// Expires, when no such token can still be valid.
type Revocation struct {
	By        RevokeBy // ByUser (user or family) unless said
	ID        string   // the session, client or issuer id of By*; "" with ByIssuer: every issuer
	User      string   // user id; may be "" for a family revocation
	Family    string   // refresh-rotation family id; "" for a user revocation
	NotBefore int64    // Unix seconds: tokens with iat < NotBefore are revoked
	Expires   int64    // Unix seconds: when the entry can be flushed
	Origin    string   // node id, recorded on the tokens it blacklists
}

// RevokeResult tells what a revocation did.
type RevokeResult struct {
	Existed bool // an equal or later revocation was there already
}

// Reasons shown on registered tokens a revocation covers.
const (
	ReasonUserRevoked    = "user revoked"
	ReasonFamilyRevoked  = "refresh token reuse: family revoked"
	ReasonSessionRevoked = "session revoked"
	ReasonClientRevoked  = "client revoked"
	ReasonIssuerRevoked  = "every issuer revoked"
)

func (r Revocation) key() []byte {
	if r.By != ByUser {
		return scopedKey(r.By, r.ID)
	}
	if r.Family != "" {
		return familyKey(r.Family)
	}
	return []byte(r.User)
}

// familyKey keeps families apart from users: user ids never hold NUL.
func familyKey(fam string) []byte { return append([]byte{0}, fam...) }

func (r Revocation) validate() error {
	if r.By != ByUser {
		if err := r.validateScoped(); err != nil {
			return err
		}
	} else if r.Family == "" {
		if err := validUser(r.User); err != nil {
			return err
		}
	} else if len(r.Family) > MaxJTILen || (r.User != "" && validUser(r.User) != nil) {
		return fmt.Errorf("%w: family must be 1..%d bytes", ErrInvalidRecord, MaxJTILen)
	}
	if r.NotBefore <= 0 {
		return fmt.Errorf("%w: not-before must be positive", ErrInvalidRecord)
	}
	return nil
}

// Revoke durably records a user or family revocation. Registered tokens it
// covers are listed as blacklisted from then on. A later
// NotBefore wins; an earlier one changes nothing (Existed is then true).
// outbox is handled as in Blacklist.
func (s *Store) Revoke(r Revocation, outbox []byte) (RevokeResult, error) {
	if err := r.validate(); err != nil {
		return RevokeResult{}, err
	}
	s.noteRevocation(r)
	var res RevokeResult
	err := s.commit.do(func(tx *writeTx) error {
		res = RevokeResult{}
		wrote, err := putRevocation(tx.Tx, r)
		res.Existed = !wrote
		if err != nil || !wrote {
			return err
		}
		return tx.stageOutbox(outbox)
	})
	return res, err
}

// RevokeUser is Revoke of a user.
func (s *Store) RevokeUser(user string, notBefore, expires int64, outbox []byte) (existed bool, err error) {
	res, err := s.Revoke(Revocation{User: user, NotBefore: notBefore, Expires: expires}, outbox)
	return res.Existed, err
}

// UserNotBefore returns the user's revocation, if any (ok false when none).
// A user id that no revocation can hold (one with NUL, which Revoke
// refuses) has none: its key would be a family's (familyKey).
func (s *Store) UserNotBefore(user string) (Revocation, bool, error) {
	if validUser(user) != nil {
		return Revocation{}, false, nil
	}
	return s.notBefore([]byte(user))
}

// FamilyNotBefore returns the family's revocation, if any.
func (s *Store) FamilyNotBefore(fam string) (Revocation, bool, error) {
	return s.notBefore(familyKey(fam))
}

func (s *Store) notBefore(key []byte) (r Revocation, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		r, ok, err = getRevocation(tx, key)
		return err
	})
	return r, ok, err
}

func getRevocation(tx *bolt.Tx, key []byte) (Revocation, bool, error) {
	v := tx.Bucket(bucketUserRevoked).Get(key)
	if v == nil {
		return Revocation{}, false, nil
	}
	if len(v) < 16 {
		return Revocation{}, false, fmt.Errorf("%w: revocation %q", ErrCorrupt, key)
	}
	r := Revocation{NotBefore: int64(binary.BigEndian.Uint64(v)), Expires: int64(binary.BigEndian.Uint64(v[8:])), Origin: string(v[16:])}
	if by, id, ok := parseScopedKey(key); ok {
		r.By, r.ID = by, id
	} else if fam, ok := bytes.CutPrefix(key, []byte{0}); ok {
		r.Family = string(fam)
	} else {
		r.User = string(key)
	}
	return r, true, nil
}

// putRevocation stores r unless an equal or later one is there.
func putRevocation(tx *bolt.Tx, r Revocation) (bool, error) {
	b := tx.Bucket(bucketUserRevoked)
	key := r.key()
	var digest uint64
	if v := b.Get(key); v != nil {
		digest -= revocationHash(key, v)
	}
	if old, ok, err := getRevocation(tx, key); err == nil && ok {
		if old.NotBefore > r.NotBefore || (old.NotBefore == r.NotBefore && old.Origin <= r.Origin) {
			return false, nil
		}
		if err := tx.Bucket(bucketByExp).Delete(expKey(old.Expires, tagRevocation, string(key))); err != nil {
			return false, err
		}
	} else if err := addCounter(tx, metaNumRevoked, 1); err != nil {
		return false, err
	}
	v := make([]byte, 16, 16+len(r.Origin)) // not-before ‖ expires ‖ origin
	binary.BigEndian.PutUint64(v, uint64(r.NotBefore))
	binary.BigEndian.PutUint64(v[8:], uint64(max(r.Expires, 0)))
	v = append(v, r.Origin...)
	if err := b.Put(key, v); err != nil {
		return false, err
	}
	if err := addRevDigest(tx, digest+revocationHash(key, v)); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketByExp).Put(expKey(r.Expires, tagRevocation, string(key)), nil)
}

// covers reports whether revocation r applies to the registered token rec.
func covers(r Revocation, rec Record) bool {
	return rec.IssuedAt < r.NotBefore // an unknown iat (0) counts as before
}

// foldRevocation shows a registered token covered by its user's, its
// family's, its session's or its client's revocation, or by one of every
// issuer, as blacklisted, computed when read: no token record is
// rewritten, so every node shows the same whatever order events came in.
// (Records keep no issuer: a revocation of one issuer is not shown.)
func foldRevocation(tx *bolt.Tx, rec Record) Record {
	if rec.Blacklisted() {
		return rec
	}
	keys := make([][]byte, 0, 6)
	if rec.User != "" {
		keys = append(keys, []byte(rec.User))
	}
	if rec.Family != "" {
		keys = append(keys, familyKey(rec.Family))
	}
	keys = append(keys, familyKey(rec.JTI)) // a family's first token
	if rec.SessionID != "" {
		keys = append(keys, scopedKey(BySession, rec.SessionID))
	}
	if rec.ClientID != "" {
		keys = append(keys, scopedKey(ByClient, rec.ClientID))
	}
	keys = append(keys, scopedKey(ByIssuer, ""))
	for _, k := range keys {
		r, ok, err := getRevocation(tx, k)
		if err != nil || !ok || !covers(r, rec) {
			continue
		}
		rec.BlacklistedAt, rec.Origin = r.NotBefore*1e9, r.Origin
		switch {
		case r.By == BySession:
			rec.Reason = ReasonSessionRevoked
		case r.By == ByClient:
			rec.Reason = ReasonClientRevoked
		case r.By == ByIssuer:
			rec.Reason = ReasonIssuerRevoked
		case r.Family != "":
			rec.Reason = ReasonFamilyRevoked
		default:
			rec.Reason = ReasonUserRevoked
		}
		return rec
	}
	return rec
}
