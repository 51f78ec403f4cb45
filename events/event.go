package events

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the wire version this package writes and the only one it reads.
const Version = 1

// MaxEventSize is the largest encoded event Decode accepts (64 KiB).
const MaxEventSize = 64 << 10

// Field limits, in bytes. They keep every valid event far below MaxEventSize
// even after JSON escaping.
const (
	maxIDLen     = 128
	maxOriginLen = 255
	maxRegionLen = 64
	maxJTILen    = 255
	maxUserLen   = 255
	maxTypeLen   = 64
	maxReasonLen = 1024
	maxFamilyLen = 255
	maxSessLen   = 255
	maxClientLen = 255
	maxIssuerLen = 1024
	maxScopeLen  = 4096
)

var (
	// ErrMalformed is wrapped by every error about an event that cannot be
	// used: bad JSON, missing or invalid fields, unknown kind, oversize.
	ErrMalformed = errors.New("events: malformed event")
	// ErrVersion is wrapped when an event carries a wire version other than
	// Version. The message names the version found.
	ErrVersion = errors.New("events: unsupported version")
)

// Kind says what an event does to a replica.
type Kind string

// The event kinds.
const (
	// KindOutstanding records a token that was issued (Token set).
	KindOutstanding Kind = "outstanding"
	// KindBlacklist revokes one token by jti (Token set).
	KindBlacklist Kind = "blacklist"
	// KindFlush removes outstanding and blacklisted entries whose exp is
	// before Cutoff.
	KindFlush Kind = "flush"
	// KindRevokeUser revokes every token of User issued before NotBefore.
	KindRevokeUser Kind = "revoke_user"
	// KindRevokeFamily revokes every token of a refresh-rotation Family
	// (of User, when known) issued before NotBefore.
	KindRevokeFamily Kind = "revoke_family"
	// KindRevokeSession revokes every token of the session Session (the
	// "sid" claim) issued before NotBefore.
	KindRevokeSession Kind = "revoke_session"
	// KindRevokeClient revokes every token of the OAuth client Client (the
	// "client_id" claim, else "azp") issued before NotBefore.
	KindRevokeClient Kind = "revoke_client"
	// KindRevokeIssuer revokes every token of Issuer (the "iss" claim)
	// issued before NotBefore; an empty Issuer means tokens of every issuer.
	KindRevokeIssuer Kind = "revoke_issuer"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindOutstanding, KindBlacklist, KindFlush, KindRevokeUser, KindRevokeFamily,
		KindRevokeSession, KindRevokeClient, KindRevokeIssuer:
		return true
	}
	return false
}

// RevocationKinds returns the kinds a check reads: every kind but
// KindOutstanding. A validator that keeps only what checks need consumes
// these (SubscriberConfig.Kinds).
func RevocationKinds() []Kind {
	return []Kind{KindBlacklist, KindFlush, KindRevokeUser, KindRevokeFamily,
		KindRevokeSession, KindRevokeClient, KindRevokeIssuer}
}

// hasToken reports whether events of kind k carry a Token.
func (k Kind) hasToken() bool { return k == KindOutstanding || k == KindBlacklist }

// Token describes one JWT by its claims; the raw token text is never part of
// an event. Times are unix seconds.
type Token struct {
	JTI       string `json:"jti"`
	User      string `json:"user,omitempty"`
	Type      string `json:"type,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	ExpiresAt int64  `json:"exp"`
	Reason    string `json:"reason,omitempty"`
	Family    string `json:"fam,omitempty"`
	// The client (client_id, else azp), session (sid) and scope of an
	// OAuth access token; builds before them ignore them.
	Client  string `json:"client,omitempty"`
	Session string `json:"sid,omitempty"`
	Scope   string `json:"scope,omitempty"`
}

// Event is one change to the replicated blacklist. Its JSON form (Encode,
// Decode) is the wire format; V is the wire version (zero means Version when
// encoding).
type Event struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`     // unique event id, used as Nats-Msg-Id
	Kind      Kind      `json:"kind"`   //
	Origin    string    `json:"origin"` // node id of the writer
	Region    string    `json:"region,omitempty"`
	Time      time.Time `json:"time"`
	Token     *Token    `json:"token,omitempty"`      // outstanding, blacklist
	Cutoff    int64     `json:"cutoff,omitempty"`     // flush: unix seconds; remove entries with exp < cutoff
	User      string    `json:"user,omitempty"`       // revoke_user, revoke_family (optional)
	Family    string    `json:"family,omitempty"`     // revoke_family
	NotBefore int64     `json:"not_before,omitempty"` // revoke_*: unix seconds
	Session   string    `json:"session,omitempty"`    // revoke_session
	Client    string    `json:"client,omitempty"`     // revoke_client
	Issuer    string    `json:"issuer,omitempty"`     // revoke_issuer ("" = every issuer)
}

// NewID returns a random 128-bit id in lower-case hex (32 characters).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// Expires reports when the event stops mattering: the token's exp for
// outstanding and blacklist events. It is zero for flush and revoke_user
// events, whose lifetime the caller decides (a revoke_user event matters
// until not_before plus the longest token lifetime).
func (e Event) Expires() time.Time {
	if e.Kind.hasToken() && e.Token != nil && e.Token.ExpiresAt > 0 {
		return time.Unix(e.Token.ExpiresAt, 0)
	}
	return time.Time{}
}

// Validate reports why e cannot be published or applied. A zero V counts as
// Version. Errors wrap ErrMalformed or ErrVersion.
func (e Event) Validate() error {
	if e.V != 0 && e.V != Version {
		return fmt.Errorf("%w %d", ErrVersion, e.V)
	}
	if err := checkID(e.ID); err != nil {
		return err
	}
	if e.Origin == "" {
		return malformed("origin missing")
	}
	if len(e.Origin) > maxOriginLen {
		return malformed("origin longer than %d bytes", maxOriginLen)
	}
	if e.Region != "" {
		if err := ValidateRegion(e.Region); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if !e.Kind.Valid() {
		if e.Kind == "" {
			return malformed("kind missing")
		}
		return malformed("unknown kind %.64q", string(e.Kind))
	}
	if len(e.User) > maxUserLen {
		return malformed("user longer than %d bytes", maxUserLen)
	}
	if e.Token != nil {
		if err := e.Token.validate(); err != nil {
			return err
		}
	}
	switch e.Kind {
	case KindOutstanding, KindBlacklist:
		if e.Token == nil {
			return malformed("%s event without token", e.Kind)
		}
	case KindFlush:
		if e.Cutoff <= 0 {
			return malformed("flush event needs cutoff > 0")
		}
	case KindRevokeUser:
		if e.User == "" {
			return malformed("revoke_user event without user")
		}
		if e.NotBefore <= 0 {
			return malformed("revoke_user event needs not_before > 0")
		}
	case KindRevokeFamily:
		if e.Family == "" || len(e.Family) > maxFamilyLen {
			return malformed("revoke_family event needs a family of 1..%d bytes", maxFamilyLen)
		}
		if e.NotBefore <= 0 {
			return malformed("revoke_family event needs not_before > 0")
		}
	case KindRevokeSession:
		if e.Session == "" || len(e.Session) > maxSessLen {
			return malformed("revoke_session event needs a session of 1..%d bytes", maxSessLen)
		}
	case KindRevokeClient:
		if e.Client == "" || len(e.Client) > maxClientLen {
			return malformed("revoke_client event needs a client of 1..%d bytes", maxClientLen)
		}
	case KindRevokeIssuer:
		if len(e.Issuer) > maxIssuerLen {
			return malformed("revoke_issuer event needs an issuer of at most %d bytes", maxIssuerLen)
		}
	}
	switch e.Kind {
	case KindRevokeSession, KindRevokeClient, KindRevokeIssuer:
		if e.NotBefore <= 0 {
			return malformed("%s event needs not_before > 0", e.Kind)
		}
	}
	return nil
}

func (t *Token) validate() error {
	switch {
	case t.JTI == "":
		return malformed("token.jti missing")
	case len(t.JTI) > maxJTILen:
		return malformed("token.jti longer than %d bytes", maxJTILen)
	case t.ExpiresAt <= 0:
		return malformed("token.exp must be > 0")
	case len(t.User) > maxUserLen:
		return malformed("token.user longer than %d bytes", maxUserLen)
	case len(t.Type) > maxTypeLen:
		return malformed("token.type longer than %d bytes", maxTypeLen)
	case len(t.Reason) > maxReasonLen:
		return malformed("token.reason longer than %d bytes", maxReasonLen)
	case len(t.Family) > maxFamilyLen:
		return malformed("token.fam longer than %d bytes", maxFamilyLen)
	case len(t.Client) > maxClientLen:
		return malformed("token.client longer than %d bytes", maxClientLen)
	case len(t.Session) > maxSessLen:
		return malformed("token.sid longer than %d bytes", maxSessLen)
	case len(t.Scope) > maxScopeLen:
		return malformed("token.scope longer than %d bytes", maxScopeLen)
	}
	return nil
}

// checkID accepts 1..128 bytes of visible ASCII: the id travels in a NATS
// header, where control characters and spaces have no place.
func checkID(id string) error {
	if id == "" {
		return malformed("id missing")
	}
	if len(id) > maxIDLen {
		return malformed("id longer than %d bytes", maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return malformed("id contains byte 0x%02x", c)
		}
	}
	return nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Encode validates e and returns its wire form. A zero V is written as
// Version.
func (e Event) Encode() ([]byte, error) {
	if e.V == 0 {
		e.V = Version
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, ok := encodeFast(make([]byte, 0, 256), e)
	if !ok {
		var err error
		if b, err = json.Marshal(e); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if len(b) > MaxEventSize {
		return nil, malformed("encoded size %d exceeds %d bytes", len(b), MaxEventSize)
	}
	return b, nil
}

// wireEvent reads the wire form; V is a pointer so that a missing version is
// told apart from a zero one.
type wireEvent struct {
	V *int `json:"v"`
	eventFields
}

type eventFields Event

// Decode parses and validates one wire-form event. It never panics. Unknown
// fields are ignored; everything else that is wrong gives an error wrapping
// ErrMalformed (or ErrVersion for another wire version) that says why.
func Decode(b []byte) (Event, error) {
	if len(b) > MaxEventSize {
		return Event{}, malformed("size %d exceeds %d bytes", len(b), MaxEventSize)
	}
	w, ok := decodeFast(b)
	if !ok {
		w = wireEvent{}
		if err := json.Unmarshal(b, &w); err != nil {
			return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if w.V == nil {
		return Event{}, malformed("version (v) missing")
	}
	if *w.V != Version {
		return Event{}, fmt.Errorf("%w %d", ErrVersion, *w.V)
	}
	e := Event(w.eventFields)
	e.V = *w.V
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}
