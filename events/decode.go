package events

import (
	"bytes"
	"strconv"
)

// decodeFast reads the wire form as Encode writes it, several times faster
// than encoding/json: a flat scan of one object with the known keys, plain
// strings and integers. It gives up (ok false) on anything else: escapes,
// non-ASCII bytes, unknown, repeated or differently cased keys, nulls,
// floats, nesting other than "token"; Decode then takes the encoding/json
// path, so the result never depends on which path read it
// (FuzzDecodeFast checks that).
func decodeFast(b []byte) (w wireEvent, ok bool) {
	d := fastDecoder{b: b}
	if !d.object([]string{"v", "id", "kind", "origin", "region", "time", "token", "cutoff", "user", "family", "not_before", "session", "client", "issuer"}, func(key string) bool {
		switch key {
		case "v":
			v, ok := d.int()
			if !ok || int64(int(v)) != v {
				return false
			}
			n := int(v)
			w.V = &n
			return true
		case "id":
			return d.str(&w.ID)
		case "kind":
			k, ok := d.plain()
			w.Kind = knownKind(k)
			return ok
		case "origin":
			return d.str(&w.Origin)
		case "region":
			return d.str(&w.Region)
		case "time":
			s, ok := d.raw()
			return ok && w.Time.UnmarshalJSON(s) == nil
		case "token":
			w.Token = &Token{}
			return d.token(w.Token)
		case "cutoff":
			return d.intTo(&w.Cutoff)
		case "user":
			return d.str(&w.User)
		case "family":
			return d.str(&w.Family)
		case "not_before":
			return d.intTo(&w.NotBefore)
		case "session":
			return d.str(&w.Session)
		case "client":
			return d.str(&w.Client)
		case "issuer":
			return d.str(&w.Issuer)
		}
		return false
	}) {
		return wireEvent{}, false
	}
	d.space()
	return w, d.i == len(d.b)
}

// knownKind returns k as one of the Kind constants (no allocation), or a
// new string when it is none of them.
func knownKind(k []byte) Kind {
	for _, known := range [...]Kind{KindBlacklist, KindOutstanding, KindRevokeUser, KindRevokeFamily, KindFlush,
		KindRevokeSession, KindRevokeClient, KindRevokeIssuer} {
		if string(k) == string(known) {
			return known
		}
	}
	return Kind(k)
}

func (d *fastDecoder) token(t *Token) bool {
	return d.object([]string{"jti", "user", "type", "iat", "exp", "reason", "fam", "client", "sid", "scope"}, func(key string) bool {
		switch key {
		case "jti":
			return d.str(&t.JTI)
		case "user":
			return d.str(&t.User)
		case "type":
			return d.str(&t.Type)
		case "iat":
			return d.intTo(&t.IssuedAt)
		case "exp":
			return d.intTo(&t.ExpiresAt)
		case "reason":
			return d.str(&t.Reason)
		case "fam":
			return d.str(&t.Family)
		case "client":
			return d.str(&t.Client)
		case "sid":
			return d.str(&t.Session)
		case "scope":
			return d.str(&t.Scope)
		}
		return false
	})
}

// fastDecoder scans b from i.
type fastDecoder struct {
	b []byte
	i int
}

func (d *fastDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) byte(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads {"key": value, …} whose keys are among known, each at most
// once, calling field for each key with the decoder placed at the value.
func (d *fastDecoder) object(known []string, field func(key string) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.byte('}') {
		return true
	}
	var seen uint64
	for {
		raw, ok := d.plain()
		if !ok || !d.byte(':') {
			return false
		}
		i := 0
		for i < len(known) && string(raw) != known[i] {
			i++
		}
		if i == len(known) || seen&(1<<i) != 0 || !field(known[i]) {
			return false
		}
		seen |= 1 << i
		if d.byte(',') {
			continue
		}
		return d.byte('}')
	}
}

// plain reads a string of printable ASCII without escapes and returns its
// bytes (a view into b).
func (d *fastDecoder) plain() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for j, c := range d.b[start:] {
		if c == '"' {
			d.i = start + j + 1
			return d.b[start : start+j], true
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return nil, false
		}
	}
	return nil, false
}

func (d *fastDecoder) str(dst *string) bool {
	s, ok := d.plain()
	*dst = string(s)
	return ok
}

// raw returns the next plain string with its quotes.
func (d *fastDecoder) raw() ([]byte, bool) {
	d.space()
	start := d.i
	if _, ok := d.plain(); !ok {
		return nil, false
	}
	return d.b[start:d.i], true
}

// int reads an integer as encoding/json accepts one for an int64: an
// optional minus, no leading zeros, no fraction or exponent.
func (d *fastDecoder) int() (int64, bool) {
	d.space()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || (n > 1 && d.b[digits] == '0') {
		return 0, false
	}
	if d.i < len(d.b) && bytes.IndexByte([]byte(".eE"), d.b[d.i]) >= 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	return v, err == nil
}

func (d *fastDecoder) intTo(dst *int64) bool {
	v, ok := d.int()
	*dst = v
	return ok
}
