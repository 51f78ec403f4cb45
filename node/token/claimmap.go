package token

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// claimMap is the claims a token is parsed into: a jwt.MapClaims (numbers
// as json.Number, as the parser's WithJSONNumber makes them) with a
// decoder of its own. The payload of a Simple JWT token, and of most
// access tokens, is a flat object of strings without escapes and of
// numbers; claimMap reads such a payload in one pass over its bytes,
// without encoding/json's reflection, into the very map encoding/json
// would build, and hands any other payload to encoding/json.
type claimMap struct{ m jwt.MapClaims }

// UnmarshalJSON reads b, a JSON object.
func (c *claimMap) UnmarshalJSON(b []byte) error {
	if m, ok := flatObject(b, true); ok {
		c.m = jwt.MapClaims(m)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	m := jwt.MapClaims{}
	if err := dec.Decode(&m); err != nil {
		return err
	}
	c.m = m
	return nil
}

// flatObject reads b as an object whose values are all strings without a
// backslash, in valid UTF-8, or (with numbers) numbers, and whose keys are
// such strings: what encoding/json with UseNumber reads it as (the last of
// two equal keys wins, as there). ok is false for anything else, nested
// values, true, false and null included. The keys and values are slices
// of one copy of b: one allocation for all of them.
func flatObject(b []byte, numbers bool) (m map[string]any, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	text := string(b)
	m = make(map[string]any, 8)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, skipSpace(b, i+1) == len(b)
	}
	for {
		start, end, ok := plainString(b, i)
		if !ok {
			return nil, false
		}
		key := text[start:end]
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return nil, false
		}
		switch c := b[i]; {
		case c == '"':
			start, end, ok := plainString(b, i)
			if !ok {
				return nil, false
			}
			m[key], i = text[start:end], end+1
		case numbers && (c == '-' || c >= '0' && c <= '9'):
			j := i
			for j < len(b) && isNumberByte(b[j]) {
				j++
			}
			if !json.Valid(b[i:j]) {
				return nil, false
			}
			m[key], i = json.Number(text[i:j]), j
		default:
			return nil, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return m, skipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// plainString finds the string that starts at b[i] (a quote) when it has
// no backslash and no control byte and is valid UTF-8: its bytes are
// b[start:end], and b[end] is its closing quote.
func plainString(b []byte, i int) (start, end int, ok bool) {
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

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// The jwt.Claims methods, those of the map.

func (c *claimMap) GetExpirationTime() (*jwt.NumericDate, error) { return c.m.GetExpirationTime() }
func (c *claimMap) GetIssuedAt() (*jwt.NumericDate, error)       { return c.m.GetIssuedAt() }
func (c *claimMap) GetNotBefore() (*jwt.NumericDate, error)      { return c.m.GetNotBefore() }
func (c *claimMap) GetIssuer() (string, error)                   { return c.m.GetIssuer() }
func (c *claimMap) GetSubject() (string, error)                  { return c.m.GetSubject() }
func (c *claimMap) GetAudience() (jwt.ClaimStrings, error)       { return c.m.GetAudience() }
