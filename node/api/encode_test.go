package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/blnode/blnode/persist"
)

// TestAppendBlacklistAnswer: the hand-written answer of POST /v1/blacklist
// is byte for byte what json.Marshal writes, for records with and without
// optional fields and with strings that need escaping.
func TestAppendBlacklistAnswer(t *testing.T) {
	at := time.Date(2026, 12, 7, 21, 0, 0, 123456789, time.UTC).UnixNano()
	for _, tc := range []struct {
		name    string
		existed bool
		rec     persist.Record
	}{
		{name: "jti only", rec: persist.Record{JTI: "0123456789abcdef0123456789abcdef", ExpiresAt: 1 << 31, CreatedAt: at}},
		{name: "blacklisted, every field", existed: true, rec: persist.Record{JTI: "j1", User: "42", Type: "refresh", IssuedAt: 1700000000,
			ExpiresAt: 1800000000, CreatedAt: at, BlacklistedAt: at + 1, Reason: "bench", Origin: "node-1", Token: "a.b.c",
			ClientID: "app", SessionID: "s1", Scope: "read write"}},
		{name: "escapes", rec: persist.Record{JTI: "\"quoted\"\\", User: "<script>&", Type: "tab\there", ExpiresAt: 1, CreatedAt: 0,
			BlacklistedAt: 1, Reason: "naïve \u2028 line", Origin: "bad \xff utf8", Scope: "\x00\x1f"}},
		{name: "whole second, zero time", rec: persist.Record{JTI: "j", ExpiresAt: 1, CreatedAt: time.Unix(1700000000, 0).UnixNano(), BlacklistedAt: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rj := recordJSON(tc.rec)
			want, err := json.Marshal(struct {
				AlreadyBlacklisted bool       `json:"already_blacklisted"`
				Record             RecordJSON `json:"record"`
			}{tc.existed, rj})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			var a answerBuffers
			a.writeBlacklistAnswer(w, tc.existed, rj)
			w2 := httptest.NewRecorder()
			a.writeBlacklistAnswer(w2, tc.existed, rj) // a reused buffer
			if w2.Body.String() != w.Body.String() {
				t.Errorf("with a reused buffer: %s", w2.Body.String())
			}
			if got := w.Body.String(); got != string(want)+"\n" {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" || w.Code != 200 {
				t.Errorf("status %d, Content-Type %q", w.Code, ct)
			}
		})
	}
}

// FuzzAppendRecordJSON: for any strings and times, appendRecordJSON writes
// what json.Marshal writes.
func FuzzAppendRecordJSON(f *testing.F) {
	f.Add("0123456789abcdef", "42", "refresh", "bench", int64(1700000000), int64(1800000000), int64(1), int64(0))
	f.Add("<&>", "\u2028", "\xff", "\"\\\n", int64(-1), int64(0), int64(-5), int64(7))
	f.Fuzz(func(t *testing.T, jti, user, typ, reason string, iat, exp, created, blacklisted int64) {
		rj := recordJSON(persist.Record{JTI: jti, User: user, Type: typ, Reason: reason, Origin: reason + user, Scope: typ + jti,
			IssuedAt: iat, ExpiresAt: exp, CreatedAt: created, BlacklistedAt: blacklisted})
		want, err := json.Marshal(rj)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRecordJSON(nil, rj); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}
