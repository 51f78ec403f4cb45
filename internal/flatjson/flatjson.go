// Package flatjson reads the JSON that requests and tokens are made of
// almost always, a flat object of plain strings and numbers, in one pass
// over its bytes and without encoding/json's reflection, giving exactly
// what encoding/json gives for it; any other JSON is the caller's to hand
// to encoding/json. The verify path reads request bodies (node/compat) and
// JWT headers and payloads (node/token) with it.
package flatjson

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Object reads b as an object whose values are all strings without a
// backslash, in valid UTF-8, or (with numbers) numbers, and whose keys are
// such strings: what encoding/json with UseNumber reads it as (the last of
// two equal keys wins, as there). ok is false for anything else, nested
// values, true, false and null included. The keys and values are slices
// of one copy of b: one allocation for all of them.
func Object(b []byte, numbers bool) (m map[string]any, ok bool) {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	text := string(b)
	m = make(map[string]any, 8)
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, SkipSpace(b, i+1) == len(b)
	}
	for {
		start, end, ok := String(b, i)
		if !ok {
			return nil, false
		}
		key := text[start:end]
		i = SkipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = SkipSpace(b, i+1)
		if i >= len(b) {
			return nil, false
		}
		switch c := b[i]; {
		case c == '"':
			start, end, ok := String(b, i)
			if !ok {
				return nil, false
			}
			m[key], i = text[start:end], end+1
		case numbers && (c == '-' || c >= '0' && c <= '9'):
			j := i
			for j < len(b) && numberByte(b[j]) {
				j++
			}
			if !json.Valid(b[i:j]) {
				return nil, false
			}
			m[key], i = json.Number(text[i:j]), j
		default:
			return nil, false
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return m, SkipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// String finds the string that starts at b[i] (a quote) when it has
// no backslash and no control byte and is valid UTF-8: its bytes are
// b[start:end], and b[end] is its closing quote.
func String(b []byte, i int) (start, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false
	}
	n := bytes.IndexByte(b[i+1:], '"')
	if n < 0 {
		return 0, 0, false
	}
	raw := b[i+1 : i+1+n]
	for _, c := range raw {
		if c < 0x20 || c == '\\' {
			return 0, 0, false
		}
	}
	if !utf8.Valid(raw) {
		return 0, 0, false
	}
	return i + 1, i + 1 + n, true
}

func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
