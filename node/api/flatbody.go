package api

import (
	"encoding/json"
	"strconv"
)

// flatBody is a request body that can take the flat object almost every
// client sends (flatjson.Object's map) without encoding/json: fromFlat
// fills it and reports true only when encoding/json, with unknown fields
// refused, would give exactly the same value; on false it is left as it
// was and decodeJSON decodes the body as before (and gives its errors).
type flatBody interface {
	fromFlat(m map[string]any) bool
}

// fromFlat takes the exact (case-sensitive) field names, string values for
// the strings and integer numbers for exp and iat.
func (r *BlacklistRequest) fromFlat(m map[string]any) bool {
	var out BlacklistRequest
	for k, v := range m {
		var ok bool
		switch k {
		case "token":
			var s string
			if s, ok = v.(string); ok {
				out.Token = &s
			}
		case "jti":
			out.JTI, ok = v.(string)
		case "user":
			out.User, ok = v.(string)
		case "token_type":
			out.TokenType, ok = v.(string)
		case "reason":
			out.Reason, ok = v.(string)
		case "exp":
			out.Exp, ok = flatInt(v)
		case "iat":
			out.IssuedAt, ok = flatInt(v)
		}
		if !ok {
			return false
		}
	}
	*r = out
	return true
}

// flatInt is a number that encoding/json decodes into an int64 as itself:
// an integer in range (no fraction, no exponent).
func flatInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}
