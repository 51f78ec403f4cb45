package nodehttp

import (
	"bytes"
	"encoding/json"
)

// DuplicateKey returns a key that appears twice in one object of the JSON
// text b (compared after unescaping, so "a" and "\u0061" are the same key),
// and whether there is one. Go's decoder, like Python's, keeps the last of
// two equal keys; a proxy or a client library in front of the node may
// keep the first, so a body with a repeated key is refused rather than
// read one way here and another way there.
//
// b must be JSON the decoder has already accepted (syntax, nesting depth):
// DuplicateKey only scans it, in one pass without allocating for the
// usual body of one small object.
func DuplicateKey(b []byte) (string, bool) {
	type frame struct {
		obj     bool
		wantKey bool
		keys    [][]byte            // keys seen in this object, unescaped
		many    map[string]struct{} // all of them, once there are more than a few
	}
	var stackBuf [8]frame
	stack := stackBuf[:0]
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, frame{obj: true, wantKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].obj {
				stack[n-1].wantKey = true
			}
		case '"':
			start, escaped := i+1, false
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					escaped = true
					i++ // skip the escaped byte (\" included)
				}
			}
			n := len(stack)
			if n == 0 || !stack[n-1].obj || !stack[n-1].wantKey {
				continue // a string value
			}
			top := &stack[n-1]
			top.wantKey = false
			key := b[start:min(i, len(b))]
			if escaped {
				var s string
				if json.Unmarshal(b[start-1:min(i+1, len(b))], &s) != nil {
					return "", false // not JSON the decoder accepted
				}
				key = []byte(s)
			}
			if top.many != nil {
				if _, seen := top.many[string(key)]; seen {
					return string(key), true
				}
				top.many[string(key)] = struct{}{}
				continue
			}
			for _, k := range top.keys {
				if bytes.Equal(k, key) {
					return string(key), true
				}
			}
			top.keys = append(top.keys, key)
			if len(top.keys) > 16 { // keep the search linear in the body
				top.many = make(map[string]struct{}, 64)
				for _, k := range top.keys {
					top.many[string(k)] = struct{}{}
				}
				top.keys = nil
			}
		}
	}
	return "", false
}

// ShortKey is k for an error message: at most 64 bytes.
func ShortKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "…"
	}
	return k
}
