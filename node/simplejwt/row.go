package simplejwt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blnode/blnode/persist"
)

// The tables read, and the names (with .csv) of their CSV files in a directory.
const (
	OutstandingTable = "token_blacklist_outstandingtoken"
	BlacklistedTable = "token_blacklist_blacklistedtoken"
)

// maxRawToken bounds the token text decoded for its claims.
const maxRawToken = 64 << 10

// Row is one outstanding token row with its blacklisting, as text; an
// empty string is SQL NULL (COPY writes NULL as an empty field).
type Row struct {
	JTI           string
	Token         string
	CreatedAt     string
	ExpiresAt     string
	UserID        string
	Blacklisted   bool
	BlacklistedAt string
}

// Options say how rows become records.
type Options struct {
	TypeClaim string    // name of the token type claim; default "token_type"
	KeepRaw   bool      // keep the raw token text
	Origin    string    // node id recorded as the records' origin
	Now       time.Time // stands in for a NULL created_at or blacklisted_at
}

// DecodeRow turns a row into a record; BlacklistedAt is set when the
// row is blacklisted. Errors name the column and never quote the token.
func DecodeRow(row Row, o Options) (persist.Record, error) {
	var r persist.Record
	switch {
	case row.JTI == "":
		return r, errors.New("jti is empty")
	case len(row.JTI) > persist.MaxJTILen:
		return r, fmt.Errorf("jti is %d bytes, longer than %d", len(row.JTI), persist.MaxJTILen)
	case !utf8.ValidString(row.JTI):
		return r, errors.New("jti is not valid UTF-8")
	}
	exp, err := parseDBTime(row.ExpiresAt)
	if err != nil {
		return r, fmt.Errorf("expires_at: %w", err)
	}
	if exp.Unix() <= 0 {
		return r, fmt.Errorf("expires_at %s is not after 1970", exp.UTC().Format(time.RFC3339))
	}
	hasCreated := strings.TrimSpace(row.CreatedAt) != "" && !isNullText(row.CreatedAt)
	var created time.Time
	if hasCreated {
		if created, err = parseDBTime(row.CreatedAt); err != nil {
			return r, fmt.Errorf("created_at: %w", err)
		}
	}
	var blacklistedAt time.Time
	if row.Blacklisted {
		blacklistedAt = o.Now
		if strings.TrimSpace(row.BlacklistedAt) != "" && !isNullText(row.BlacklistedAt) {
			if blacklistedAt, err = parseDBTime(row.BlacklistedAt); err != nil {
				return r, fmt.Errorf("blacklisted_at: %w", err)
			}
		}
	}
	user := strings.TrimSpace(row.UserID)
	if isNullText(user) {
		user = ""
	}
	if strings.IndexByte(user, 0) >= 0 || len(user) > 255 || !utf8.ValidString(user) {
		return r, errors.New("user_id is not a user id")
	}
	r = persist.Record{JTI: row.JTI, User: user, ExpiresAt: exp.Unix(), Origin: o.Origin}
	typeClaim := o.TypeClaim
	if typeClaim == "" {
		typeClaim = "token_type"
	}
	r.Type, r.IssuedAt = tokenTypeAndIAT(row.Token, typeClaim)
	switch {
	case hasCreated && r.IssuedAt == 0:
		r.IssuedAt = created.Unix() // Simple JWT sets created_at to the token's iat
	case !hasCreated && r.IssuedAt != 0:
		created = time.Unix(r.IssuedAt, 0) // and the other way round
	case !hasCreated && row.Blacklisted:
		created = blacklistedAt // it existed by then at the latest
	case !hasCreated:
		created = o.Now
	}
	// The earliest time known: every node that applies the events keeps
	// the earliest, so the importer keeps it too.
	if row.Blacklisted && blacklistedAt.Before(created) {
		created = blacklistedAt
	}
	r.CreatedAt = created.UnixNano()
	if row.Blacklisted {
		r.BlacklistedAt = max(blacklistedAt.UnixNano(), 1)
	}
	if o.KeepRaw {
		r.Token = row.Token
	}
	return r, nil
}

// isNullText reports the NULL spellings of exports other than COPY's empty
// field: MySQL's \N and a literal NULL.
func isNullText(s string) bool {
	s = strings.TrimSpace(s)
	return s == `\N` || s == "NULL"
}

// dbTimeLayouts are the datetime forms databases print: PostgreSQL's
// "2024-01-02 03:04:05.123456+00" (or +05:30), MySQL's and Django-on-SQLite's
// "2024-01-02 03:04:05.123456" (UTC, as Django stores it with USE_TZ), and
// RFC 3339. A fraction of a second is accepted after the seconds of each.
var dbTimeLayouts = []string{
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z07",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
}

// parseDBTime reads a datetime as a database prints it; one without a zone
// is UTC. A bare number is Unix seconds. Years outside 1970 … 2261 are
// refused: records keep times in Unix nanoseconds.
func parseDBTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || isNullText(s) {
		return time.Time{}, errors.New("empty")
	}
	if len(s) > 64 {
		return time.Time{}, fmt.Errorf("cannot read %.40q… as a date and time", s)
	}
	for _, l := range dbTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.Year() < 1970 || t.Year() > 2261 { // what Unix nanoseconds hold
				return time.Time{}, fmt.Errorf("%q is out of range (1970 to 2261)", s)
			}
			return t.UTC(), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1e11 && !math.IsNaN(f) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a date and time", s)
}

// tokenTypeAndIAT reads the type and iat claims from a JWT's payload
// without verifying it; it returns zero values when it cannot.
func tokenTypeAndIAT(raw, typeClaim string) (typ string, iat int64) {
	if raw == "" || len(raw) > maxRawToken {
		return "", 0
	}
	parts := strings.Split(strings.TrimSpace(raw), ".")
	if len(parts) != 3 {
		return "", 0
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", 0
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return "", 0
	}
	var s string
	if json.Unmarshal(claims[typeClaim], &s) == nil && len(s) <= 64 && utf8.ValidString(s) {
		typ = s
	}
	var f float64
	if json.Unmarshal(claims["iat"], &f) == nil && f > 0 && f < 1e11 {
		iat = int64(f)
	}
	return typ, iat
}
