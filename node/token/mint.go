package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Default lifetimes of minted tokens, those of Simple JWT.
const (
	DefaultAccessTTL  = 5 * time.Minute
	DefaultRefreshTTL = 24 * time.Hour
)

// MintOptions describe a token to mint. The zero value mints an access token
// without a user that lives DefaultAccessTTL.
type MintOptions struct {
	Type   string         // token type; default "access"
	User   string         // user id; a decimal integer that fits int64 is written as a JSON number; "" leaves the claim out
	TTL    time.Duration  // lifetime; default DefaultRefreshTTL for "refresh", else DefaultAccessTTL; negative mints an expired token
	NoJTI  bool           // leave the jti claim out
	NoExp  bool           // leave the exp claim out
	NoType bool           // leave the token type claim out
	Extra  map[string]any // more claims; a key already there keeps its place and takes this value, new keys follow in sorted order
	JTI    string         // jti to use instead of a random one
}

// chooseSigner picks the signing algorithm and key: the private key's first
// accepted algorithm, else the first HMAC secret's first accepted HS
// algorithm. Its kid, if any, goes into the header of minted tokens.
func (r *keyring) chooseSigner(signer crypto.Signer, secret []byte, secretKID, signerKID string) {
	if signer != nil {
		var candidates []string
		switch k := signer.(type) {
		case *rsa.PrivateKey:
			candidates = kindRSA.algs()
		case *ecdsa.PrivateKey:
			if kd, err := kindOfKey(&k.PublicKey); err == nil {
				candidates = kd.algs()
			}
		case ed25519.PrivateKey:
			candidates = kindEd25519.algs()
		}
		for _, alg := range candidates {
			if slices.Contains(r.algs, alg) {
				r.signMethod, r.signKey, r.signKID = jwt.GetSigningMethod(alg), signer, signerKID
				return
			}
		}
	}
	if secret != nil {
		for _, alg := range kindHMAC.algs() {
			if slices.Contains(r.algs, alg) {
				r.signMethod, r.signKey, r.signKID = jwt.GetSigningMethod(alg), secret, secretKID
				return
			}
		}
	}
}

// CanMint reports whether Mint can sign: a PrivateKeyPEM or HMAC secret
// whose algorithm is accepted.
func (v *Verifier) CanMint() bool { return v.ring.Load().signMethod != nil }

// Mint signs a token as Simple JWT does: header {"alg":…,"typ":"JWT"} (with
// "kid" between them when the signing key has one), and
// claims in Simple JWT's order — token type, exp, iat, jti (32 lowercase hex
// characters, a random UUID as uuid4().hex gives), user id — followed by
// o.Extra. It returns the token and its claims as Verify would.
func (v *Verifier) Mint(o MintOptions) (string, Claims, error) {
	r := v.ring.Load()
	if r.signMethod == nil {
		return "", Claims{}, ErrCannotMint
	}
	now := v.now()
	ttl := o.TTL
	typ := cmp(o.Type, "access")
	if ttl == 0 {
		ttl = DefaultAccessTTL
		if typ == "refresh" {
			ttl = DefaultRefreshTTL
		}
	}

	type claim struct {
		name  string
		value any
	}
	claims := make([]claim, 0, 5+len(o.Extra))
	if !o.NoType {
		claims = append(claims, claim{v.typeClaim, typ})
	}
	if !o.NoExp {
		claims = append(claims, claim{"exp", now.Add(ttl).Unix()})
	}
	claims = append(claims, claim{"iat", now.Unix()})
	if !o.NoJTI {
		jti := o.JTI
		if jti == "" {
			jti = newJTI()
		}
		claims = append(claims, claim{v.jtiClaim, jti})
	}
	if o.User != "" {
		var user any = o.User
		if n, err := strconv.ParseInt(o.User, 10, 64); err == nil && strconv.FormatInt(n, 10) == o.User {
			user = n
		}
		claims = append(claims, claim{v.userClaim, user})
	}
	extra := make([]string, 0, len(o.Extra))
	for name := range o.Extra {
		extra = append(extra, name)
	}
	slices.Sort(extra)
	for _, name := range extra {
		i := slices.IndexFunc(claims, func(c claim) bool { return c.name == name })
		if i >= 0 {
			claims[i].value = o.Extra[name]
		} else {
			claims = append(claims, claim{name, o.Extra[name]})
		}
	}

	var payload bytes.Buffer
	payload.WriteByte('{')
	for i, c := range claims {
		if i > 0 {
			payload.WriteByte(',')
		}
		name, _ := json.Marshal(c.name) // a string always marshals
		value, err := json.Marshal(c.value)
		if err != nil {
			return "", Claims{}, fmt.Errorf("token: claim %q: %w", c.name, err)
		}
		payload.Write(name)
		payload.WriteByte(':')
		payload.Write(value)
	}
	payload.WriteByte('}')

	header := `{"alg":"` + r.signMethod.Alg() + `","typ":"JWT"}`
	if r.signKID != "" {
		kid, _ := json.Marshal(r.signKID) // a string always marshals
		header = `{"alg":"` + r.signMethod.Alg() + `","kid":` + string(kid) + `,"typ":"JWT"}`
	}
	enc := base64.RawURLEncoding
	var sb strings.Builder
	sb.WriteString(enc.EncodeToString([]byte(header)))
	sb.WriteByte('.')
	sb.WriteString(enc.EncodeToString(payload.Bytes()))
	sig, err := r.signMethod.Sign(sb.String(), r.signKey)
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: sign %s: %w", r.signMethod.Alg(), err)
	}
	sb.WriteByte('.')
	sb.WriteString(enc.EncodeToString(sig))

	c, err := v.claimsOf(payload.Bytes())
	if err != nil {
		return "", Claims{}, err
	}
	return sb.String(), c, nil
}

// claimsOf decodes a payload the way Verify sees it, without checking it.
func (v *Verifier) claimsOf(payload []byte) (Claims, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return Claims{}, fmt.Errorf("token: decode minted claims: %w", err)
	}
	exp, _, _ := numericDate(m, "exp")
	iat, _, _ := numericDate(m, "iat")
	return v.claims(m, exp, iat), nil
}

// newJTI returns 32 lowercase hex characters of a random (version 4) UUID, as
// Simple JWT's uuid4().hex.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails; it crashes the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}
