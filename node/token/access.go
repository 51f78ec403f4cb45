package token

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// impliesAccess reports whether a token without the type claim is an
// access token by its header: typ "at+jwt" or "application/at+jwt" (RFC
// 9068 §2.1, compared without regard to case), or, with
// Config.UntypedTokensAreAccess, typ "JWT" or none.
func (v *Verifier) impliesAccess(t *jwt.Token, m map[string]any) bool {
	if t == nil {
		return false
	}
	typ, present := t.Header["typ"]
	s, isStr := typ.(string)
	if present && !isStr {
		return false
	}
	s = strings.TrimPrefix(strings.ToLower(s), "application/")
	switch {
	case s == "at+jwt":
		return true
	case v.untypedAccess:
		// RFC 9068 §2.2: an access token names its client_id. An OpenID
		// Connect ID token has the same typ and no client_id (its client
		// is its aud and azp): without this it would pass for an access
		// token.
		client, _ := m["client_id"].(string)
		return (!present || s == "jwt") && client != ""
	}
	return false
}

// accessClaims fills the claims of RFC 9068 access tokens (and OpenID
// Connect's sid) into c.
func (v *Verifier) accessClaims(c *Claims, m map[string]any) {
	c.ClientID, _ = m["client_id"].(string)
	if c.ClientID == "" {
		c.ClientID, _ = m["azp"].(string)
	}
	c.SessionID, _ = m["sid"].(string)
	c.Issuer, _ = m["iss"].(string)
	switch s := m["scope"].(type) {
	case string:
		c.Scope = s
	default:
		if scp, ok := m["scp"].([]any); ok {
			c.Scope = joinScopes(scp)
		}
	}
	if len(c.Scope) > MaxScopeLen {
		c.Scope = ""
	}
}

// joinScopes joins the strings of an "scp" array with spaces, the form of
// the "scope" claim; it gives "" when an element is not a string.
func joinScopes(scp []any) string {
	var b strings.Builder
	for i, e := range scp {
		s, ok := e.(string)
		if !ok {
			return ""
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

// hashedID is the revocation id of a token without jti under
// RevocationIDSHA256: the SHA-256 of its text, in lower-case hex.
func hashedID(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}
