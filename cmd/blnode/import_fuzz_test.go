package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/persist"
)

func TestParseDBTime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2024-01-02 03:04:05.123456+00", utc("2024-01-02T03:04:05.123456Z")},    // PostgreSQL timestamptz, UTC session
		{"2024-01-02 08:34:05.123456+05:30", utc("2024-01-02T03:04:05.123456Z")}, // PostgreSQL, another zone
		{"2024-01-01 23:04:05-04", utc("2024-01-02T03:04:05Z")},                  // PostgreSQL, whole seconds
		{"2024-01-02 03:04:05", utc("2024-01-02T03:04:05Z")},                     // MySQL DATETIME: UTC
		{"2024-01-02 03:04:05.000123", utc("2024-01-02T03:04:05.000123Z")},       // Django on SQLite
		{"2024-01-02T03:04:05Z", utc("2024-01-02T03:04:05Z")},                    // RFC 3339
		{"2024-01-02T05:04:05.5+02:00", utc("2024-01-02T03:04:05.5Z")},           //
		{"2024-01-02T03:04:05", utc("2024-01-02T03:04:05Z")},                     //
		{" 2024-01-02 03:04:05+0000 ", utc("2024-01-02T03:04:05Z")},              //
		{"1704164645", utc("2024-01-02T03:04:05Z")},                              // Unix seconds
		{"1704164645.25", utc("2024-01-02T03:04:05.25Z")},                        //
	} {
		got, err := parseDBTime(c.in)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("parseDBTime(%q) = %v, %v; want %v in UTC", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "NULL", `\N`, "yesterday", "2024-13-02 03:04:05", "2024-01-02", "-5", "1e300", "0001-01-01 00:00:00", "9999-12-31 23:59:59+00", strings.Repeat("9", 100)} {
		if got, err := parseDBTime(bad); err == nil {
			t.Errorf("parseDBTime(%q) = %v, want an error", bad, got)
		}
	}
}

func TestTokenTypeAndIAT(t *testing.T) {
	tok, _ := sjwt.Token{Type: "sliding", User: 3, Now: time.Unix(1_700_000_000, 0)}.Mint([]byte("k"))
	for _, c := range []struct {
		name, raw, claim string
		typ              string
		iat              int64
	}{
		{"simple jwt token", tok, "token_type", "sliding", 1_700_000_000},
		{"other claim name", tok, "typ", "", 1_700_000_000},
		{"padded payload", "a." + base64.URLEncoding.EncodeToString([]byte(`{"token_type":"sliding","iat":1700000000}`)) + ".c", "token_type", "sliding", 1_700_000_000},
		{"not a jwt", "opaque", "token_type", "", 0},
		{"payload not base64", "a.!!!.c", "token_type", "", 0},
		{"payload not json", "a.bm90IGpzb24.c", "token_type", "", 0},
		{"wrong claim types", "a." + b64(`{"token_type":5,"iat":"x"}`) + ".c", "token_type", "", 0},
		{"negative iat", "a." + b64(`{"token_type":"access","iat":-5}`) + ".c", "token_type", "access", 0},
	} {
		typ, iat := tokenTypeAndIAT(c.raw, c.claim)
		if typ != c.typ || iat != c.iat {
			t.Errorf("%s: %q %d, want %q %d", c.name, typ, iat, c.typ, c.iat)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func bufioReader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }

// csvHeader is the header COPY … CSV HEADER writes for the outstanding table.
const csvHeader = "id,token,created_at,expires_at,user_id,jti"

// decodeCSVLine runs the CSV row decoder on one data line under header,
// with token id 1 blacklisted.
func decodeCSVLine(header, line string) (persist.Record, error) {
	t, err := newCSVTable("t.csv", strings.NewReader(header+"\n"+line), []string{"id", "jti", "expires_at"}, nil)
	if err != nil {
		return persist.Record{}, err
	}
	rec, err := t.next()
	if err != nil {
		return persist.Record{}, err
	}
	row, err := decodeOutstandingCSV(t, rec, map[string]string{"1": "2024-01-02 03:04:05+00"})
	if err != nil {
		return persist.Record{}, err
	}
	return decodeSJWTRow(row, sjwtOptions{Origin: "n", Now: time.Unix(1_700_000_000, 0)})
}

func FuzzSimpleJWTCSVRow(f *testing.F) {
	tok, _ := sjwt.Token{Type: "refresh", User: 42, Now: time.Unix(1_700_000_000, 0)}.Mint([]byte("k"))
	f.Add(csvHeader, `1,`+tok+`,2024-01-02 03:04:05.123456+00,2024-01-03 03:04:05+00,42,0123456789abcdef0123456789abcdef`)
	f.Add(csvHeader, `2,,,2024-01-03 03:04:05,,j2`)
	f.Add(csvHeader, `3,"a,""quoted"" token",\N,2024-01-03T03:04:05Z,NULL,j3`)
	f.Add("jti,expires_at,id", `j4,1704164645,4`)
	f.Add(csvHeader, `5,x,2024-01-02,never,7,j5`)
	f.Add(csvHeader, `6,x,,2024-01-03 03:04:05,7,`)
	f.Add("\ufeffID,JTI,Expires_At", `1,j,2024-01-03 03:04:05`)
	f.Fuzz(func(t *testing.T, header, line string) {
		r, err := decodeCSVLine(header, line)
		if err != nil {
			// An error never quotes a long token field.
			if recs, rerr := newCSVTable("t.csv", strings.NewReader(header+"\n"+line), nil, nil); rerr == nil {
				if rec, err2 := recs.next(); err2 == nil {
					if tk := recs.field(rec, "token"); len(tk) >= 24 && strings.Contains(err.Error(), tk) && !otherFieldHolds(recs, rec, tk) {
						t.Fatalf("error quotes the token: %v", err)
					}
				}
			}
			return
		}
		if r.JTI == "" || len(r.JTI) > persist.MaxJTILen || r.ExpiresAt <= 0 || r.Origin != "n" || r.Token != "" || r.CreatedAt == 0 {
			t.Fatalf("decoded an invalid record %+v", r)
		}
		if strings.IndexByte(r.User, 0) >= 0 {
			t.Fatalf("user with NUL: %q", r.User)
		}
	})
}

// otherFieldHolds reports whether a column other than the token holds tk:
// an error may quote that column (a bad expires_at that happens to be the
// token's text) without quoting the token.
func otherFieldHolds(t *csvTable, rec []string, tk string) bool {
	for name, i := range t.col {
		if name != "token" && i < len(rec) && strings.Contains(rec[i], tk) {
			return true
		}
	}
	return false
}

func FuzzJSONLLine(f *testing.F) {
	for _, s := range []string{
		`{"kind":"header","format":"blnode-export","version":1,"node_id":"n1","exported_at":"2024-01-02T03:04:05.123456789Z"}`,
		`{"kind":"token","jti":"j1","user":"42","token_type":"refresh","iat":1700000000,"exp":1700086400,"created_at":"2023-11-14T22:13:20Z","origin":"n1"}`,
		`{"kind":"token","jti":"j2","exp":1700086400,"created_at":"2023-11-14T22:13:20.5+01:00","blacklisted_at":"2023-11-14T22:13:21Z","reason":"stolen","origin":"n1","blacklist_origin":"n2","family":"f"}`,
		`{"kind":"revocation","user":"42","not_before":1700000000,"expires":1702592000,"origin":"n1"}`,
		`{"kind":"revocation","family":"f","not_before":1700000000}`,
		`{"kind":"token","jti":"","exp":1}`,
		`{"kind":"token","jti":"j","exp":1,"blacklisted_at":"1970-01-01T00:00:00Z"}`,
		`{"kind":"header","format":"blnode-export","version":2}`,
		`{"kind":5}`,
		`[]`,
		`{"kind":"token","jti":"j","exp":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeJSONLLine(b)
		if err != nil {
			return
		}
		// What decodes encodes and decodes to the same line.
		m1, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		l2, err := decodeJSONLLine(m1)
		if err != nil {
			t.Fatalf("a decoded line does not decode once re-encoded: %v\n%s", err, m1)
		}
		if m2, _ := json.Marshal(l2); !bytes.Equal(m1, m2) {
			t.Fatalf("round trip changed the line:\n%s\n%s", m1, m2)
		}
		// Its ops are ones the store accepts.
		for _, op := range l.ops() {
			switch op.Kind {
			case persist.OpOutstanding, persist.OpBlacklist:
				if op.Record.JTI == "" || op.Record.ExpiresAt <= 0 || (op.Kind == persist.OpBlacklist && op.Record.BlacklistedAt == 0) {
					t.Fatalf("line gives an invalid op %+v", op)
				}
			case persist.OpRevoke:
				if op.Revocation.NotBefore <= 0 || (op.Revocation.User == "" && op.Revocation.Family == "") {
					t.Fatalf("line gives an invalid revocation %+v", op)
				}
			}
		}
	})
}

func TestReadLine(t *testing.T) {
	in := "short\n" + strings.Repeat("x", 100) + "\nafter\nlast"
	br := bufioReader(in)
	var got []string
	for {
		line, _, err := readLine(br, 50)
		if errors.Is(err, errLineTooLong) {
			got = append(got, "<too long>")
			continue
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		got = append(got, string(line))
		if err != nil {
			break
		}
	}
	if strings.Join(got, "|") != "short|<too long>|after|last" {
		t.Errorf("lines %q", got)
	}
}

func TestDecodeSJWTRowTimes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, _ := sjwt.Token{Type: "refresh", Now: time.Unix(1_700_000_000, 0)}.Mint([]byte("k"))
	const exp = "2030-01-01 00:00:00"
	for _, c := range []struct {
		name               string
		row                sjwtRow
		created, iat, blAt int64 // Unix seconds
		typ                string
	}{
		{"created_at given", sjwtRow{JTI: "a", ExpiresAt: exp, CreatedAt: "2023-11-14 22:13:20", Token: "opaque"}, 1_700_000_000, 1_700_000_000, 0, ""},
		{"created_at NULL: the token's iat", sjwtRow{JTI: "a", ExpiresAt: exp, Token: tok}, 1_700_000_000, 1_700_000_000, 0, "refresh"},
		{"created_at NULL, unreadable token, blacklisted", sjwtRow{JTI: "a", ExpiresAt: exp, Token: "x", Blacklisted: true, BlacklistedAt: "2024-01-01 00:00:00"}, 1_704_067_200, 0, 1_704_067_200, ""},
		{"created_at NULL, unreadable token", sjwtRow{JTI: "a", ExpiresAt: exp, Token: "x"}, 1_800_000_000, 0, 0, ""},
		{"blacklisted_at NULL: now", sjwtRow{JTI: "a", ExpiresAt: exp, CreatedAt: "2023-11-14 22:13:20", Blacklisted: true}, 1_700_000_000, 1_700_000_000, 1_800_000_000, ""},
		{"blacklisted before created: the earliest", sjwtRow{JTI: "a", ExpiresAt: exp, CreatedAt: "2024-01-02 00:00:00", Blacklisted: true, BlacklistedAt: "2024-01-01 00:00:00"}, 1_704_067_200, 1_704_153_600, 1_704_067_200, ""},
	} {
		r, err := decodeSJWTRow(c.row, sjwtOptions{Origin: "n", Now: now})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if r.CreatedAt != c.created*1e9 || r.IssuedAt != c.iat || r.BlacklistedAt != c.blAt*1e9 || r.Type != c.typ {
			t.Errorf("%s: created %d iat %d blacklisted %d type %q; want %d %d %d %q", c.name,
				r.CreatedAt/1e9, r.IssuedAt, r.BlacklistedAt/1e9, r.Type, c.created, c.iat, c.blAt, c.typ)
		}
	}
}
