package simplejwt

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver "sqlite": no cgo
)

// SQLite reads a Django SQLite database, read-only.
type SQLite struct {
	path string
	db   *sql.DB
	n    int64
}

// OpenSQLite opens the Django SQLite database at path, read-only, and
// checks that it holds both tables.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
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
	s := &SQLite{path: path, db: db}
	for _, table := range []string{OutstandingTable, BlacklistedTable} {
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
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+OutstandingTable).Scan(&s.n); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Total is the number of outstanding token rows.
func (s *SQLite) Total() int64 { return s.n }

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Rows reads the rows (Source).
func (s *SQLite) Rows(ctx context.Context, fn func(Row) error, tick func(int64), bad func(string, error)) error {
	// CAST … AS TEXT: the driver turns columns declared datetime into
	// time.Time by its own rules; text goes through the one decoder.
	rows, err := s.db.QueryContext(ctx, `
		SELECT o.id, o.jti, o.token, CAST(o.created_at AS TEXT), CAST(o.expires_at AS TEXT), CAST(o.user_id AS TEXT),
		       b.id IS NOT NULL, CAST(b.blacklisted_at AS TEXT)
		FROM `+OutstandingTable+` AS o
		LEFT JOIN `+BlacklistedTable+` AS b ON b.token_id = o.id
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
			bad(fmt.Sprintf("%s row %d", OutstandingTable, done), err)
			tick(done)
			continue
		}
		row := Row{JTI: jti.String, Token: tok.String, CreatedAt: created.String, ExpiresAt: expires.String,
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
