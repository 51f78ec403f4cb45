// Package token owns the token rules of blnode: which keys and algorithms are
// accepted, how a JSON Web Token is verified, which claims it must carry, and
// which of Simple JWT's error details a bad token earns. It also mints tokens
// the way Django REST framework Simple JWT does, for tests, tools and issuers
// written in Go.
//
// A [Verifier] is built from a [Config] with [New] and is then safe for
// concurrent use; [Verifier.Verify] is on the path of every request and does
// no I/O of its own: it reads the keys in use with one atomic load. Tokens
// minted by Simple JWT with the same key verify unchanged:
// HS256 with the header {"alg":"HS256","typ":"JWT"}, token_type
// access/refresh/sliding, a 32-hex-character jti and an integer or string
// user_id. RS*, PS*, ES* and EdDSA tokens verify against public keys read from
// PEM (see [LoadPEMFiles]).
//
// # Key ids, rotation and JWKS
//
// File keys may carry a key id ([NamedKey]: Config.HSKeys, PublicKeys,
// PrivateKeyID). A token whose kid names file keys is checked with those
// alone; a token without a kid, or whose kid names none, is checked with
// every file key of its algorithm's family, as before kids were read.
// [Verifier.Reload] swaps the file keys (whole, atomically); a key that is
// gone keeps verifying for Config.KeyGrace. [Verifier.Mint] signs with the
// private key, else the first HMAC secret, and writes its kid.
//
// JSON Web Key Sets (Config.JWKS) are fetched by [Verifier.Run] with
// github.com/MicahParks/jwkset, which decodes and checks each JWK, on a
// schedule of this package's: the response's Cache-Control max-age clamped
// to [RefreshMin, RefreshMax], in the background, and at once when a token
// names a kid no set has, at most once per MissInterval per URL; that token
// waits at most MissWait, and every other Verify goes on with the set in
// use. Each fetch replaces the set whole, so a key the issuer removed stops
// verifying after the next fetch. JWKS keys are only ever selected by kid,
// and a key's type (and alg, when the JWK has one) must fit the token's alg;
// symmetric ("oct") keys and keys for encryption are never used. Until a
// set has been fetched, [Verifier.Ready] reports why and its tokens are
// invalid.
//
// Verify reports exactly one of the sentinel errors [ErrInvalid], [ErrExpired],
// [ErrNoExp], [ErrNoID], [ErrNoType] and [ErrWrongType], in Simple JWT's order
// of checks. Their messages are Simple JWT's "detail" strings, meant to be sent
// to clients verbatim; [Detail] maps any error to one of them.
//
// The package knows nothing of the blacklist: a token that verifies here may
// still be revoked. Callers look its jti up in the store.
//
// OAuth 2.0 access tokens (RFC 9068) verify too: a token without the type
// claim whose header typ is "at+jwt" (or "application/at+jwt") is an access
// token ([AccessType]); [Config.UntypedTokensAreAccess] extends that to
// typ "JWT" or none on tokens that name their client (client_id, else azp),
// which ID tokens do not. Their client_id (else azp), sid, scope (or scp) and iss
// are in [Claims]. [Config.RevocationID] "sha256" accepts tokens without jti,
// known by the SHA-256 of their text.
//
// # Caveats
//
//   - Errors from Verify carry no reason (bad signature, algorithm not allowed,
//     wrong audience all read "Token is invalid"); log the token's jti, never
//     the token, when a reason is needed.
//   - The claim rules, the accepted algorithms and the JWKS URLs are fixed
//     when New runs; Reload changes the file keys alone.
//   - With several file keys of one family (at most 16) and no kid to pick
//     one, each is tried in turn. A kid that is not a string makes the token
//     invalid, as in PyJWT.
//   - One kid used by several keys of a JWKS (at most 4 are kept) is
//     resolved by the token's alg: keys of another type are skipped, keys of
//     the same type are each tried (RFC 7517 §4.5 lets a kid name
//     alternatives). A JWK without a kid is never used.
//   - A failed fetch keeps the keys of the last good one, for as long as the
//     issuer cannot be reached: a key the issuer removed meanwhile still
//     verifies. A fetch that finds one JWK it cannot decode refuses the whole
//     set (jwkset's rule); unsupported key types (Ed448, …) are skipped.
//   - The JWKS fetch schedule runs on the real clock, not Config.Now.
//   - The HMAC keys are only ever HSSecret and HSKeys: public keys (file or
//     JWKS) are never used as HMAC secrets, so the RS256-to-HS256 confusion
//     attack fails. A secret's length is not checked; use at least 32 random
//     bytes.
//   - A certificate given as a public key is only a container for its key: its
//     validity period and chain are not checked.
//   - An iat more than Leeway in the future makes a token invalid, as PyJWT
//     does; a node whose clock runs behind its issuer's needs Leeway.
//   - exp, iat and nbf must be JSON numbers within the years 1 to 9999; other
//     values make the token invalid (Simple JWT answers some of them with a
//     server error).
//   - A jti that is empty or not a string or number is reported as "Token has
//     no id", since it cannot key a blacklist entry.
//   - A token that could not be revoked is invalid, though its signature
//     holds: a jti or user id over 255 bytes (MaxJTILen, MaxUserLen), a
//     string type over 64 (MaxTypeLen), a fam over 255 (MaxFamilyLen), a
//     client_id/azp or sid over 255 or an iss over 1024 (MaxClientIDLen,
//     MaxSessionIDLen, MaxIssuerLen), an exp at or before 1970, or a jti,
//     user id, type, client, sid or iss that an HTTP header cannot carry
//     unchanged (a control character, a space or tab at either end).
//     Simple JWT verifies such tokens. A scope over MaxScopeLen is left out
//     of Claims.Scope instead: it revokes nothing.
//   - A header with crit is invalid (RFC 7515 §4.1.11): no JWS extension is
//     understood, and PyJWT 2.6 would ignore it.
//   - Data after the payload's JSON object is ignored by the JSON-number
//     decoder of golang-jwt, where PyJWT refuses it; only the holder of the
//     key can produce such a token.
//   - Tokens longer than 16 KiB are invalid before any parsing. Below that,
//     golang-jwt decodes the header and payload JSON before it checks the
//     signature, so a forged 16 KiB token costs up to about half a
//     millisecond of CPU; a typical Simple JWT token costs a few microseconds.
//     Limit request sizes in front of Verify.
package token
