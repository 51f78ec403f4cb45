package api

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"unicode/utf8"

	"github.com/blnode/blnode/internal/flatjson"
)

// FuzzBlacklistFlatBody holds the one-pass read of a /v1/blacklist body to
// encoding/json's: whenever the flat read takes a body, encoding/json (with
// unknown fields refused, as decodeJSON does) decodes it without error to
// the same request.
func FuzzBlacklistFlatBody(f *testing.F) {
	for _, s := range []string{
		`{"jti":"a1","exp":1796688704,"user":"u1","token_type":"refresh","reason":"bench"}`,
		`{"token":"x.y.z","reason":"lost"}`,
		` { "jti" : "é" , "exp" : 1 , "iat" : 0 } `,
		`{"jti":"a","exp":1.5}`, `{"jti":"a","exp":1e3}`, `{"jti":"a","exp":-0}`,
		`{"jti":"a","exp":99999999999999999999}`, `{"JTI":"a","exp":1}`,
		`{"jti":"a","jti":"b","exp":1}`, `{"jti":null}`, `{"token":""}`,
		`{"jti":"a","exp":"1"}`, `{"nope":1}`, `{}`, `{"jti":"a"} x`, `{"jti":"a\u0041"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) { // decodeJSON refuses it first
			return
		}
		m, ok := flatjson.Object(body, true)
		if !ok {
			return
		}
		var fast BlacklistRequest
		if !fast.fromFlat(m) {
			if fast != (BlacklistRequest{}) {
				t.Fatalf("fromFlat refused %q but changed the request: %+v", body, fast)
			}
			return
		}
		var slow BlacklistRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&slow); err != nil {
			t.Fatalf("flat read took %q, encoding/json refuses it: %v", body, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("flat read took %q, encoding/json finds data after it", body)
		}
		if (fast.Token == nil) != (slow.Token == nil) || (fast.Token != nil && *fast.Token != *slow.Token) {
			t.Fatalf("%q: token %v, encoding/json %v", body, fast.Token, slow.Token)
		}
		fast.Token, slow.Token = nil, nil
		if fast != slow {
			t.Fatalf("%q: flat read %+v, encoding/json %+v", body, fast, slow)
		}
	})
}
