package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/original/originaltest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/simplejwt"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// simpleJWTSchema is the SQLite schema Django creates for Simple JWT's
// token_blacklist app once all its migrations (0001 … 0013) have run, as
// "manage.py sqlmigrate" prints it, with the auth_user table its foreign
// key points at.
const simpleJWTSchema = `
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);
CREATE TABLE "token_blacklist_outstandingtoken" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "token" text NOT NULL, "created_at" datetime NULL, "expires_at" datetime NOT NULL, "user_id" integer NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED, "jti" varchar(255) NOT NULL UNIQUE);
CREATE INDEX "token_blacklist_outstandingtoken_user_id_83bc629a" ON "token_blacklist_outstandingtoken" ("user_id");
CREATE TABLE "token_blacklist_blacklistedtoken" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "blacklisted_at" datetime NOT NULL, "token_id" bigint NOT NULL UNIQUE REFERENCES "token_blacklist_outstandingtoken" ("id") DEFERRABLE INITIALLY DEFERRED);
`

var testSecret = []byte("django-insecure-import-test-key")

// sjwtFixture is one row of the original's tables.
type sjwtFixture struct {
	id          int
	jti         string
	token       string
	typ         string // what the token says; "" when the token is unreadable
	user        int    // 0: NULL
	created     time.Time
	nullCreated bool
	iat         int64
	expires     time.Time
	blacklisted time.Time // zero: not blacklisted
	badExpiry   bool      // expires_at holds text no database prints
}

func (f sjwtFixture) expired(cutoff time.Time) bool { return f.expires.Before(cutoff) }

// sjwtFixtures makes n rows: refresh and sliding tokens, some users NULL,
// some created_at NULL, every tenth expired, every fifth blacklisted, one
// with an unreadable token and one with an unreadable expiry.
func sjwtFixtures(n int, now time.Time) []sjwtFixture {
	now = now.UTC().Truncate(time.Microsecond) // Django keeps microseconds
	out := make([]sjwtFixture, n)
	for i := range out {
		f := sjwtFixture{id: i + 1, jti: sjwt.JTI(), typ: "refresh", user: 1000 + i%13}
		if i%7 == 0 {
			f.user = 0
		}
		if i%4 == 3 {
			f.typ = "sliding"
		}
		f.created = now.Add(-time.Duration(i+1) * time.Minute)
		f.iat = f.created.Unix()
		f.expires = time.Unix(f.iat, 0).Add(24 * time.Hour).UTC()
		if i%10 == 9 {
			f.expires = now.Add(-48 * time.Hour).Truncate(time.Second)
		}
		if i%11 == 5 {
			f.nullCreated = true
		}
		if i%5 == 0 {
			f.blacklisted = f.created.Add(30 * time.Second)
		}
		var user any
		if f.user != 0 {
			user = f.user
		}
		f.token, _ = sjwt.Token{Type: f.typ, User: user, JTI: f.jti, Now: time.Unix(f.iat, 0), TTL: time.Unix(f.expires.Unix(), 0).Sub(time.Unix(f.iat, 0))}.Mint(testSecret)
		out[i] = f
	}
	out[1].token, out[1].typ = "not a jwt", "" // iat then comes from created_at
	out[2].badExpiry = true
	return out
}

// djangoTime is how Django writes a datetime into SQLite (UTC, USE_TZ).
func djangoTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

// writeSimpleJWTSQLite builds a real SQLite file with the original's
// schema and rows.
func writeSimpleJWTSQLite(t testing.TB, path string, rows []sjwtFixture) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(simpleJWTSchema); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for u := 1000; u < 1013; u++ {
		if _, err := tx.Exec(`INSERT INTO auth_user (id, password, is_superuser, username, last_name, email, is_staff, is_active, date_joined, first_name) VALUES (?, '', 0, ?, '', '', 0, 1, ?, '')`,
			u, fmt.Sprintf("user%d", u), djangoTime(time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range rows {
		var created, user any
		if !f.nullCreated {
			created = djangoTime(f.created)
		}
		if f.user != 0 {
			user = f.user
		}
		exp := djangoTime(f.expires)
		if f.badExpiry {
			exp = "next tuesday"
		}
		if _, err := tx.Exec(`INSERT INTO token_blacklist_outstandingtoken (id, token, created_at, expires_at, user_id, jti) VALUES (?, ?, ?, ?, ?, ?)`,
			f.id, f.token, created, exp, user, f.jti); err != nil {
			t.Fatal(err)
		}
		if !f.blacklisted.IsZero() {
			if _, err := tx.Exec(`INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id) VALUES (?, ?)`, djangoTime(f.blacklisted), f.id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// writeSimpleJWTCSV writes the tables as PostgreSQL's COPY … TO … CSV
// HEADER does: table column order, NULL as an empty field, timestamptz in
// the session's zone (UTC for some rows, +05:30 for others).
func writeSimpleJWTCSV(t testing.TB, dir string, rows []sjwtFixture) {
	t.Helper()
	india := time.FixedZone("IST", 5*3600+1800)
	pg := func(i int, tm time.Time) string {
		if i%2 == 0 {
			return tm.UTC().Format("2006-01-02 15:04:05.999999-07")
		}
		return tm.In(india).Format("2006-01-02 15:04:05.999999-07:00")
	}
	write := func(name string, records [][]string) {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		if err := w.WriteAll(records); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := [][]string{{"id", "token", "created_at", "expires_at", "user_id", "jti"}}
	bl := [][]string{{"id", "blacklisted_at", "token_id"}}
	for i, f := range rows {
		created, user := "", ""
		if !f.nullCreated {
			created = pg(i, f.created)
		}
		if f.user != 0 {
			user = fmt.Sprint(f.user)
		}
		exp := pg(i+1, f.expires)
		if f.badExpiry {
			exp = "next tuesday"
		}
		out = append(out, []string{fmt.Sprint(f.id), f.token, created, exp, user, f.jti})
		if !f.blacklisted.IsZero() {
			bl = append(bl, []string{fmt.Sprint(len(bl)), pg(i, f.blacklisted), fmt.Sprint(f.id)})
		}
	}
	write(simplejwt.OutstandingTable+".csv", out)
	write(simplejwt.BlacklistedTable+".csv", bl)
}

// openStore opens a data dir the command wrote, for the test to look in.
func openStore(t testing.TB, dir string) *persist.Store {
	t.Helper()
	s, err := persist.Open(dir, persist.Options{KeepRawToken: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listing returns every entry of a stopped store, merged, in jti order.
func listing(t testing.TB, dir string) []persist.Record {
	t.Helper()
	s := openStore(t, dir)
	defer s.Close()
	var out []persist.Record
	for e, err := range s.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Merged())
	}
	return out
}

// wantRecords is what an import of rows should hold, by jti.
func wantRecords(rows []sjwtFixture, cutoff time.Time, origin string) map[string]persist.Record {
	want := map[string]persist.Record{}
	for _, f := range rows {
		if f.badExpiry || f.expired(cutoff) {
			continue
		}
		r := persist.Record{JTI: f.jti, Type: f.typ, IssuedAt: f.iat, ExpiresAt: f.expires.Unix(), CreatedAt: f.created.UnixNano(), Origin: origin}
		if f.user != 0 {
			r.User = fmt.Sprint(f.user)
		}
		if f.nullCreated {
			r.CreatedAt = time.Unix(f.iat, 0).UnixNano() // the token's iat stands in
		}
		if !f.blacklisted.IsZero() {
			r.BlacklistedAt = f.blacklisted.UnixNano()
		}
		want[f.jti] = r
	}
	return want
}

// checkImported compares a store's listing with what rows should give.
func checkImported(t *testing.T, dir string, rows []sjwtFixture, cutoff time.Time, origin string) {
	t.Helper()
	want := wantRecords(rows, cutoff, origin)
	got := listing(t, dir)
	if len(got) != len(want) {
		t.Errorf("store holds %d tokens, want %d", len(got), len(want))
	}
	for _, r := range got {
		w, ok := want[r.JTI]
		if !ok {
			t.Errorf("unexpected token %s (expired or invalid rows must be skipped)", r.JTI)
			continue
		}
		if r.Token != "" {
			t.Errorf("%s: raw token stored without --keep-raw-token", r.JTI)
		}
		if r != w {
			t.Errorf("%s:\n got %+v\nwant %+v", r.JTI, r, w)
		}
	}
}

// summaryNumber reads "  NAME: N" from an import summary.
func summaryNumber(t testing.TB, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + name + `:\s+([\d,]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary has no %q line:\n%s", name, out)
	}
	var n int
	fmt.Sscan(strings.ReplaceAll(m[1], ",", ""), &n)
	return n
}

func countRows(rows []sjwtFixture, cutoff time.Time) (expired, active, blacklisted int) {
	for _, f := range rows {
		switch {
		case f.badExpiry:
		case f.expired(cutoff):
			expired++
		default:
			active++
			if !f.blacklisted.IsZero() {
				blacklisted++
			}
		}
	}
	return
}

func TestImportSimpleJWTSQLite(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	rows := sjwtFixtures(300, now)
	db := filepath.Join(dir, "db.sqlite3")
	writeSimpleJWTSQLite(t, db, rows)
	data := filepath.Join(dir, "data")
	cutoff := now.Add(-time.Minute)
	expired, active, blacklisted := countRows(rows, cutoff)

	stdout, stderr, code := runCLI(t, nil, "", "import", "--data", data, "--from-simplejwt-sqlite", db, "--region", "eu-west")
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, stdout, stderr)
	}
	for name, want := range map[string]int{"read": len(rows), "expired": expired, "invalid": 1, "new": active + blacklisted,
		"unchanged": 0, "events": active + blacklisted} {
		if got := summaryNumber(t, stdout, name); got != want {
			t.Errorf("summary %s = %d, want %d\n%s", name, got, want, stdout)
		}
	}
	if !strings.Contains(stderr, "expires_at") || !strings.Contains(stderr, "next tuesday") {
		t.Errorf("stderr does not name the unreadable row:\n%s", stderr)
	}
	for _, f := range rows {
		if strings.Contains(stdout+stderr, f.token) && f.token != "not a jwt" {
			t.Fatalf("a raw token appears in the output")
		}
	}
	s := openStore(t, data)
	nodeID, _ := s.NodeID(func() string { return "unused" })
	c, _ := s.Counts()
	if c.Outstanding != uint64(active) || c.Blacklisted != uint64(blacklisted) || c.Outbox != uint64(active+blacklisted) {
		t.Errorf("Counts = %+v; want %d outstanding, %d blacklisted, one outbox event each", c, active, blacklisted)
	}
	// The outbox holds the events a replica needs: a blacklist event at the
	// original's blacklisted_at, in this node's region.
	pending, _ := s.OutboxPending(int(c.Outbox))
	kinds := map[events.Kind]int{}
	for _, data := range outboxEvents(pending) {
		ev, err := events.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		kinds[ev.Kind]++
		if ev.Region != "eu-west" || ev.Origin != nodeID {
			t.Errorf("event region %q origin %q, want eu-west and %s", ev.Region, ev.Origin, nodeID)
		}
		if ev.Kind == events.KindBlacklist {
			r, err := s.Lookup(ev.Token.JTI)
			if err != nil || !ev.Time.Equal(time.Unix(0, r.BlacklistedAt)) {
				t.Errorf("blacklist event of %s at %v, record blacklisted at %v (%v)", ev.Token.JTI, ev.Time, time.Unix(0, r.BlacklistedAt), err)
			}
		}
	}
	if kinds[events.KindOutstanding] != active || kinds[events.KindBlacklist] != blacklisted {
		t.Errorf("outbox kinds %v, want %d outstanding and %d blacklist", kinds, active, blacklisted)
	}
	s.Close()
	checkImported(t, data, rows, cutoff, nodeID)

	// Twice: nothing new, no new events.
	stdout, stderr, code = runCLI(t, nil, "", "import", "--data", data, "--from-simplejwt-sqlite", db)
	if code != 0 {
		t.Fatalf("second import: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := summaryNumber(t, stdout, "new"); got != 0 {
		t.Errorf("second import added %d, want 0\n%s", got, stdout)
	}
	if got := summaryNumber(t, stdout, "unchanged"); got != active+blacklisted {
		t.Errorf("second import: %d unchanged, want %d", got, active+blacklisted)
	}
	s = openStore(t, data)
	if c2, _ := s.Counts(); c2 != c {
		t.Errorf("Counts after the second import %+v, want %+v", c2, c)
	}
}

func TestImportSimpleJWTCSVMatchesSQLite(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	rows := sjwtFixtures(120, now)
	db := filepath.Join(dir, "db.sqlite3")
	writeSimpleJWTSQLite(t, db, rows)
	csvDir := filepath.Join(dir, "csv")
	if err := os.Mkdir(csvDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeSimpleJWTCSV(t, csvDir, rows)
	cutoff := now.Add(-time.Minute)

	for _, args := range [][]string{
		{"--data", filepath.Join(dir, "from-sqlite"), "--from-simplejwt-sqlite", db},
		{"--data", filepath.Join(dir, "from-csv"), "--from-simplejwt-csv", csvDir},
	} {
		stdout, stderr, code := runCLI(t, nil, "", append([]string{"import", "--node-id", "importer", "--progress", "none"}, args...)...)
		if code != 0 {
			t.Fatalf("import %v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		if got := summaryNumber(t, stdout, "invalid"); got != 1 {
			t.Errorf("import %v: %d invalid, want 1 (the row with an unreadable expiry)", args, got)
		}
	}
	checkImported(t, filepath.Join(dir, "from-csv"), rows, cutoff, "importer")
	a, b := listing(t, filepath.Join(dir, "from-sqlite")), listing(t, filepath.Join(dir, "from-csv"))
	if len(a) != len(b) {
		t.Fatalf("SQLite import holds %d tokens, CSV import %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("token %d differs:\nsqlite %+v\n   csv %+v", i, a[i], b[i])
		}
	}

	stdout, _, _ := runCLI(t, nil, "", "import", "--node-id", "importer", "--progress", "none", "--data", filepath.Join(dir, "from-csv"), "--from-simplejwt-csv", csvDir)
	if got := summaryNumber(t, stdout, "new"); got != 0 {
		t.Errorf("second CSV import added %d, want 0", got)
	}
}

func TestExportImportJSONLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	rows := sjwtFixtures(150, now)
	db := filepath.Join(dir, "db.sqlite3")
	writeSimpleJWTSQLite(t, db, rows)
	a := filepath.Join(dir, "a")
	if _, stderr, code := runCLI(t, nil, "", "import", "--data", a, "--from-simplejwt-sqlite", db, "--progress", "none", "--keep-raw-token"); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	// What Simple JWT has not: a reason, another node's blacklisting, a
	// refresh family, user and family revocations.
	s := openStore(t, a)
	exp := now.Add(time.Hour).Unix()
	if _, err := s.Blacklist(persist.Record{JTI: "native", User: "7", Type: "access", ExpiresAt: exp, Reason: "laptop stolen", Origin: "other-node", Family: "fam-1"}, nil); err != nil {
		t.Fatal(err)
	}
	// Another node's blacklisting of a token this one registered.
	if _, err := s.Apply([]persist.Op{{Kind: persist.OpBlacklist, Record: persist.Record{JTI: rows[3].jti, User: "1003",
		ExpiresAt: rows[3].expires.Unix(), CreatedAt: now.UnixNano(), BlacklistedAt: now.UnixNano(), Origin: "n3", Reason: "seen on n3"}}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(persist.Revocation{User: "1003", NotBefore: now.Add(-time.Hour).Unix(), Expires: exp, Origin: "n2"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(persist.Revocation{Family: "fam-1", User: "7", NotBefore: now.Unix(), Expires: exp}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	export := func(data string) []string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "export.jsonl")
		_, stderr, code := runCLI(t, nil, "", "export", "--data", data, "--output", out, "--progress", "none")
		if code != 0 {
			t.Fatalf("export: exit %d: %s", code, stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) < 2 || !strings.Contains(lines[0], `"kind":"header"`) {
			t.Fatalf("export starts %q, want a header line", lines[0])
		}
		return lines
	}
	first := export(a)
	// stdout works too, and gives the same lines.
	stdout, _, code := runCLI(t, nil, "", "export", "--data", a, "--progress", "none")
	if code != 0 || !slices.Equal(strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")[1:], first[1:]) {
		t.Fatalf("export to stdout differs from export to a file")
	}
	file := filepath.Join(dir, "backup.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(first, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	b := filepath.Join(dir, "b")
	stdout, stderr, code := runCLI(t, nil, "", "import", "--data", b, "--jsonl", file, "--progress", "none", "--keep-raw-token")
	if code != 0 {
		t.Fatalf("import --jsonl: exit %d\n%s%s", code, stdout, stderr)
	}
	if got, want := summaryNumber(t, stdout, "read"), len(first)-1; got != want {
		t.Errorf("import --jsonl read %d records, want %d", got, want)
	}
	if !slices.Equal(listing(t, a), listing(t, b)) {
		t.Errorf("listings differ after export and import")
	}
	second := export(b)
	if !slices.Equal(first[1:], second[1:]) {
		for i := range min(len(first), len(second)) {
			if first[i] != second[i] {
				t.Errorf("line %d differs:\n%s\n%s", i+1, first[i], second[i])
				break
			}
		}
		t.Fatalf("the export of the imported store differs (%d and %d lines)", len(first), len(second))
	}
	if !strings.Contains(strings.Join(first, "\n"), `"blacklist_origin":"n3"`) {
		t.Error("a blacklisting by another node is exported without its origin")
	}
	if !strings.Contains(strings.Join(first, "\n"), `"token":"eyJ`) {
		t.Error("raw tokens kept with --keep-raw-token are not exported")
	}
	sb := openStore(t, b)
	if r, ok, _ := sb.FamilyNotBefore("fam-1"); !ok || r.NotBefore != now.Unix() || r.Expires != exp {
		t.Errorf("family revocation after round trip: %+v %v", r, ok)
	}
	if r, err := sb.Lookup("native"); err != nil || r.Reason != "laptop stolen" || r.Family != "fam-1" || !r.Blacklisted() {
		t.Errorf("native record after round trip: %+v %v", r, err)
	}
	sb.Close()

	// Again: idempotent.
	stdout, _, _ = runCLI(t, nil, "", "import", "--data", b, "--jsonl", file, "--progress", "none")
	if got := summaryNumber(t, stdout, "new"); got != 0 {
		t.Errorf("second import --jsonl added %d, want 0", got)
	}
	// From stdin, into a store that has nothing, without events.
	c := filepath.Join(dir, "c")
	stdout, stderr, code = runCLI(t, nil, strings.Join(first, "\n"), "import", "--data", c, "--jsonl", "-", "--no-publish", "--progress", "none")
	if code != 0 {
		t.Fatalf("import --jsonl -: %s", stderr)
	}
	sc := openStore(t, c)
	if cnt, _ := sc.Counts(); cnt.Outbox != 0 || cnt.Outstanding == 0 {
		t.Errorf("--no-publish import: Counts %+v, want tokens and an empty outbox", cnt)
	}
}

func TestImportRefusesARunningNode(t *testing.T) {
	data := t.TempDir()
	s, err := persist.Open(data, persist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	file := filepath.Join(t.TempDir(), "x.jsonl")
	os.WriteFile(file, []byte(`{"kind":"header","format":"blnode-export","version":1}`+"\n"), 0o600)
	for _, args := range [][]string{
		{"import", "--data", data, "--jsonl", file},
		{"export", "--data", data},
		{"compact", "--data", data},
	} {
		_, stderr, code := runCLI(t, nil, "", args...)
		if code != 1 || !strings.Contains(stderr, "in use") || !strings.Contains(stderr, "stop the node") {
			t.Errorf("%s on a held data dir: exit %d, %s", args[0], code, stderr)
		}
	}
}

func TestImportUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no source", []string{"import"}, "exactly one of"},
		{"two sources", []string{"import", "--jsonl", "a", "--from-simplejwt-csv", "b"}, "exactly one of"},
		{"bad progress", []string{"import", "--jsonl", "a", "--progress", "fancy"}, "--progress"},
		{"missing sqlite file", []string{"import", "--data", t.TempDir(), "--from-simplejwt-sqlite", filepath.Join(t.TempDir(), "nope.sqlite3")}, "no such file"},
		{"not the django database", []string{"import", "--data", t.TempDir(), "--from-simplejwt-sqlite", emptySQLite(t)}, "has no table token_blacklist_outstandingtoken"},
		{"csv dir without files", []string{"import", "--data", t.TempDir(), "--from-simplejwt-csv", t.TempDir()}, "token_blacklist_outstandingtoken.csv"},
		{"not an export", []string{"import", "--data", t.TempDir(), "--jsonl", writeFile(t, "hello\n")}, "line 1"},
		{"export without store", []string{"export", "--data", t.TempDir()}, "no store"},
		{"compact without store", []string{"compact", "--data", t.TempDir()}, "no store"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, nil, "", c.args...)
			if code != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, c.want)
			}
		})
	}
}

func emptySQLite(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "other.sqlite3")
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE "polls_question" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT)`); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t testing.TB, content string) string {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportProgressLinesWhenNotATerminal(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db.sqlite3")
	writeSimpleJWTSQLite(t, db, sjwtFixtures(200, time.Now()))
	// stderr is a buffer, not a terminal: auto picks plain lines.
	_, stderr, code := runCLI(t, nil, "", "import", "--data", filepath.Join(dir, "data"), "--from-simplejwt-sqlite", db)
	if code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "\x1b[") {
		t.Errorf("plain progress has terminal control characters: %q", stderr)
	}
	var pct []string
	for _, l := range strings.Split(stderr, "\n") {
		if m := regexp.MustCompile(`^import:\s+(\d+)% [\d,]+ rows`).FindStringSubmatch(l); m != nil {
			pct = append(pct, m[1])
		}
	}
	// A line at each tenth of the rows (and more if the clock says so).
	for _, want := range []string{"10", "50", "100"} {
		if !slices.Contains(pct, want) {
			t.Errorf("no progress line at %s%%; lines at %v\n%s", want, pct, stderr)
		}
	}
	if len(pct) < 10 || !regexp.MustCompile(`(?m)^import: done: 200 rows in `).MatchString(stderr) {
		t.Errorf("want at least 10 progress lines and a done line:\n%s", stderr)
	}
}

func TestCompactShrinksAfterRemovingMost(t *testing.T) {
	data := t.TempDir()
	s, err := persist.Open(data, persist.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	far := time.Now().Add(time.Hour).Unix()
	var ops []persist.ImportOp
	for i := range 30_000 {
		exp := int64(1000) // long expired: the flush below removes it
		if i%10 == 0 {
			exp = far
		}
		ops = append(ops, persist.ImportOp{Op: persist.Op{Kind: persist.OpOutstanding, Record: persist.Record{
			JTI: fmt.Sprintf("%032x", i), User: fmt.Sprint(i % 97), Type: "refresh", ExpiresAt: exp, CreatedAt: 1}}})
	}
	if _, err := s.Import(ops); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(2000, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, persist.FileName)
	st, _ := os.Stat(path)
	before := st.Size()

	stdout, stderr, code := runCLI(t, nil, "", "compact", "--data", data)
	if code != 0 {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	st, _ = os.Stat(path)
	if st.Size() >= before/2 {
		t.Errorf("compact: %d → %d bytes, want less than half", before, st.Size())
	}
	if !strings.Contains(stdout, humanBytes(before)+" → "+humanBytes(st.Size())) {
		t.Errorf("compact output %q does not report %s → %s", stdout, humanBytes(before), humanBytes(st.Size()))
	}
	s = openStore(t, data)
	if c, _ := s.Counts(); c.Outstanding != 3000 {
		t.Errorf("after compact: %d outstanding, want 3000", c.Outstanding)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	if _, err := s.Lookup(fmt.Sprintf("%032x", 10)); err != nil {
		t.Errorf("kept record lost: %v", err)
	}
	if _, err := s.Lookup(fmt.Sprintf("%032x", 11)); !errors.Is(err, persist.ErrNotFound) {
		t.Errorf("flushed record back: %v", err)
	}
}

// TestImportedTokensReachTheFleet starts a node on an imported data dir:
// it publishes the queued events, and a validator (a full mirror) that has
// never seen the Simple JWT tables ends up with the same tokens, times and
// blacklistings.
func TestImportedTokensReachTheFleet(t *testing.T) {
	dir := t.TempDir()
	rows := sjwtFixtures(60, time.Now())
	db := filepath.Join(dir, "db.sqlite3")
	writeSimpleJWTSQLite(t, db, rows)
	data := filepath.Join(dir, "full")
	if _, stderr, code := runCLI(t, nil, "", "import", "--data", data, "--from-simplejwt-sqlite", db, "--progress", "none"); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	want := listing(t, data)

	s := eventstest.RunServer(t)
	start := func(role node.Role, data string) *node.Node {
		// The validator is a full mirror, to hold the outstanding tokens too.
		n, err := node.New(node.Config{DataDir: data, Role: role, FlushInterval: -1, ValidatorMirror: node.MirrorFull,
			Token: token.Config{HSSecret: testSecret}, NATS: node.NATSConfig{URLs: []string{s.ClientURL()}},
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			<-done
			n.Close()
		})
		return n
	}
	full := start(node.RoleFull, data)
	validator := start(node.RoleValidator, filepath.Join(dir, "validator"))
	poll.For(t, time.Minute, pollEvery, func() error {
		c, err := validator.Store().Counts()
		if err != nil {
			return err
		}
		fc, _ := full.Store().Counts()
		if c.Outstanding != uint64(len(want)) || fc.Outbox != 0 {
			return fmt.Errorf("validator has %d of %d tokens; writer outbox %d", c.Outstanding, len(want), fc.Outbox)
		}
		return nil
	})
	var got []persist.Record
	for e, err := range validator.Store().Entries() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Merged())
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("validator differs from the import at %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		t.Fatalf("validator holds %d tokens, the import %d", len(got), len(want))
	}
	for _, f := range rows {
		if !f.blacklisted.IsZero() && !f.badExpiry && !f.expired(time.Now()) {
			if b, err := validator.Check(f.jti); err != nil || !b {
				t.Errorf("validator: imported blacklisted %s not blacklisted (%v)", f.jti, err)
			}
		}
	}
}

// outboxEvents flattens outbox entries into the events they hold.
func outboxEvents(entries []persist.OutboxEntry) [][]byte {
	var out [][]byte
	for _, e := range entries {
		out = append(out, e.Payloads...)
	}
	return out
}

// TestImportFromTheOriginalsDatabase moves a real Simple JWT deployment to
// blnode: tokens blacklisted through the original's own endpoint, in the
// SQLite database its migrations made, are imported, and blnode then
// refuses them, as the original did, and not the others.
func TestImportFromTheOriginalsDatabase(t *testing.T) {
	key := []byte("the-django-projects-signing-key")
	orig := originaltest.Start(t, key, 0)
	var blacklisted, other []string
	for i := range 40 {
		tok, jti := sjwt.Token{Type: "refresh", User: i}.Mint(key)
		if i%4 == 0 {
			other = append(other, jti)
			continue
		}
		resp, err := http.Post(orig.URL+"/api/token/blacklist/", "application/json", strings.NewReader(`{"refresh":"`+tok+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the original blacklists: %d %s", resp.StatusCode, body)
		}
		blacklisted = append(blacklisted, jti)
	}

	data := filepath.Join(t.TempDir(), "data")
	stdout, stderr, code := runCLI(t, nil, "", "import", "--data", data, "--from-simplejwt-sqlite", filepath.Join(orig.Dir, "db.sqlite3"))
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, stdout, stderr)
	}
	// Each blacklisted token is two rows in the original: outstanding, and
	// blacklisted.
	if got := summaryNumber(t, stdout, "new"); got != 2*len(blacklisted) {
		t.Errorf("imported %d new, want 2 × the %d the original blacklisted\n%s", got, len(blacklisted), stdout)
	}
	s := openStore(t, data)
	defer s.Close()
	for _, jti := range blacklisted {
		if b, err := s.IsBlacklisted(jti); err != nil || !b {
			t.Errorf("%s, blacklisted by the original: IsBlacklisted = %v, %v", jti, b, err)
		}
	}
	for _, jti := range other {
		if b, err := s.IsBlacklisted(jti); err != nil || b {
			t.Errorf("%s, never blacklisted: IsBlacklisted = %v, %v", jti, b, err)
		}
	}
}
