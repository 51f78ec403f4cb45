package persist

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RevokeBy says what a Revocation revokes the tokens of.
type RevokeBy uint8

// What a revocation can be by.
const (
	// ByUser revokes the tokens of Revocation.User, or of its Family when
	// set: the zero value, what every revocation was before the others.
	ByUser RevokeBy = iota
	// BySession revokes the tokens whose "sid" claim is Revocation.ID.
	BySession
	// ByClient revokes the tokens of the OAuth client Revocation.ID
	// ("client_id", else "azp").
	ByClient
	// ByIssuer revokes the tokens whose "iss" is Revocation.ID; an empty
	// ID revokes the tokens of every issuer (and those without iss).
	ByIssuer
)

// String names b as the events name its kind.
func (b RevokeBy) String() string {
	switch b {
	case ByUser:
		return "user"
	case BySession:
		return "session"
	case ByClient:
		return "client"
	case ByIssuer:
		return "issuer"
	}
	return fmt.Sprintf("RevokeBy(%d)", uint8(b))
}

// The longest ids of session, client and issuer revocations, in bytes: the
// events' limits.
const (
	MaxSessionLen = 255
	MaxClientLen  = 255
	MaxIssuerLen  = 1024
)

// scopedPrefix opens the keys of session, client and issuer revocations in
// the revocations bucket: scopedPrefix ‖ kind byte ‖ id. User keys never
// start with it (validUser: 0xff is not UTF-8 and user ids are refused
// with it), family keys start with NUL: the keyspaces cannot meet,
// whatever the ids hold.
const scopedPrefix = 0xff

// The kind bytes of scoped keys.
var scopedKinds = [...]byte{BySession: 's', ByClient: 'c', ByIssuer: 'i'}

func scopedKey(by RevokeBy, id string) []byte {
	k := make([]byte, 0, 2+len(id))
	return append(append(k, scopedPrefix, scopedKinds[by]), id...)
}

// parseScopedKey reads a key scopedKey wrote; ok is false for a user or
// family key.
func parseScopedKey(key []byte) (by RevokeBy, id string, ok bool) {
	if len(key) < 2 || key[0] != scopedPrefix {
		return 0, "", false
	}
	for b := BySession; b <= ByIssuer; b++ {
		if key[1] == scopedKinds[b] {
			return b, string(key[2:]), true
		}
	}
	return 0, "", false
}

// ScopedKey returns the key under which the store keeps a session, client
// or issuer revocation: what Flush's callback reports for it.
func ScopedKey(by RevokeBy, id string) string { return string(scopedKey(by, id)) }

// ParseScopedKey reads a key ScopedKey returns; ok is false for any other.
func ParseScopedKey(key string) (by RevokeBy, id string, ok bool) {
	return parseScopedKey([]byte(key))
}

// Validate reports why the store would refuse r (wrapping
// ErrInvalidRecord).
func (r Revocation) Validate() error { return r.validate() }

func (r Revocation) validateScoped() error {
	if r.User != "" || r.Family != "" {
		return fmt.Errorf("%w: a %s revocation has no user or family", ErrInvalidRecord, r.By)
	}
	switch r.By {
	case BySession:
		if r.ID == "" || len(r.ID) > MaxSessionLen {
			return fmt.Errorf("%w: session must be 1..%d bytes", ErrInvalidRecord, MaxSessionLen)
		}
	case ByClient:
		if r.ID == "" || len(r.ID) > MaxClientLen {
			return fmt.Errorf("%w: client must be 1..%d bytes", ErrInvalidRecord, MaxClientLen)
		}
	case ByIssuer:
		if len(r.ID) > MaxIssuerLen {
			return fmt.Errorf("%w: issuer must be at most %d bytes", ErrInvalidRecord, MaxIssuerLen)
		}
	default:
		return fmt.Errorf("%w: unknown revocation kind %d", ErrInvalidRecord, uint8(r.By))
	}
	return nil
}

// ScopedNotBefore returns the session, client or issuer revocation of id,
// if any (ok false when none).
func (s *Store) ScopedNotBefore(by RevokeBy, id string) (Revocation, bool, error) {
	if by == ByUser || by > ByIssuer {
		return Revocation{}, false, nil
	}
	return s.notBefore(scopedKey(by, id))
}

// MayHaveScopedRevocations reports whether the store may hold a session,
// client or issuer revocation: false only when it certainly holds none
// (none was there at Open and none has been written since), so a check
// can skip their lookups. It never turns false again while the store is
// open.
func (s *Store) MayHaveScopedRevocations() bool { return s.scoped.Load() }

// noteRevocation sets the flag MayHaveScopedRevocations reads before a
// scoped revocation is written.
func (s *Store) noteRevocation(r Revocation) {
	if r.By != ByUser {
		s.scoped.Store(true)
	}
}

// loadScoped sets the flag when the revocations bucket holds a scoped key.
func (s *Store) loadScoped(tx *bolt.Tx) {
	b := tx.Bucket(bucketUserRevoked)
	if b == nil {
		return
	}
	if k, _ := b.Cursor().Seek([]byte{scopedPrefix}); k != nil && bytes.HasPrefix(k, []byte{scopedPrefix}) {
		s.scoped.Store(true)
	}
}
