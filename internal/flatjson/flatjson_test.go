package flatjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// decodeStd is what encoding/json with UseNumber reads b as.
func decodeStd(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	m := map[string]any{}
	err := dec.Decode(&m)
	return m, err
}

var claimPayloads = []string{
	`{"token_type":"access","exp":1765100000,"iat":1765099700,"jti":"4f1c0e1a9a7b4c3d8e2f","user_id":42}`,
	`{}`, ` { } `, `{"a":"b"}`, "{\n\t\"a\" : \"b\" ,\r\n \"c\":-1.5e+3 }",
	`{"a":"x","a":"y"}`, `{"exp":1.5}`, `{"exp":-0}`, `{"user_id":"42"}`, `{"é":"ü"}`,
	`{"a":"\u0041"}`, `{"a":"b\"c"}`, `{"a":true}`, `{"a":null}`, `{"a":[1]}`, `{"a":{"b":1}}`,
	`{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":"b"`, `{"a":"b"}x`, `[]`, `"a"`, `{"a":"b",}`, `{,}`,
	"{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}", `{"a" "b"}`, `{"a":1e999}`,
}

// flatClaims reads every flat payload as encoding/json does and declines
// every other.
func TestObjectMatchesEncodingJSON(t *testing.T) {
	for _, p := range claimPayloads {
		checkObject(t, []byte(p))
	}
}

func checkObject(t *testing.T, b []byte) {
	t.Helper()
	if m, ok := Object(b, false); ok {
		// A header: encoding/json without UseNumber reads the same.
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil || !reflect.DeepEqual(m, want) {
			t.Fatalf("%q: Object without numbers %#v, encoding/json %#v (%v)", b, m, want, err)
		}
	}
	got, ok := Object(b, true)
	if !ok {
		return // encoding/json decides
	}
	want, err := decodeStd(b)
	if err != nil {
		t.Fatalf("%q: flatClaims read %v, encoding/json refuses it: %v", b, got, err)
	}
	if !json.Valid(b) {
		t.Fatalf("%q: flatClaims read invalid JSON", b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: flatClaims %#v, encoding/json %#v", b, got, want)
	}
}

// The payloads of Simple JWT tokens take the fast path.
func TestObjectTakesSimpleJWTPayloads(t *testing.T) {
	if _, ok := Object([]byte(claimPayloads[0]), true); !ok {
		t.Fatal("a Simple JWT payload is not read by flatClaims")
	}
}

func FuzzObject(f *testing.F) {
	for _, p := range claimPayloads {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkObject(t, b) })
}
