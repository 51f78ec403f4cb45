package token

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// NamedKey is a key with its key id (the "kid" header of the tokens it
// signs). An empty ID is a key without one.
type NamedKey struct {
	ID   string // kid; "" for none
	Data []byte // the HMAC secret, or PEM text
}

// MaxKIDLen is the longest key id this package accepts in its
// configuration; a token's kid longer than that names no key.
const MaxKIDLen = 255

// vkey is one verification key of a keyring.
type vkey struct {
	kid   string
	kind  kind
	alg   string    // the only algorithm it verifies ("" for those of its kind); from a JWK's alg
	key   any       // []byte for HMAC, else a crypto.PublicKey
	until time.Time // zero: current; else it verifies until then (a removed key's grace)
}

// same reports whether a and b are one key under one kid.
func (a vkey) same(b vkey) bool {
	if a.kid != b.kid || a.kind != b.kind {
		return false
	}
	if s, ok := a.key.([]byte); ok {
		t, ok := b.key.([]byte)
		return ok && bytes.Equal(s, t)
	}
	eq, ok := a.key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b.key)
}

// keyring is an immutable set of the configured (file) keys: the
// Verifier swaps a whole keyring atomically on Reload, so Verify reads one
// pointer and never locks.
type keyring struct {
	keys    []vkey            // current keys, then keys in their grace period
	byKID   map[string][]vkey // kid -> its keys
	byAlg   map[string]any    // alg -> every key of its kind (one key, or a jwt.VerificationKeySet)
	algs    []string          // accepted algorithms, in order
	expires time.Time         // the earliest grace end of keys; zero when none

	signMethod jwt.SigningMethod // nil when Mint cannot sign
	signKey    any
	signKID    string
}

// keySpec is what Config says about keys: the fields New and Reload read.
type keySpec struct {
	hsSecret bool       // secrets[0] is HSSecret
	pemKeys  int        // publics[:pemKeys] are PublicKeyPEMs
	secrets  []NamedKey // HSSecret first (no kid), then HSKeys
	publics  []NamedKey // PublicKeyPEMs (no kid), then PublicKeys
	private  NamedKey   // PrivateKeyPEM with PrivateKeyID
	algs     []string   // Config.Algorithms
	jwks     bool       // a JWKS is configured: the asymmetric algorithms need no file key
}

func specOf(cfg Config) keySpec {
	s := keySpec{algs: cfg.Algorithms, jwks: len(cfg.JWKS.URLs) > 0,
		private: NamedKey{ID: cfg.PrivateKeyID, Data: cfg.PrivateKeyPEM}}
	if len(cfg.HSSecret) > 0 {
		s.secrets, s.hsSecret = append(s.secrets, NamedKey{Data: cfg.HSSecret}), true
	}
	s.secrets = append(s.secrets, cfg.HSKeys...)
	for _, p := range cfg.PublicKeyPEMs {
		s.publics = append(s.publics, NamedKey{Data: p})
	}
	s.pemKeys = len(cfg.PublicKeyPEMs)
	s.publics = append(s.publics, cfg.PublicKeys...)
	return s
}

// asymmetricAlgs are the algorithms a JWKS may serve keys for.
var asymmetricKinds = []kind{kindRSA, kindP256, kindP384, kindP521, kindEd25519}

// buildRing parses spec's keys and builds a keyring. Keys of old that
// spec no longer has keep verifying until now+grace (or their earlier
// grace end); a key spec has again is current again.
func buildRing(spec keySpec, old *keyring, grace time.Duration, now time.Time) (*keyring, error) {
	var cur []vkey
	add := func(k vkey) {
		if !slices.ContainsFunc(cur, k.same) {
			cur = append(cur, k)
		}
	}
	var (
		signer    crypto.Signer
		secretKID string
		secret    []byte
	)
	for i, s := range spec.secrets {
		field := fmt.Sprintf("HSKeys[%d]", i)
		if spec.hsSecret {
			field = fmt.Sprintf("HSKeys[%d]", i-1)
		}
		if err := checkKID(s.ID); err != nil {
			return nil, fmt.Errorf("token: %s: %w", field, err)
		}
		if len(s.Data) == 0 {
			return nil, fmt.Errorf("token: %s (kid %q): empty secret", field, s.ID)
		}
		if secret == nil {
			secret, secretKID = bytes.Clone(s.Data), s.ID
		}
		add(vkey{kid: s.ID, kind: kindHMAC, key: bytes.Clone(s.Data)})
	}
	for i, p := range spec.publics {
		field := fmt.Sprintf("PublicKeyPEMs[%d]", i)
		if i >= spec.pemKeys {
			field = fmt.Sprintf("PublicKeys[%d] (kid %q)", i-spec.pemKeys, p.ID)
		}
		if err := checkKID(p.ID); err != nil {
			return nil, fmt.Errorf("token: %s: %w", field, err)
		}
		keys, err := parsePublicPEM(p.Data)
		if err != nil {
			return nil, fmt.Errorf("token: %s: %w", field, err)
		}
		for _, k := range keys {
			kd, _ := kindOfKey(k) // parsePublicPEM checked it
			add(vkey{kid: p.ID, kind: kd, key: k})
		}
	}
	if len(spec.private.Data) > 0 {
		if err := checkKID(spec.private.ID); err != nil {
			return nil, fmt.Errorf("token: PrivateKeyID: %w", err)
		}
		var err error
		if signer, err = parsePrivatePEM(spec.private.Data); err != nil {
			return nil, fmt.Errorf("token: PrivateKeyPEM: %w", err)
		}
		kd, err := kindOfKey(signer.Public())
		if err != nil {
			return nil, fmt.Errorf("token: PrivateKeyPEM: %w", err)
		}
		add(vkey{kid: spec.private.ID, kind: kd, key: signer.Public()})
	}
	if len(cur) == 0 && !spec.jwks {
		return nil, errors.New("token: no key: set HSSecret, PublicKeyPEMs, PrivateKeyPEM or a JWKS URL")
	}
	count := map[kind]int{}
	for _, k := range cur {
		count[k.kind]++
	}
	for k, n := range count {
		if k != kindHMAC && n > maxKeysPerKind {
			return nil, fmt.Errorf("token: PublicKeyPEMs: %d %ss, at most %d are allowed", n, k, maxKeysPerKind)
		}
	}
	if n := count[kindHMAC]; n > maxKeysPerKind {
		return nil, fmt.Errorf("token: HSKeys: %d HMAC secrets, at most %d are allowed", n, maxKeysPerKind)
	}
	has := func(k kind) bool { return count[k] > 0 || (spec.jwks && k != kindHMAC) }

	r := &keyring{keys: cur}
	if len(spec.algs) == 0 {
		if count[kindHMAC] > 0 {
			r.algs = append(r.algs, "HS256")
		}
		for _, k := range asymmetricKinds {
			if has(k) {
				r.algs = append(r.algs, k.algs()...)
			}
		}
	} else {
		for _, alg := range spec.algs {
			if strings.EqualFold(alg, "none") {
				return nil, fmt.Errorf("token: Algorithms: %q is never accepted", alg)
			}
			k := kindOfAlg(alg)
			if k == kindNone {
				return nil, fmt.Errorf("token: Algorithms: unknown algorithm %q", alg)
			}
			if !has(k) {
				return nil, fmt.Errorf("token: Algorithms: %q needs an %s, and none is configured", alg, k)
			}
			if !slices.Contains(r.algs, alg) {
				r.algs = append(r.algs, alg)
			}
		}
	}

	// Keys removed since old keep verifying for their grace.
	if old != nil && grace > 0 {
		for _, k := range old.keys {
			if slices.ContainsFunc(cur, k.same) || slices.ContainsFunc(r.keys[len(cur):], k.same) {
				continue
			}
			switch {
			case k.until.IsZero():
				k.until = now.Add(grace)
			case !k.until.After(now):
				continue
			}
			r.keys = append(r.keys, k)
		}
	}
	r.index()
	r.chooseSigner(signer, secret, secretKID, spec.private.ID)
	return r, nil
}

// checkKID refuses a key id no header could carry usefully.
func checkKID(kid string) error {
	if len(kid) > MaxKIDLen {
		return fmt.Errorf("kid of %d bytes, at most %d", len(kid), MaxKIDLen)
	}
	if kid != strings.TrimSpace(kid) || strings.ContainsAny(kid, "\x00\r\n") {
		return fmt.Errorf("kid %q has spaces at an end or a control character", kid)
	}
	return nil
}

// index fills byKID, byAlg and expires from keys. Every file key, with a
// kid or without, verifies tokens that name no kid of the ring: that is
// how tokens of Simple JWT (which sets no kid) and tokens whose kid the
// configuration does not know verified before kids were read.
func (r *keyring) index() {
	r.byKID = map[string][]vkey{}
	byKind := map[kind][]any{}
	for _, k := range r.keys {
		if k.kid != "" {
			r.byKID[k.kid] = append(r.byKID[k.kid], k)
		}
		byKind[k.kind] = append(byKind[k.kind], k.key)
		if !k.until.IsZero() && (r.expires.IsZero() || k.until.Before(r.expires)) {
			r.expires = k.until
		}
	}
	// Boxed once, so Verify does not allocate for them.
	r.byAlg = make(map[string]any, len(r.algs))
	for _, alg := range r.algs {
		keys := byKind[kindOfAlg(alg)]
		switch len(keys) {
		case 0:
		case 1:
			r.byAlg[alg] = keys[0]
		default:
			set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
			for i, key := range keys {
				set.Keys[i] = key
			}
			r.byAlg[alg] = set
		}
	}
}

// pruned returns r without the keys whose grace ended at now.
func (r *keyring) pruned(now time.Time) *keyring {
	n := *r
	n.keys = slices.DeleteFunc(slices.Clone(r.keys), func(k vkey) bool { return !k.until.IsZero() && !k.until.After(now) })
	n.expires = time.Time{}
	n.index()
	return &n
}

// accepts reports whether alg is accepted.
func (r *keyring) accepts(alg string) bool { return slices.Contains(r.algs, alg) }

// errKeyMismatch is returned by keyFor when the key a kid names is of
// another kind (or for another alg) than the token's alg.
var errKeyMismatch = errors.New("token: the kid names a key of another type than the alg")

// pickKey returns the key of keys (all of one kid) that verifies alg: the
// key's kind must be alg's, and its alg, when it has one, alg itself. Two
// or more such keys (a kid used twice) are all tried.
func pickKey(keys []vkey, alg string) (any, error) {
	want := kindOfAlg(alg)
	var (
		one   any
		set   jwt.VerificationKeySet
		found int
	)
	for _, k := range keys {
		if k.kind != want || (k.alg != "" && k.alg != alg) {
			continue
		}
		found++
		if found == 1 {
			one = k.key
		}
		set.Keys = append(set.Keys, k.key)
	}
	switch found {
	case 0:
		return nil, errKeyMismatch
	case 1:
		return one, nil
	}
	return set, nil
}
