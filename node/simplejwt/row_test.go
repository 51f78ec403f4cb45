package simplejwt

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
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

func TestDecodeRowTimes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, _ := sjwt.Token{Type: "refresh", Now: time.Unix(1_700_000_000, 0)}.Mint([]byte("k"))
	const exp = "2030-01-01 00:00:00"
	for _, c := range []struct {
		name               string
		row                Row
		created, iat, blAt int64 // Unix seconds
		typ                string
	}{
		{"created_at given", Row{JTI: "a", ExpiresAt: exp, CreatedAt: "2023-11-14 22:13:20", Token: "opaque"}, 1_700_000_000, 1_700_000_000, 0, ""},
		{"created_at NULL: the token's iat", Row{JTI: "a", ExpiresAt: exp, Token: tok}, 1_700_000_000, 1_700_000_000, 0, "refresh"},
		{"created_at NULL, unreadable token, blacklisted", Row{JTI: "a", ExpiresAt: exp, Token: "x", Blacklisted: true, BlacklistedAt: "2024-01-01 00:00:00"}, 1_704_067_200, 0, 1_704_067_200, ""},
		{"created_at NULL, unreadable token", Row{JTI: "a", ExpiresAt: exp, Token: "x"}, 1_800_000_000, 0, 0, ""},
		{"blacklisted_at NULL: now", Row{JTI: "a", ExpiresAt: exp, CreatedAt: "2023-11-14 22:13:20", Blacklisted: true}, 1_700_000_000, 1_700_000_000, 1_800_000_000, ""},
		{"blacklisted before created: the earliest", Row{JTI: "a", ExpiresAt: exp, CreatedAt: "2024-01-02 00:00:00", Blacklisted: true, BlacklistedAt: "2024-01-01 00:00:00"}, 1_704_067_200, 1_704_153_600, 1_704_067_200, ""},
	} {
		r, err := DecodeRow(c.row, Options{Origin: "n", Now: now})
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
