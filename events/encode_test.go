package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// encodeFast must write every kind of event Encode is given in the common
// case: plain strings.
func TestEncodeFastTakesPlainEvents(t *testing.T) {
	at := time.Date(2026, 11, 28, 15, 30, 55, 123456789, time.UTC)
	for _, e := range []Event{
		{V: 1, ID: NewID(), Kind: KindBlacklist, Origin: "n1", Region: "eu", Time: at,
			Token: &Token{JTI: NewID(), User: "42", Type: "refresh", IssuedAt: 1, ExpiresAt: 2, Reason: "r", Family: "f"}},
		{V: 1, ID: NewID(), Kind: KindOutstanding, Origin: "n1", Time: at, Token: &Token{JTI: "j", ExpiresAt: 2}},
		{V: 1, ID: NewID(), Kind: KindFlush, Origin: "n1", Time: at, Cutoff: 9},
		{V: 1, ID: NewID(), Kind: KindRevokeUser, Origin: "n1", Time: at.In(time.FixedZone("x", 3600)), User: "u", NotBefore: 5},
		{V: 1, ID: NewID(), Kind: KindRevokeFamily, Origin: "n1", Time: at, Family: "f", NotBefore: 5},
	} {
		fast, ok := encodeFast(nil, e)
		if !ok {
			t.Errorf("fast path gave up on %+v", e)
			continue
		}
		slow, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, slow) {
			t.Errorf("fast %s\nslow %s", fast, slow)
		}
	}
}

// Whatever the fast path writes, encoding/json writes the same bytes. The
// input's strings are the event's, separated by '|'.
func FuzzEncodeFast(f *testing.F) {
	f.Add("id|blacklist|origin|eu|jti|42|refresh|reason|fam||", int64(1764343855123456789), int64(2), 0, uint8(1))
	f.Add("id|flush|n||||||||u|f", int64(0), int64(9), 3600, uint8(0))
	f.Add("<id>|x&y|o\"|r\\|\u2028|é|\x00|\xff|a b|<|>", int64(-62135596800000000), int64(-3), -86399, uint8(7))
	f.Add("id|blacklist|o||j", int64(253402300800000000), int64(1), 86400, uint8(1))
	f.Add("id|revoke_session|o|||||||||||sid||", int64(1764343855123456789), int64(-5), 0, uint8(2))
	f.Add("id|revoke_issuer|o||||||||||||c|https://i/", int64(1764343855123456789), int64(-5), 0, uint8(2))
	f.Add("id|outstanding|o||j||access|||||||||app|sid|read write", int64(1764343855123456789), int64(9), 0, uint8(1))
	f.Fuzz(func(t *testing.T, strs string, nanos, n int64, offset int, flags uint8) {
		p := strings.Split(strs, "|")
		s := func(i int) string {
			if i < len(p) {
				return p[i]
			}
			return ""
		}
		e := Event{V: int(flags >> 4), ID: s(0), Kind: Kind(s(1)), Origin: s(2), Region: s(3),
			Time: time.Unix(0, nanos).In(time.FixedZone("z", offset)), User: s(10), Family: s(11),
			Session: s(12), Client: s(13), Issuer: s(14)}
		if flags&2 != 0 {
			e.Cutoff, e.NotBefore = n, -n
		}
		if flags&1 != 0 {
			e.Token = &Token{JTI: s(4), User: s(5), Type: s(6), Reason: s(7), Family: s(8), ExpiresAt: n,
				Client: s(15), Session: s(16), Scope: s(17)}
			if flags&4 != 0 {
				e.Token.IssuedAt = n / 2
			}
		}
		fast, ok := encodeFast(nil, e)
		if !ok {
			return
		}
		slow, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("fast path wrote %s, encoding/json refuses the event: %v", fast, err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("fast %s\nslow %s", fast, slow)
		}
	})
}
