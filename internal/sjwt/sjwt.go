// Package sjwt mints tokens byte for byte the way Django REST framework
// Simple JWT (PyJWT underneath) does, for tests: header
// {"alg":"HS256","typ":"JWT"}, claims in Simple JWT's order (token_type,
// exp, iat, jti, user_id), jti 32 lower-case hex characters.
package sjwt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Claim is one payload member; Value nil leaves it out.
type Claim struct {
	Name  string
	Value any
}

// Header is PyJWT's header for HS256.
const Header = `{"alg":"HS256","typ":"JWT"}`

// Sign returns header.payload.signature with the claims in the given order,
// HMAC-SHA256 under secret.
func Sign(secret []byte, header string, claims ...Claim) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, c := range claims {
		if c.Value == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(c.Name)
		v, _ := json.Marshal(c.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(b.String()))
	return signing + "." + MAC(secret, signing)
}

// MAC returns the HS256 signature of signing (header.payload) under
// secret, base64url encoded without padding.
func MAC(secret []byte, signing string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// JTI returns a Simple JWT style token id: uuid4().hex.
func JTI() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Token describes a token to mint; zero fields take Simple JWT's values.
type Token struct {
	Type  string        // "refresh", "access", "sliding"; "-" leaves it out
	User  any           // int or string; nil leaves it out
	TTL   time.Duration // default 24h for refresh, 5m otherwise; negative is expired
	JTI   string        // default random; "-" leaves it out
	NoExp bool
	Now   time.Time // default time.Now()
}

// Mint returns the token and its jti.
func (t Token) Mint(secret []byte) (string, string) {
	if t.Now.IsZero() {
		t.Now = time.Now()
	}
	if t.TTL == 0 {
		t.TTL = 5 * time.Minute
		if t.Type == "refresh" {
			t.TTL = 24 * time.Hour
		}
	}
	if t.JTI == "" {
		t.JTI = JTI()
	}
	var typ, exp, jti any = t.Type, t.Now.Add(t.TTL).Unix(), t.JTI
	if t.Type == "-" {
		typ = nil
	}
	if t.NoExp {
		exp = nil
	}
	if t.JTI == "-" {
		jti, t.JTI = nil, ""
	}
	return Sign(secret, Header,
		Claim{"token_type", typ}, Claim{"exp", exp}, Claim{"iat", t.Now.Unix()}, Claim{"jti", jti}, Claim{"user_id", t.User}), t.JTI
}
