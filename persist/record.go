package persist

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxJTILen is the longest token id the store accepts.
const MaxJTILen = 255

// maxFieldLen bounds every string field of a stored record.
const maxFieldLen = 64 << 10

// The first byte of every encoded record is its version: recordVersion
// stores the four times as they are; recordDelta (for blacklisted records)
// stores the blacklisting time as its distance from the creation time,
// usually 0 or a few bytes instead of nine. recordOAuth and
// recordOAuthDelta are those two with three more strings at the end (the
// client, session and scope of an OAuth access token); they are written
// only for a record that has one of them, so a store of Simple JWT tokens
// stays readable by builds that predate them. All four are read.
const (
	recordVersion    = 1
	recordDelta      = 2
	recordOAuth      = 3
	recordOAuthDelta = 4
)

// MaxScopeLen is the longest scope a record holds, in bytes.
const MaxScopeLen = 4096

// knownRecordVersion reports whether v is a version decodeRecord reads.
func knownRecordVersion(v byte) bool { return v >= recordVersion && v <= recordOAuthDelta }

// Record is what the store keeps about one token id.
type Record struct {
	JTI           string // token id; the key
	User          string // user id as a string; "" when the token has none
	Type          string // token type claim: refresh, access, sliding, …
	IssuedAt      int64  // iat, Unix seconds; 0 when unknown
	ExpiresAt     int64  // exp, Unix seconds; always > 0
	CreatedAt     int64  // when this node first stored it, Unix nanoseconds
	BlacklistedAt int64  // when it was blacklisted, Unix nanoseconds; 0 if not
	Origin        string // node id that wrote it first
	Reason        string // why it was blacklisted
	Family        string // refresh-rotation family id, if any
	Token         string // raw token text; empty unless Options.KeepRawToken
	ClientID      string // the OAuth client (client_id, else azp), if any
	SessionID     string // the session (sid), if any
	Scope         string // the scope, if any
}

// hasOAuth reports whether r needs recordOAuth or recordOAuthDelta.
func (r Record) hasOAuth() bool { return r.ClientID != "" || r.SessionID != "" || r.Scope != "" }

// Blacklisted reports whether the record carries a blacklisting.
func (r Record) Blacklisted() bool { return r.BlacklistedAt != 0 }

func (r Record) validate() error {
	switch {
	case r.JTI == "" || len(r.JTI) > MaxJTILen:
		return fmt.Errorf("%w: jti must be 1..%d bytes", ErrInvalidRecord, MaxJTILen)
	case !utf8.ValidString(r.JTI):
		return fmt.Errorf("%w: jti is not valid UTF-8", ErrInvalidRecord)
	case r.ExpiresAt <= 0:
		return fmt.Errorf("%w: exp must be positive", ErrInvalidRecord)
	case strings.IndexByte(r.User, 0) >= 0:
		return fmt.Errorf("%w: user contains NUL", ErrInvalidRecord)
	}
	for _, s := range []string{r.User, r.Type, r.Origin, r.Reason, r.Family, r.Token} {
		if len(s) > maxFieldLen {
			return fmt.Errorf("%w: field longer than %d bytes", ErrInvalidRecord, maxFieldLen)
		}
	}
	switch {
	case len(r.ClientID) > MaxClientLen:
		return fmt.Errorf("%w: client longer than %d bytes", ErrInvalidRecord, MaxClientLen)
	case len(r.SessionID) > MaxSessionLen:
		return fmt.Errorf("%w: session longer than %d bytes", ErrInvalidRecord, MaxSessionLen)
	case len(r.Scope) > MaxScopeLen:
		return fmt.Errorf("%w: scope longer than %d bytes", ErrInvalidRecord, MaxScopeLen)
	}
	return nil
}

// encodeRecord writes r in the store's binary form: a version byte, then
// varints and length-prefixed strings in a fixed order.
func encodeRecord(r Record) []byte { return appendRecord(nil, r) }

// maxRecordLen bounds the length of encodeRecord(r).
func maxRecordLen(r Record) int {
	n := 1 + 5*binary.MaxVarintLen64
	for _, s := range [...]string{r.JTI, r.User, r.Type, r.Origin, r.Reason, r.Family, r.Token, r.ClientID, r.SessionID, r.Scope} {
		n += binary.MaxVarintLen64 + len(s)
	}
	return n
}

// appendRecord appends encodeRecord(r) to b, growing it once at most.
func appendRecord(b []byte, r Record) []byte {
	b = slices.Grow(b, maxRecordLen(r))
	strs := [...]string{r.JTI, r.User, r.Type, r.Origin, r.Reason, r.Family, r.Token}
	black := r.BlacklistedAt
	v := byte(recordVersion)
	if black != 0 {
		v = recordDelta
		black -= r.CreatedAt // wraps; decoding adds it back with the same wrap
	}
	oauth := r.hasOAuth()
	if oauth {
		v += recordOAuth - recordVersion
	}
	b = append(b, v)
	b = binary.AppendVarint(b, r.IssuedAt)
	b = binary.AppendVarint(b, r.ExpiresAt)
	b = binary.AppendVarint(b, r.CreatedAt)
	b = binary.AppendVarint(b, black)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if oauth {
		for _, s := range [...]string{r.ClientID, r.SessionID, r.Scope} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

// encodeStored is a record's form as a bucket value: the jti is the key,
// so the value leaves it out (a fifth of a typical record).
func encodeStored(r Record) []byte {
	r.JTI = ""
	return encodeRecord(r)
}

// decodeStored parses a bucket value stored under key (by encodeStored, or
// by an older build that kept the jti in the value too).
func decodeStored(key, v []byte) (Record, error) {
	r, err := decodeRecord(v)
	if err == nil && r.JTI == "" {
		r.JTI = string(key)
	}
	return r, err
}

// storedExp reads the expiry of an encoded record without decoding the
// rest (Open's digest check: what enters the digest). ok is false where
// decodeRecord fails on the header; a record damaged past its expiry
// passes here and fails decodeRecord (and Fsck).
func storedExp(b []byte) (exp int64, ok bool) {
	if len(b) == 0 || !knownRecordVersion(b[0]) {
		return 0, false
	}
	_, n := binary.Varint(b[1:]) // iat
	if n <= 0 {
		return 0, false
	}
	exp, m := binary.Varint(b[1+n:])
	return exp, m > 0
}

// decodeRecord parses what encodeRecord wrote. It never panics: any
// malformed input yields an error wrapping ErrCorrupt.
func decodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) == 0 || !knownRecordVersion(b[0]) {
		return r, fmt.Errorf("%w: unknown record version", ErrCorrupt)
	}
	// One string holds every field: a record decodes with one allocation.
	d := decoder{b: b[1:], s: string(b[1:])}
	r.IssuedAt = d.varint()
	r.ExpiresAt = d.varint()
	r.CreatedAt = d.varint()
	r.BlacklistedAt = d.varint()
	if b[0] == recordDelta || b[0] == recordOAuthDelta {
		if r.BlacklistedAt += r.CreatedAt; r.BlacklistedAt == 0 {
			return Record{}, fmt.Errorf("%w: blacklisting time 0 in a blacklisted record", ErrCorrupt)
		}
	}
	for _, p := range [...]*string{&r.JTI, &r.User, &r.Type, &r.Origin, &r.Reason, &r.Family, &r.Token} {
		*p = d.str()
	}
	if b[0] >= recordOAuth {
		r.ClientID, r.SessionID, r.Scope = d.str(), d.str(), d.str()
		if d.err == nil && !r.hasOAuth() {
			// Written only for a record that has one: one form per record.
			return Record{}, fmt.Errorf("%w: version %d without client, session or scope", ErrCorrupt, b[0])
		}
	}
	if d.err != nil {
		return Record{}, d.err
	}
	if len(d.b) != 0 {
		return Record{}, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return r, nil
}

// decoder reads b; s holds the same bytes as b held at the start, and the
// strings it returns are slices of s.
type decoder struct {
	b   []byte
	s   string
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	l, n := binary.Uvarint(d.b)
	if n <= 0 || l > uint64(len(d.b)-n) {
		d.err = fmt.Errorf("%w: bad string length", ErrCorrupt)
		return ""
	}
	start := len(d.s) - len(d.b) + n
	d.b = d.b[n+int(l):]
	return d.s[start : start+int(l)]
}
