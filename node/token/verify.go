package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of a verified token that blnode uses.
type Claims struct {
	JTI       string         // token id; "" when absent
	Type      string         // token type; "" when absent or not a string
	User      string         // user id as text (JSON number 123 -> "123"); "" when absent
	IssuedAt  time.Time      // zero when absent
	ExpiresAt time.Time      // zero when absent
	Family    string         // "fam" claim, for refresh rotation; "" when absent
	ClientID  string         // "client_id" claim, else "azp" (RFC 9068); "" when absent
	SessionID string         // "sid" claim (OpenID Connect session); "" when absent
	Scope     string         // "scope" claim, or the "scp" array joined by spaces; "" when absent
	Issuer    string         // "iss" claim; "" when absent
	Raw       map[string]any // every claim; numbers are json.Number
}

// Verifier verifies and mints tokens under one Config. It is safe for
// concurrent use.
type Verifier struct {
	parser    *jwt.Parser    // its options; parse reads tokens
	validator *jwt.Validator // the parser's claim validation
	algs      []string       // the parser's valid methods
	keyfunc   jwt.Keyfunc
	jtiClaim  string
	typeClaim string
	userClaim string
	now       func() time.Time
	// untypedAccess: a token with no type claim and a header typ of "JWT"
	// (or none) is an access token (Config.UntypedTokensAreAccess).
	untypedAccess bool
	hashID        bool // a token without jti is known by the SHA-256 of its text

	ring     atomic.Pointer[keyring] // the file keys; Reload swaps it
	reloadMu sync.Mutex              // one Reload at a time
	spec     keySpec                 // what New was given, for Reload's algorithm rules
	grace    time.Duration           // Config.KeyGrace
	jwks     []*jwksSource           // one per JWKS URL
	missWait time.Duration           // JWKSConfig.MissWait
	log      *slog.Logger
}

// New checks cfg and builds a Verifier. It needs at least one key (or a
// JWKS URL), and every algorithm in cfg.Algorithms must have a key of its
// family; "none" is never accepted. Errors name the field and the value at
// fault. New fetches no JWKS: [Verifier.Run] does.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{
		jtiClaim:  cmp(cfg.JTIClaim, DefaultJTIClaim),
		typeClaim: cmp(cfg.TokenTypeClaim, DefaultTokenTypeClaim),
		userClaim: cmp(cfg.UserIDClaim, DefaultUserIDClaim),
		now:       cfg.Now,
		log:       cfg.Logger,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.log = v.log.With("component", "token")
	v.untypedAccess = cfg.UntypedTokensAreAccess
	switch cfg.RevocationID {
	case "", RevocationIDJTI:
	case RevocationIDSHA256:
		v.hashID = true
	default:
		return nil, fmt.Errorf("token: RevocationID: %q is neither %q nor %q", cfg.RevocationID, RevocationIDJTI, RevocationIDSHA256)
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("token: Leeway: %v is negative", cfg.Leeway)
	}
	if cfg.KeyGrace < 0 {
		return nil, fmt.Errorf("token: KeyGrace: %v is negative", cfg.KeyGrace)
	}
	if err := checkClaimNames(v.jtiClaim, v.typeClaim, v.userClaim); err != nil {
		return nil, err
	}

	// Keys.
	v.spec, v.grace = specOf(cfg), cfg.KeyGrace
	v.spec.algs = slices.Clone(cfg.Algorithms)
	if len(cfg.JWKS.URLs) > 0 {
		jc, err := cfg.JWKS.withDefaults()
		if err != nil {
			return nil, err
		}
		v.missWait = jc.MissWait
		for _, u := range cfg.JWKS.URLs {
			s, err := newJWKSSource(u, jc, v.log)
			if err != nil {
				return nil, err
			}
			v.jwks = append(v.jwks, s)
		}
	}
	ring, err := buildRing(v.spec, nil, 0, v.now())
	if err != nil {
		return nil, err
	}
	v.spec.secrets, v.spec.publics, v.spec.private = nil, nil, NamedKey{} // Reload brings its own
	v.ring.Store(ring)
	v.keyfunc = v.keyFor

	opts := []jwt.ParserOption{
		// The algorithms accepted now are the keyring's (Reload may change
		// them): keyFor checks them.
		jwt.WithValidMethods(allAlgs()),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithJSONNumber(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
		// PyJWT decodes padded base64url too (it pads, then decodes).
		jwt.WithPaddingAllowed(),
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	v.validator = jwt.NewValidator(opts...)
	v.algs = allAlgs()
	return v, nil
}

// allAlgs returns every algorithm this package knows.
func allAlgs() []string {
	var out []string
	for _, k := range []kind{kindHMAC, kindRSA, kindP256, kindP384, kindP521, kindEd25519} {
		out = append(out, k.algs()...)
	}
	return out
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func checkClaimNames(jti, typ, user string) error {
	names := [...]struct{ field, value string }{
		{"JTIClaim", jti}, {"TokenTypeClaim", typ}, {"UserIDClaim", user},
	}
	for i, n := range names {
		if n.value == "exp" || n.value == "iat" || n.value == "nbf" {
			return fmt.Errorf("token: %s: %q is a registered time claim", n.field, n.value)
		}
		for _, o := range names[:i] {
			if o.value == n.value {
				return fmt.Errorf("token: %s: %q is also %s", n.field, n.value, o.field)
			}
		}
	}
	return nil
}

// errUnusableKID is returned by keyFor for a kid header that is not a string.
var errUnusableKID = errors.New("token: kid header is not a string")

// errDetachedPayload is returned by keyFor for a token with "b64": false,
// which PyJWT refuses without a detached payload.
var errDetachedPayload = errors.New("token: b64 header is false")

// errCritical is returned by keyFor for a token with a crit header: RFC 7515
// §4.1.11 has a verifier reject a token whose crit lists an extension it
// does not understand, and this one understands none (an empty or malformed
// crit is invalid too).
var errCritical = errors.New("token: crit header names extensions this verifier does not understand")

// errNoKey is returned by keyFor for an algorithm that is not accepted or
// has no key.
var errNoKey = errors.New("token: no key for algorithm")

// keyFor is the jwt.Keyfunc. A kid that names file keys picks among them;
// else a kid that names JWKS keys picks among those (fetching the sets again,
// rate-limited, when no set has it); else the file keys of the algorithm's
// family are tried. The key's type must be the algorithm's, so an HS* token
// is only ever checked against the HMAC secrets, never a JWKS key.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	kid, hasKID := t.Header["kid"]
	if hasKID {
		if _, ok := kid.(string); !ok {
			return nil, errUnusableKID
		}
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	if b64, ok := t.Header["b64"]; ok && b64 == false {
		return nil, errDetachedPayload
	}
	r := v.ring.Load()
	if !r.expires.IsZero() && !v.now().Before(r.expires) {
		r = v.prune(r)
	}
	alg := t.Method.Alg()
	if !r.accepts(alg) {
		return nil, errNoKey
	}
	if id, _ := kid.(string); id != "" {
		if keys, ok := r.byKID[id]; ok {
			return pickKey(keys, alg)
		}
		if len(v.jwks) > 0 && kindOfAlg(alg) != kindHMAC && len(id) <= MaxKIDLen {
			if keys := v.jwksKeys(id); keys != nil {
				return pickKey(keys, alg)
			}
		}
	}
	key, ok := r.byAlg[alg]
	if !ok {
		return nil, errNoKey
	}
	return key, nil
}

// Verify checks raw's signature and algorithm, that its header has no crit
// (RFC 7515 §4.1.11: blnode understands no extension), exp (which must be there), nbf
// and iat, aud and iss when configured, and that it has a jti and, when
// wantType is not "", a type claim equal to wantType. wantType "" accepts any
// type or none (Simple JWT's UntypedToken).
//
// A token that passes all of that but carries a claim the store or the event
// stream cannot hold (a jti over MaxJTILen bytes, a user id over MaxUserLen
// bytes or with a NUL, a type over MaxTypeLen, a family over MaxFamilyLen, an
// exp at or before 1970) could never be revoked: it is ErrInvalid. So is a
// jti, user id or type that an HTTP header cannot carry unchanged (a control
// character, a space or tab at either end): every path must know the token
// by the same values.
//
// A token without the type claim is an access token (Claims.Type
// AccessType) when its header typ is "at+jwt" (RFC 9068), or "JWT" or
// absent under Config.UntypedTokensAreAccess when it has a string
// client_id claim (an ID token has none). A token without jti is
// ErrNoID unless Config.RevocationID is RevocationIDSHA256: its JTI is then
// the SHA-256 of raw in hex.
//
// The error is one of the package's sentinels, found in Simple JWT's order:
// ErrInvalid (decoding, signature, algorithm, claims) → ErrExpired → ErrNoExp →
// ErrNoID → ErrNoType → ErrWrongType → ErrInvalid (a claim that cannot be
// revoked).
func (v *Verifier) Verify(raw string, wantType string) (Claims, error) {
	if len(raw) > MaxTokenSize {
		return Claims{}, ErrInvalid
	}
	var cm claimMap
	t, err := v.parse(raw, &cm, true) // with pyjwtSegments' checks
	m := cm.m
	if m == nil {
		m = jwt.MapClaims{} // a payload that did not decode
	}
	// The parser wraps ErrTokenInvalidClaims only once the signature holds.
	if err != nil && !errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return Claims{}, ErrInvalid
	}
	exp, hasExp, ok := numericDate(m, "exp")
	if !ok {
		return Claims{}, ErrInvalid
	}
	iat, _, ok := numericDate(m, "iat")
	if !ok {
		return Claims{}, ErrInvalid
	}
	if _, _, ok := numericDate(m, "nbf"); !ok {
		return Claims{}, ErrInvalid
	}
	if err != nil {
		// PyJWT checks iat and nbf before exp, and exp before iss and aud.
		if errors.Is(err, jwt.ErrTokenExpired) &&
			!errors.Is(err, jwt.ErrTokenNotValidYet) &&
			!errors.Is(err, jwt.ErrTokenUsedBeforeIssued) {
			return Claims{}, ErrExpired
		}
		return Claims{}, ErrInvalid
	}
	if !hasExp {
		return Claims{}, ErrNoExp
	}
	jti, _ := claimText(m[v.jtiClaim])
	if jti == "" && !v.hashID {
		return Claims{}, ErrNoID
	}
	typ, hasType := m[v.typeClaim]
	impliedAccess := !hasType && v.impliesAccess(t, m)
	if wantType != "" {
		switch s, isStr := typ.(string); {
		case impliedAccess:
			if wantType != AccessType {
				return Claims{}, ErrWrongType
			}
		case !hasType:
			return Claims{}, ErrNoType
		case !isStr || s != wantType:
			return Claims{}, ErrWrongType
		}
	}
	c := v.claims(m, exp, iat)
	if impliedAccess {
		c.Type = AccessType
	}
	if c.JTI == "" && v.hashID {
		c.JTI = hashedID(raw)
	}
	if !revocable(c) {
		return Claims{}, ErrInvalid
	}
	return c, nil
}

// revocable reports whether the store and the event stream can hold what
// c carries, so that the token can be blacklisted by jti and revoked with
// its user and family: a token that cannot be revoked is never accepted.
//
// The jti, user id and type must also travel unchanged as HTTP header
// values (/auth answers them as X-Blnode-Jti, X-Blnode-User and
// X-Blnode-Token-Type): HTTP drops spaces and tabs at either end of a
// value and has no room for control characters, so "42" would reach the
// upstream for a token whose user id " 42 " revocation knows it by.
func revocable(c Claims) bool {
	return len(c.JTI) <= MaxJTILen && headerExact(c.JTI) &&
		len(c.User) <= MaxUserLen && headerExact(c.User) &&
		len(c.Type) <= MaxTypeLen && headerExact(c.Type) &&
		len(c.Family) <= MaxFamilyLen &&
		len(c.ClientID) <= MaxClientIDLen && headerExact(c.ClientID) &&
		len(c.SessionID) <= MaxSessionIDLen && headerExact(c.SessionID) &&
		len(c.Issuer) <= MaxIssuerLen && headerExact(c.Issuer) &&
		c.ExpiresAt.Unix() > 0
}

// headerExact reports whether s is carried unchanged as an HTTP header
// value: no control character (NUL included) and no space or tab at
// either end.
func headerExact(s string) bool {
	if s == "" {
		return true
	}
	if isHTTPSpace(s[0]) || isHTTPSpace(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func isHTTPSpace(c byte) bool { return c == ' ' || c == '\t' }

// pyjwtSegments reports whether the header and payload of raw pass
// PyJWT's checks that Go's JSON decoder would let through: both decode to
// valid UTF-8, as RFC 7519 requires (Go would turn invalid bytes into
// U+FFFD, so two different token ids could read as one), and the payload is
// a JSON object ("null" would decode into an empty claim set, a token with
// no exp instead of an invalid one). Segments that are not base64url are
// left to the parser.
func pyjwtSegments(raw string) bool {
	for i := 0; i < 2; i++ {
		seg, rest, ok := strings.Cut(raw, ".")
		if !ok {
			return true
		}
		raw = rest
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
		if err != nil {
			continue
		}
		if !utf8.Valid(b) {
			return false
		}
		if i == 1 && !isJSONObject(b) {
			return false
		}
	}
	return true
}

// isJSONObject reports whether b, after JSON whitespace, starts an object.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// claims fills Claims from a decoded payload.
func (v *Verifier) claims(m map[string]any, exp, iat time.Time) Claims {
	c := Claims{IssuedAt: iat, ExpiresAt: exp, Raw: m}
	c.JTI, _ = claimText(m[v.jtiClaim])
	c.Type, _ = m[v.typeClaim].(string)
	c.User, _ = claimText(m[v.userClaim])
	c.Family, _ = claimText(m["fam"])
	v.accessClaims(&c, m)
	return c
}

// claimText returns a string claim, or a number claim as its JSON text.
func claimText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	}
	return "", false
}

// Bounds of a numeric date: years 1 to 9999, what Python's datetime holds.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// numericDate reads claim name from m. present reports whether it is there; ok
// is false when it is there but not a JSON number within years 1 to 9999.
func numericDate(m map[string]any, name string) (t time.Time, present, ok bool) {
	v, present := m[name]
	if !present {
		return time.Time{}, false, true
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return time.Time{}, true, false
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < minUnix || i > maxUnix {
			return time.Time{}, true, false
		}
		return time.Unix(i, 0), true, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f < minUnix || f > maxUnix {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}
