package node

import (
	"bytes"
	"encoding/json"
)

// duplicateKey returns a key that appears twice in one object of the JSON
// text b (compared after unescaping, so "a" and "\u0061" are the same key),
// and whether there is one. Go's decoder, like Python's, keeps the last of
// two equal keys; a proxy or a client library in front of the node may
// keep the first, so a body with a repeated key is refused rather than
// read one way here and another way there.
//
// b must be JSON the decoder has already accepted: duplicateKey reports
// nothing for text it cannot tokenise.
func duplicateKey(b []byte) (string, bool) {
	type frame struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool                // in an object: the next string is a key
	}
	var stack []frame
	// value notes that a value (scalar or container) of the innermost
	// object was read, so a key comes next.
	value := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // io.EOF, or text the caller's decoder reports
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
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
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

// shortKey is k for an error message: at most 64 bytes.
func shortKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "…"
	}
	return k
}
