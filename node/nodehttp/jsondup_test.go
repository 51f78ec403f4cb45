package nodehttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// duplicateKeyRef is the reference DuplicateKey is checked against: the
// standard library's tokenizer, slower but plainly right.
func duplicateKeyRef(b []byte) (string, bool) {
	type frame struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool
	}
	var stack []frame
	value := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				value()
				stack = append(stack, frame{keys: map[string]struct{}{}, wantKey: true})
			case '[':
				value()
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].wantKey {
				if _, seen := stack[n-1].keys[v]; seen {
					return v, true
				}
				stack[n-1].keys[v] = struct{}{}
				stack[n-1].wantKey = false
				continue
			}
			value()
		default:
			value()
		}
	}
}

func TestDuplicateKey(t *testing.T) {
	many := func(n int, dupAt int) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			k := i
			if i == dupAt {
				k = 0
			}
			fmt.Fprintf(&b, `"k%d":%d`, k, i)
		}
		b.WriteByte('}')
		return b.String()
	}
	for _, tc := range []struct {
		in   string
		dup  bool
		name string
	}{
		{`{"token":"a"}`, false, ""},
		{`{"token":"a","token":"b"}`, true, "token"},
		{`{"token":"a","\u0074oken":"b"}`, true, "token"},
		{`{"a":{"b":1,"b":2}}`, true, "b"},
		{`{"a":{"b":1},"b":2}`, false, ""},
		{`[{"a":1},{"a":1}]`, false, ""},
		{`{"a":"\"a\":1,\"a\":2"}`, false, ""},
		{`{"a\"":1,"a\"":2}`, true, `a"`},
		{`{"a":[1,{"x":1,"y":{"x":2}}],"b":{"a":1}}`, false, ""},
		{`{"a":[{"b":"}"},"{"],"a":1}`, true, "a"},
		{` { "a" : 1 , "a" : 2 } `, true, "a"},
		{`"a"`, false, ""},
		{many(5000, -1), false, ""},
		{many(5000, 4999), true, "k0"},
		{many(20, 19), true, "k0"},
	} {
		k, dup := DuplicateKey([]byte(tc.in))
		if dup != tc.dup || k != tc.name {
			t.Errorf("DuplicateKey(%.60s) = %q, %v; want %q, %v", tc.in, k, dup, tc.name, tc.dup)
		}
		if rk, rdup := duplicateKeyRef([]byte(tc.in)); rk != k || rdup != dup {
			t.Errorf("reference disagrees on %.60s: %q, %v", tc.in, rk, rdup)
		}
	}
}

// FuzzDuplicateKey checks DuplicateKey against the tokenizer-based
// reference on every input the decoder accepts.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":2,"c":3}]}}`, `{"\u0061":1,"a":2}`, `[{"a":1},{"a":2}]`, `{"a":"\\","b":"\""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var v any
		if json.Unmarshal([]byte(in), &v) != nil {
			return
		}
		k, dup := DuplicateKey([]byte(in))
		rk, rdup := duplicateKeyRef([]byte(in))
		if dup != rdup || (dup && k != rk) {
			t.Fatalf("%q: DuplicateKey %q %v, reference %q %v", in, k, dup, rk, rdup)
		}
	})
}

func BenchmarkDuplicateKey(b *testing.B) {
	body := []byte(`{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNzAwMDAwMzAwLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjVmMGMzYzFlOGEyYjRkNmY5ZTdhMWIzYzVkN2U5ZjAxIiwidXNlcl9pZCI6NDJ9.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"}`)
	b.ReportAllocs()
	for b.Loop() {
		DuplicateKey(body)
	}
}
