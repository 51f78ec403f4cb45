package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver "sqlite": no cgo

	"github.com/blnode/blnode/persist"
)

// Reading Simple JWT's token_blacklist tables as its migrations leave them
// (0001 … 0013):
//
//	token_blacklist_outstandingtoken: id, jti varchar(255) unique, token text,
//	    created_at datetime NULL, expires_at datetime, user_id NULL
//	token_blacklist_blacklistedtoken: id, blacklisted_at datetime,
//	    token_id unique → outstandingtoken.id
//
// from a Django SQLite database file, or from the two tables exported as
// CSV with a header line (PostgreSQL's COPY … TO … CSV HEADER; MySQL users
// can produce the same). Rows are decoded as text, so both sources share one
// decoder. The raw token column is read only for its token_type and iat
// claims (its signature is not checked: the rows come from the operator's
// own database); it is never logged, and kept only with --keep-raw-token.

// Table names, and the CSV files a --from-simplejwt-csv DIR holds.
const (
	sjwtOutstandingTable = "token_blacklist_outstandingtoken"
	sjwtBlacklistedTable = "token_blacklist_blacklistedtoken"
)

// maxRawToken bounds the token text decoded for its claims.
const maxRawToken = 64 << 10

// sjwtRow is one outstanding token row with its blacklisting, as text; an
// empty string is SQL NULL (COPY writes NULL as an empty field).
type sjwtRow struct {
	JTI           string
	Token         string
	CreatedAt     string
	ExpiresAt     string
	UserID        string
	Blacklisted   bool
	BlacklistedAt string
}

// sjwtOptions say how rows become records.
type sjwtOptions struct {
	TypeClaim string    // name of the token type claim; default "token_type"
	KeepRaw   bool      // keep the raw token text
	Origin    string    // node id recorded as the records' origin
	Now       time.Time // stands in for a NULL created_at or blacklisted_at
}

// decodeSJWTRow turns a row into a record; BlacklistedAt is set when the
// row is blacklisted. Errors name the column and never quote the token.
func decodeSJWTRow(row sjwtRow, o sjwtOptions) (persist.Record, error) {
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

// sjwtSource reads the rows of one of the two sources.
type sjwtSource interface {
	// total is the work ahead, in the units rows reports to tick.
	total() int64
	// rows calls fn for every outstanding token row in id order and tick
	// after each with the work done so far; a row that cannot be read is
	// passed to bad with where it is and why, and skipped.
	rows(ctx context.Context, fn func(sjwtRow) error, tick func(done int64), bad func(where string, err error)) error
	close() error
}

// sqliteSource reads a Django SQLite database, read-only.
type sqliteSource struct {
	path string
	db   *sql.DB
	n    int64
}

func openSQLiteSource(ctx context.Context, path string) (*sqliteSource, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err // the driver would create a missing file
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dsn := (&url.URL{Scheme: "file", Path: abs}).String() + "?mode=ro"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	s := &sqliteSource{path: path, db: db}
	for _, table := range []string{sjwtOutstandingTable, sjwtBlacklistedTable} {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: not a readable SQLite database: %w", path, err)
		}
		if n == 0 {
			db.Close()
			return nil, fmt.Errorf("%s has no table %s: is it the database of the Django project, with rest_framework_simplejwt.token_blacklist migrated?", path, table)
		}
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+sjwtOutstandingTable).Scan(&s.n); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func (s *sqliteSource) total() int64 { return s.n }
func (s *sqliteSource) close() error { return s.db.Close() }

func (s *sqliteSource) rows(ctx context.Context, fn func(sjwtRow) error, tick func(int64), bad func(string, error)) error {
	// CAST … AS TEXT: the driver turns columns declared datetime into
	// time.Time by its own rules; text goes through the one decoder.
	rows, err := s.db.QueryContext(ctx, `
		SELECT o.id, o.jti, o.token, CAST(o.created_at AS TEXT), CAST(o.expires_at AS TEXT), CAST(o.user_id AS TEXT),
		       b.id IS NOT NULL, CAST(b.blacklisted_at AS TEXT)
		FROM `+sjwtOutstandingTable+` AS o
		LEFT JOIN `+sjwtBlacklistedTable+` AS b ON b.token_id = o.id
		ORDER BY o.id`)
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	defer rows.Close()
	var done int64
	for rows.Next() {
		var id int64
		var jti, tok, created, expires, user, blAt sql.NullString
		var blacklisted bool
		done++
		if err := rows.Scan(&id, &jti, &tok, &created, &expires, &user, &blacklisted, &blAt); err != nil {
			bad(fmt.Sprintf("%s row %d", sjwtOutstandingTable, done), err)
			tick(done)
			continue
		}
		row := sjwtRow{JTI: jti.String, Token: tok.String, CreatedAt: created.String, ExpiresAt: expires.String,
			UserID: user.String, Blacklisted: blacklisted, BlacklistedAt: blAt.String}
		if err := fn(row); err != nil {
			return err
		}
		tick(done)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

// csvSource reads DIR/token_blacklist_outstandingtoken.csv and
// DIR/token_blacklist_blacklistedtoken.csv.
type csvSource struct {
	outPath, blPath string
	outSize         int64
}

func openCSVSource(dir string) (*csvSource, error) {
	s := &csvSource{outPath: filepath.Join(dir, sjwtOutstandingTable+".csv"), blPath: filepath.Join(dir, sjwtBlacklistedTable+".csv")}
	st, err := os.Stat(s.outPath)
	if err != nil {
		return nil, fmt.Errorf("%w (want %s.csv and %s.csv in %s, from COPY … TO … CSV HEADER)", err, sjwtOutstandingTable, sjwtBlacklistedTable, dir)
	}
	s.outSize = st.Size()
	if _, err := os.Stat(s.blPath); err != nil {
		return nil, fmt.Errorf("%w (want %s.csv beside %s.csv)", err, sjwtBlacklistedTable, sjwtOutstandingTable)
	}
	return s, nil
}

func (s *csvSource) total() int64 { return s.outSize }
func (s *csvSource) close() error { return nil }

// csvTable is a CSV file with a header line, read record by record.
type csvTable struct {
	path string
	cr   *csv.Reader
	cnt  *countingReader
	col  map[string]int
	line int
}

func openCSVTable(path string, required, optional []string) (*csvTable, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	t, err := newCSVTable(path, f, required, optional)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return t, f.Close, nil
}

func newCSVTable(path string, r io.Reader, required, optional []string) (*csvTable, error) {
	cnt := &countingReader{r: r}
	cr := csv.NewReader(bufio.NewReaderSize(cnt, 1<<16))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header line: %w", path, err)
	}
	t := &csvTable{path: path, cr: cr, cnt: cnt, col: map[string]int{}, line: 1}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		t.col[h] = i
	}
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			return nil, fmt.Errorf("%s: the header has no column %q (want the header line of COPY … TO … CSV HEADER: %s)", path, c, strings.Join(append(slices.Clone(required), optional...), ","))
		}
	}
	cr.FieldsPerRecord = len(header)
	return t, nil
}

// next returns the next record, or io.EOF; an unreadable line gives an
// error naming it, and reading can go on.
func (t *csvTable) next() ([]string, error) {
	rec, err := t.cr.Read()
	t.line++
	if err != nil && !errors.Is(err, io.EOF) {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s line %d: %w", t.path, pe.Line, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", t.path, err)
	}
	return rec, err
}

// field returns the named column of rec, "" when the table lacks it.
func (t *csvTable) field(rec []string, name string) string {
	if i, ok := t.col[name]; ok && i < len(rec) {
		return rec[i]
	}
	return ""
}

func (s *csvSource) rows(ctx context.Context, fn func(sjwtRow) error, tick func(int64), bad func(string, error)) error {
	bl, err := readBlacklistedCSV(s.blPath, bad)
	if err != nil {
		return err
	}
	t, closeFile, err := openCSVTable(s.outPath, []string{"id", "jti", "expires_at"}, []string{"token", "created_at", "user_id"})
	if err != nil {
		return err
	}
	defer closeFile()
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := t.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if isFatalCSV(err) {
				return err
			}
			bad(err.Error(), errors.New("unreadable CSV line"))
			tick(t.cnt.n)
			continue
		}
		row, err := decodeOutstandingCSV(t, rec, bl)
		if err != nil {
			bad(fmt.Sprintf("%s line %d", t.path, t.line), err)
			tick(t.cnt.n)
			continue
		}
		if err := fn(row); err != nil {
			return err
		}
		tick(t.cnt.n)
	}
}

// isFatalCSV reports a read error after which the file cannot be read on
// (as opposed to one malformed line).
func isFatalCSV(err error) bool {
	var pe *csv.ParseError
	return !errors.As(err, &pe)
}

// decodeOutstandingCSV makes a row of one outstandingtoken record and the
// blacklisted_at of its id (from the blacklistedtoken table), if any.
func decodeOutstandingCSV(t *csvTable, rec []string, bl map[string]string) (sjwtRow, error) {
	id := strings.TrimSpace(t.field(rec, "id"))
	if id == "" {
		return sjwtRow{}, errors.New("id is empty")
	}
	row := sjwtRow{
		JTI: t.field(rec, "jti"), Token: t.field(rec, "token"), CreatedAt: t.field(rec, "created_at"),
		ExpiresAt: t.field(rec, "expires_at"), UserID: t.field(rec, "user_id"),
	}
	row.BlacklistedAt, row.Blacklisted = bl[id]
	return row, nil
}

// readBlacklistedCSV reads the blacklistedtoken table into token_id →
// blacklisted_at.
func readBlacklistedCSV(path string, bad func(string, error)) (map[string]string, error) {
	t, closeFile, err := openCSVTable(path, []string{"token_id"}, []string{"id", "blacklisted_at"})
	if err != nil {
		return nil, err
	}
	defer closeFile()
	out := map[string]string{}
	for {
		rec, err := t.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if isFatalCSV(err) {
				return nil, err
			}
			bad(err.Error(), errors.New("unreadable CSV line"))
			continue
		}
		id := strings.TrimSpace(t.field(rec, "token_id"))
		if id == "" {
			bad(fmt.Sprintf("%s line %d", path, t.line), errors.New("token_id is empty"))
			continue
		}
		out[id] = strings.Clone(t.field(rec, "blacklisted_at"))
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
