package events

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// decodeFast must read the wire form of every kind of event Encode writes.
func TestDecodeFastReadsEncode(t *testing.T) {
	at := time.Date(2026, 11, 28, 15, 30, 55, 123456789, time.UTC)
	for _, e := range []Event{
		{ID: NewID(), Kind: KindBlacklist, Origin: "n1", Region: "eu", Time: at,
			Token: &Token{JTI: NewID(), User: "42", Type: "refresh", IssuedAt: 1, ExpiresAt: 2, Reason: "r", Family: "f"}},
		{ID: NewID(), Kind: KindOutstanding, Origin: "n1", Time: at, Token: &Token{JTI: "j", ExpiresAt: 2}},
		{ID: NewID(), Kind: KindFlush, Origin: "n1", Time: at, Cutoff: 9},
		{ID: NewID(), Kind: KindRevokeUser, Origin: "n1", Time: at.In(time.FixedZone("x", 3600)), User: "u", NotBefore: 5},
		{ID: NewID(), Kind: KindRevokeFamily, Origin: "n1", Time: at, Family: "f", NotBefore: 5},
	} {
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeFast(b); !ok {
			t.Errorf("fast path gave up on %s", b)
		}
	}
}

// Whatever the fast path accepts, encoding/json reads the same way.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":"e","kind":"blacklist","origin":"n","time":"2026-11-28T15:30:55.123Z","token":{"jti":"j","user":"u","type":"refresh","iat":1,"exp":2,"reason":"r","fam":"f"}}`,
		`{"v":1,"id":"e","kind":"flush","origin":"n","cutoff":1,"time":"2025-01-01T00:00:00+01:00"}`,
		` { "v" : -0 , "id":"e" , "kind":"revoke_user","origin":"n","user":"u","not_before":01}`,
		`{"v":1,"v":2}`, `{"V":1}`, `{"v":1e0}`, `{"v":1,"token":null}`, `{"v":1,"time":"bad"}`, `{}`, `{"v":1}x`,
		`{"v":99999999999999999999}`, `{"v":1,"token":{"exp":1,"exp":2}}`,
		`{"v":1,"id":"e","kind":"revoke_session","origin":"n","time":"2026-01-01T00:00:00Z","not_before":1,"session":"s"}`,
		`{"v":1,"id":"e","kind":"outstanding","origin":"n","time":"2026-01-01T00:00:00Z","token":{"jti":"j","exp":2,"client":"c","sid":"s","scope":"a b"}}`,
		`{"v":1,"id":"e","kind":"outstanding","origin":"n","time":"2026-01-01T00:00:00Z","token":{"jti":"j","exp":2,"sid":"s","sid":"t"}}`,
		`{"v":1,"id":"e","kind":"revoke_client","origin":"n","time":"2026-01-01T00:00:00Z","not_before":1,"client":"c","client":"d"}`,
		`{"v":1,"id":"e","kind":"revoke_issuer","origin":"n","time":"2026-01-01T00:00:00Z","not_before":1,"issuer":"https://i/"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fast, ok := decodeFast(in)
		if !ok {
			return
		}
		var slow wireEvent
		if err := json.Unmarshal(in, &slow); err != nil {
			t.Fatalf("fast path read %q, encoding/json refuses it: %v", in, err)
		}
		if !fast.Time.Equal(slow.Time) {
			t.Fatalf("time %v, encoding/json %v", fast.Time, slow.Time)
		}
		fast.Time, slow.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v\nslow %+v", fast, slow)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	e := Event{ID: NewID(), Kind: KindBlacklist, Origin: "node-1", Time: time.Now(),
		Token: &Token{JTI: NewID(), User: "42", Type: "refresh", IssuedAt: 1, ExpiresAt: 2, Reason: "bench"}}
	data, _ := e.Encode()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w wireEvent
			if err := json.Unmarshal(data, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
