package token

import "time"

// Config says which tokens a Verifier accepts. It is passed by value; a zero
// field means its default, written beside it. New never changes the caller's
// Config or the slices it holds.
type Config struct {
	// HSSecret is the HMAC secret (Simple JWT's SIGNING_KEY); it enables
	// HS256, HS384 and HS512, subject to Algorithms. It is the only key HS*
	// tokens are ever checked with. Default: none.
	HSSecret []byte

	// PublicKeyPEMs are PEM-encoded public keys (RSA, ECDSA on P-256/P-384/
	// P-521, Ed25519) as PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks; an
	// entry may hold several blocks. They enable RS*/PS*, ES* and EdDSA.
	// Default: none.
	PublicKeyPEMs [][]byte

	// PrivateKeyPEM is an optional PEM private key (RSA, EC or Ed25519 in
	// PKCS#1, PKCS#8 or SEC 1) that Mint signs with; its public half also
	// verifies. Default: none (Mint uses HSSecret).
	PrivateKeyPEM []byte

	// Algorithms are the accepted "alg" values. Default: HS256 when HSSecret
	// is set, plus the algorithms of each public key's family (RSA: RS256,
	// RS384, RS512, PS256, PS384, PS512; EC: ES256, ES384 or ES512 by curve;
	// Ed25519: EdDSA). "none" is always refused.
	Algorithms []string

	// JTIClaim names the token id claim. Default "jti".
	JTIClaim string
	// TokenTypeClaim names the token type claim. Default "token_type".
	TokenTypeClaim string
	// UserIDClaim names the user id claim. Default "user_id".
	UserIDClaim string

	// Leeway is the clock skew allowed on exp, nbf and iat. Default 0.
	Leeway time.Duration

	// Audience, when set, must be one of the token's aud values. Default: not
	// checked.
	Audience string
	// Issuer, when set, must equal the token's iss. Default: not checked.
	Issuer string

	// UntypedTokensAreAccess makes a token without the type claim whose
	// header "typ" is "JWT" or absent an access token (its Claims.Type is
	// "access"), as the JWT access tokens of Ory Hydra and others are.
	// Default false: such a token has no type (Simple JWT's rule), and
	// paths that want an access token refuse it. Tokens with typ "at+jwt"
	// (RFC 9068) and no type claim are access tokens either way.
	UntypedTokensAreAccess bool

	// RevocationID says how a token without a jti claim is known: "jti"
	// (RevocationIDJTI, the default) refuses it (ErrNoID, Simple JWT's
	// rule); "sha256" (RevocationIDSHA256) knows it by the SHA-256 of its
	// text, in lower-case hex, which becomes its Claims.JTI.
	RevocationID string

	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// The values of Config.RevocationID.
const (
	RevocationIDJTI    = "jti"
	RevocationIDSHA256 = "sha256"
)

// AccessType is the token type of access tokens, the type Verify gives a
// token that has no type claim but is an access token by its header (RFC
// 9068's typ "at+jwt", or Config.UntypedTokensAreAccess).
const AccessType = "access"

// Claim name defaults, those of Simple JWT.
const (
	DefaultJTIClaim       = "jti"
	DefaultTokenTypeClaim = "token_type"
	DefaultUserIDClaim    = "user_id"
)

// MaxTokenSize is the length above which a token is invalid without parsing.
const MaxTokenSize = 16 << 10

// The longest claims, in bytes, of a token that Verify accepts: what the
// store (persist.MaxJTILen) and the event stream (the events package's
// field limits) hold. A token over any of them could be checked but never
// revoked, so Verify refuses it as ErrInvalid, on every path. node's tests
// hold these equal to the limits below them.
const (
	MaxJTILen    = 255 // the jti claim
	MaxUserLen   = 255 // the user id claim, as text
	MaxTypeLen   = 64  // the token type claim, when a string
	MaxFamilyLen = 255 // the refresh-rotation family claim ("fam")

	MaxClientIDLen  = 255  // the client_id (or azp) claim
	MaxSessionIDLen = 255  // the sid claim
	MaxIssuerLen    = 1024 // the iss claim
	MaxScopeLen     = 4096 // the scope; a longer one is left out of Claims.Scope
)
