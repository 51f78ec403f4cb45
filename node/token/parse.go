package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/internal/flatjson"
)

// parse is jwt.Parser.ParseWithClaims with v's options, the payload read
// into cm, step for step the same checks in the same order and the same
// errors (errors.Is finds jwt's sentinels in them), with golang-jwt's own
// segment decoding, signing methods, signature checks and claim
// validation; only the JSON is read differently: a header and a payload
// that are flat objects (what Simple JWT and most issuers write) are read
// in one pass over their bytes (flatjson.Object) into the maps encoding/json
// would build, and the signed text is a slice of raw, not a copy. A
// Simple JWT token costs about half the allocations ParseWithClaims
// makes.
//
// With pyjwt, a header or payload that decodes but that PyJWT refuses (not
// UTF-8; a payload that is not a JSON object) is malformed too, as
// pyjwtSegments says, without decoding the segments twice.
func (v *Verifier) parse(raw string, cm *claimMap, pyjwt bool) (*jwt.Token, error) {
	h, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, fmt.Errorf("%w: token contains an invalid number of segments", jwt.ErrTokenMalformed)
	}
	c, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return nil, fmt.Errorf("%w: token contains an invalid number of segments", jwt.ErrTokenMalformed)
	}
	t := &jwt.Token{Raw: raw}
	hb, err := v.parser.DecodeSegment(h)
	if err != nil {
		return t, fmt.Errorf("%w: could not base64 decode header: %w", jwt.ErrTokenMalformed, err)
	}
	if pyjwt && !utf8.Valid(hb) {
		return t, fmt.Errorf("%w: the header is not UTF-8", jwt.ErrTokenMalformed)
	}
	// encoding/json reads the header's numbers as float64: only a header
	// of strings takes the fast path.
	if m, ok := flatjson.Object(hb, false); ok {
		t.Header = m
	} else if err := json.Unmarshal(hb, &t.Header); err != nil {
		return t, fmt.Errorf("%w: could not JSON decode header: %w", jwt.ErrTokenMalformed, err)
	}
	t.Claims = cm
	cb, err := v.parser.DecodeSegment(c)
	if err != nil {
		return t, fmt.Errorf("%w: could not base64 decode claim: %w", jwt.ErrTokenMalformed, err)
	}
	if pyjwt && (!utf8.Valid(cb) || !isJSONObject(cb)) {
		return t, fmt.Errorf("%w: the payload is not a JSON object in UTF-8", jwt.ErrTokenMalformed)
	}
	if m, ok := flatjson.Object(cb, true); ok {
		cm.m = jwt.MapClaims(m)
	} else {
		// The parser's decoding: the first JSON value, numbers as
		// json.Number.
		dec := json.NewDecoder(bytes.NewReader(cb))
		dec.UseNumber()
		m := jwt.MapClaims{}
		if err := dec.Decode(&m); err != nil {
			return t, fmt.Errorf("%w: could not JSON decode claim: %w", jwt.ErrTokenMalformed, err)
		}
		cm.m = m
	}
	alg, ok := t.Header["alg"].(string)
	if !ok {
		return t, fmt.Errorf("%w: signing method (alg) is unspecified", jwt.ErrTokenUnverifiable)
	}
	if t.Method = jwt.GetSigningMethod(alg); t.Method == nil {
		return t, fmt.Errorf("%w: signing method (alg) is unavailable", jwt.ErrTokenUnverifiable)
	}
	if t.Signature, err = v.parser.DecodeSegment(sig); err != nil {
		return t, fmt.Errorf("%w: could not base64 decode signature: %w", jwt.ErrTokenMalformed, err)
	}
	if !slices.Contains(v.algs, t.Method.Alg()) {
		return t, fmt.Errorf("%w: signing method %v is invalid", jwt.ErrTokenSignatureInvalid, t.Method.Alg())
	}
	key, err := v.keyfunc(t)
	if err != nil {
		return t, fmt.Errorf("%w: error while executing keyfunc: %w", jwt.ErrTokenUnverifiable, err)
	}
	text := raw[:len(h)+1+len(c)]
	switch have := key.(type) {
	case jwt.VerificationKeySet:
		if len(have.Keys) == 0 {
			return t, fmt.Errorf("%w: keyfunc returned empty verification key set", jwt.ErrTokenUnverifiable)
		}
		for _, k := range have.Keys {
			if err = t.Method.Verify(text, t.Signature, k); err == nil {
				break
			}
		}
	default:
		err = t.Method.Verify(text, t.Signature, have)
	}
	if err != nil {
		return t, fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, err)
	}
	if err := v.validator.Validate(cm); err != nil {
		return t, fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err)
	}
	t.Valid = true
	return t, nil
}
