package token

import (
	"log/slog"
	"net/http"
	"time"
)

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

	// HSKeys are more HMAC secrets, each with its key id. A token whose
	// kid names one is checked with that one; a token without a kid (or
	// with a kid no key has) with each secret in turn. Without HSSecret
	// the first signs, its kid in the header. Default: none.
	HSKeys []NamedKey
	// PublicKeys are more PEM public keys, like PublicKeyPEMs, each with
	// its key id. Default: none.
	PublicKeys []NamedKey
	// PrivateKeyID is the kid of PrivateKeyPEM, written into the header of
	// minted tokens. Default: none.
	PrivateKeyID string

	// KeyGrace is how long a key that Reload removed keeps verifying.
	// Default 0: a removed key stops at once.
	KeyGrace time.Duration

	// JWKS names JSON Web Key Sets to fetch keys from (see [JWKSConfig]).
	// Their keys are selected by kid only. Default: none.
	JWKS JWKSConfig

	// Algorithms are the accepted "alg" values. Default: HS256 when HSSecret
	// is set, plus the algorithms of each public key's family (RSA: RS256,
	// RS384, RS512, PS256, PS384, PS512; EC: ES256, ES384 or ES512 by curve;
	// Ed25519: EdDSA; with a JWKS every asymmetric algorithm). "none" is
	// always refused.
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
	// header "typ" is "JWT" or absent, and that names its client
	// (client_id, else azp), an access token (its Claims.Type is
	// "access"), as the JWT access tokens of Ory Hydra and others are; an
	// OpenID Connect ID token (its client in aud alone) is not one.
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
	// Logger receives the JWKS fetch errors and key reloads. Default: none.
	Logger *slog.Logger
}

// JWKSConfig says where JWKS keys come from and how they are cached. A
// zero field means its default, written beside it.
type JWKSConfig struct {
	// URLs of the JWK Sets (http or https). Default: none.
	URLs []string
	// RefreshMin and RefreshMax bound how long a fetched set is used
	// before it is fetched again: the response's Cache-Control max-age
	// clamped to [RefreshMin, RefreshMax], RefreshMax when it has none.
	// Defaults 1m and 1h.
	RefreshMin time.Duration
	RefreshMax time.Duration
	// MissInterval is the least time between two fetches of one URL caused
	// by tokens whose kid no key has, so a flood of made-up kids cannot
	// hammer the issuer. Default 10s.
	MissInterval time.Duration
	// MissWait is the longest a Verify with an unknown kid waits for the
	// fetch it caused (or one under way). Default 2s.
	MissWait time.Duration
	// Timeout bounds one fetch. Default 10s.
	Timeout time.Duration
	// MaxSize bounds a response body, in bytes. Default 1 MiB.
	MaxSize int64
	// Client fetches the sets. Default: a client of its own.
	Client *http.Client
}

// Defaults of JWKSConfig.
const (
	DefaultJWKSRefreshMin   = time.Minute
	DefaultJWKSRefreshMax   = time.Hour
	DefaultJWKSMissInterval = 10 * time.Second
	DefaultJWKSMissWait     = 2 * time.Second
	DefaultJWKSTimeout      = 10 * time.Second
	DefaultJWKSMaxSize      = 1 << 20
)

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
