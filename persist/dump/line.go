package dump

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/persist"
)

// The header's format name and the version this package writes and reads.
const (
	Format  = "blnode-export"
	Version = 1
)

// MaxLineLen is the longest line, in bytes, that Decode and a Decoder read.
const MaxLineLen = 1 << 20

// Line kinds.
const (
	KindHeader     = "header"
	KindToken      = "token"
	KindRevocation = "revocation"
)

// Line is one line of an export: a header, a token or a revocation.
type Line struct {
	Kind string `json:"kind"`

	// header
	Format     string    `json:"format,omitzero"`
	Version    int       `json:"version,omitzero"`
	NodeID     string    `json:"node_id,omitzero"`
	ExportedAt time.Time `json:"exported_at,omitzero"`
	// Stream and Seq are set by GET /v1/revocations, whose lines hold the
	// revocations in force once sequence Seq of the event stream Stream
	// (its identity, as the store records it) was applied; an export
	// leaves them out, and an import ignores them.
	Stream string `json:"stream,omitzero"`
	Seq    uint64 `json:"seq,omitzero"`

	// token
	JTI             string    `json:"jti,omitzero"`
	User            string    `json:"user,omitzero"` // also revocation
	TokenType       string    `json:"token_type,omitzero"`
	IssuedAt        int64     `json:"iat,omitzero"`
	ExpiresAt       int64     `json:"exp,omitzero"`
	CreatedAt       time.Time `json:"created_at,omitzero"`
	BlacklistedAt   time.Time `json:"blacklisted_at,omitzero"`
	Reason          string    `json:"reason,omitzero"`
	Origin          string    `json:"origin,omitzero"` // also revocation
	BlacklistOrigin string    `json:"blacklist_origin,omitzero"`
	Family          string    `json:"family,omitzero"` // the token's rotation family; a revocation's family
	Token           string    `json:"token,omitzero"`  // only when the store keeps raw tokens
	ClientID        string    `json:"client_id,omitzero"`
	SessionID       string    `json:"sid,omitzero"`
	Scope           string    `json:"scope,omitzero"`

	// revocation
	NotBefore int64 `json:"not_before,omitzero"`
	Expires   int64 `json:"expires,omitzero"`
	// By is what a revocation other than a user or family one is by:
	// "session", "client" or "issuer"; ID is that session, client or issuer
	// ("" with "issuer": every issuer). Builds without them refuse such a
	// line (no user or family) rather than misread it.
	By string `json:"by,omitzero"`
	ID string `json:"id,omitzero"`
}

// Header is the first line of an export of node nodeID made at at.
func Header(nodeID string, at time.Time) Line {
	return Line{Kind: KindHeader, Format: Format, Version: Version, NodeID: nodeID, ExportedAt: at.UTC()}
}

// nanoTime turns Unix nanoseconds into a time, zero staying zero.
func nanoTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// timeNano is nanoTime's inverse.
func timeNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// EntryLine is the line of a store entry: its outstanding record and its
// blacklisting, if any.
func EntryLine(e persist.Entry) Line {
	r := e.Merged()
	l := Line{Kind: KindToken, JTI: r.JTI, User: r.User, TokenType: r.Type, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt,
		CreatedAt: nanoTime(r.CreatedAt), Origin: r.Origin, Family: r.Family, Token: r.Token,
		ClientID: r.ClientID, SessionID: r.SessionID, Scope: r.Scope}
	if b := e.Blacklisted; b != nil {
		l.BlacklistedAt, l.Reason = nanoTime(b.BlacklistedAt), b.Reason
		if b.Origin != r.Origin {
			l.BlacklistOrigin = b.Origin
		}
		if l.Token == "" {
			l.Token = b.Token
		}
	}
	return l
}

// RevocationLine is the line of a user or family revocation.
func RevocationLine(r persist.Revocation) Line {
	l := Line{Kind: KindRevocation, User: r.User, Family: r.Family, NotBefore: r.NotBefore, Expires: r.Expires, Origin: r.Origin}
	if r.By != persist.ByUser {
		l.By, l.ID = r.By.String(), r.ID
	}
	return l
}

// revokeBy reads a line's By: ok false for a name it does not know.
func revokeBy(by string) (persist.RevokeBy, bool) {
	for b := persist.ByUser; b <= persist.ByIssuer; b++ {
		if by == b.String() && b != persist.ByUser {
			return b, true
		}
	}
	return persist.ByUser, by == ""
}

// Decode parses and checks one line of an export (surrounding white space
// ignored). It never panics; its errors never quote a raw token.
func Decode(b []byte) (Line, error) {
	var l Line
	b = bytes.TrimSpace(b)
	if len(b) > MaxLineLen {
		return l, fmt.Errorf("line of %d bytes, longer than %d", len(b), MaxLineLen)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return Line{}, fmt.Errorf("not JSON: %s at byte %d", strings.TrimPrefix(se.Error(), "invalid character"), se.Offset)
		}
		return Line{}, errors.New("not an export line: a field has the wrong type")
	}
	str := func(name, s string, maxLen int) error {
		if len(s) > maxLen || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%s is not valid UTF-8 of at most %d bytes without NUL", name, maxLen)
		}
		return nil
	}
	switch l.Kind {
	case KindHeader:
		if l.Format != Format {
			return Line{}, fmt.Errorf("header: format %.40q, want %q", l.Format, Format)
		}
		if l.Version != Version {
			return Line{}, fmt.Errorf("header: version %d, this build reads %d", l.Version, Version)
		}
	case KindToken:
		if l.JTI == "" || len(l.JTI) > persist.MaxJTILen || !utf8.ValidString(l.JTI) {
			return Line{}, fmt.Errorf("token: jti must be 1..%d bytes of UTF-8", persist.MaxJTILen)
		}
		if l.ExpiresAt <= 0 {
			return Line{}, errors.New("token: exp must be positive")
		}
		for _, f := range []struct {
			name string
			v    string
			max  int
		}{{"user", l.User, 255}, {"token_type", l.TokenType, 64}, {"reason", l.Reason, 1024}, {"origin", l.Origin, 255},
			{"blacklist_origin", l.BlacklistOrigin, 255}, {"family", l.Family, 255}, {"token", l.Token, 64 << 10},
			{"client_id", l.ClientID, persist.MaxClientLen}, {"sid", l.SessionID, persist.MaxSessionLen}, {"scope", l.Scope, persist.MaxScopeLen}} {
			if err := str("token: "+f.name, f.v, f.max); err != nil {
				return Line{}, err
			}
		}
		if l.BlacklistedAt.IsZero() && (l.Reason != "" || l.BlacklistOrigin != "") {
			return Line{}, errors.New("token: reason or blacklist_origin without blacklisted_at")
		}
		if !l.BlacklistedAt.IsZero() && timeNano(l.BlacklistedAt) == 0 {
			return Line{}, errors.New("token: blacklisted_at is the Unix epoch")
		}
	case KindRevocation:
		by, ok := revokeBy(l.By)
		switch {
		case !ok:
			return Line{}, fmt.Errorf("revocation: unknown by %.40q", l.By)
		case by != persist.ByUser:
			if l.User != "" || l.Family != "" {
				return Line{}, fmt.Errorf("revocation: a %s revocation has no user or family", l.By)
			}
			if err := (persist.Revocation{By: by, ID: l.ID, NotBefore: 1}).Validate(); err != nil {
				return Line{}, fmt.Errorf("revocation: %s id: %w", l.By, err)
			}
		case l.ID != "":
			return Line{}, errors.New("revocation: id without by")
		case l.User == "" && l.Family == "":
			return Line{}, errors.New("revocation: user or family required")
		}
		if l.NotBefore <= 0 {
			return Line{}, errors.New("revocation: not_before must be positive")
		}
		for _, f := range []struct{ name, v string }{{"user", l.User}, {"family", l.Family}, {"origin", l.Origin}} {
			if err := str("revocation: "+f.name, f.v, 255); err != nil {
				return Line{}, err
			}
		}
	case "":
		return Line{}, errors.New(`no "kind"`)
	default:
		return Line{}, fmt.Errorf("unknown kind %.40q", l.Kind)
	}
	return l, nil
}

// Ops turns a token or revocation line into the store ops that import it:
// a token's outstanding record, then its blacklisting if it has one; a
// revocation. A header gives none.
func (l Line) Ops() []persist.Op {
	switch l.Kind {
	case KindToken:
		r := persist.Record{JTI: l.JTI, User: l.User, Type: l.TokenType, IssuedAt: l.IssuedAt, ExpiresAt: l.ExpiresAt,
			CreatedAt: timeNano(l.CreatedAt), Origin: l.Origin, Family: l.Family, Token: l.Token,
			ClientID: l.ClientID, SessionID: l.SessionID, Scope: l.Scope}
		ops := []persist.Op{{Kind: persist.OpOutstanding, Record: r}}
		if !l.BlacklistedAt.IsZero() {
			b := r
			b.BlacklistedAt, b.Reason = timeNano(l.BlacklistedAt), l.Reason
			if l.BlacklistOrigin != "" {
				b.Origin = l.BlacklistOrigin
			}
			ops = append(ops, persist.Op{Kind: persist.OpBlacklist, Record: b})
		}
		return ops
	case KindRevocation:
		by, _ := revokeBy(l.By)
		return []persist.Op{{Kind: persist.OpRevoke, Revocation: persist.Revocation{By: by, ID: l.ID, User: l.User, Family: l.Family,
			NotBefore: l.NotBefore, Expires: l.Expires, Origin: l.Origin}}}
	}
	return nil
}
