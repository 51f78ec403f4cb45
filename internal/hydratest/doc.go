// Package hydratest runs a real OAuth 2.0 / OpenID Connect issuer, Ory
// Hydra v2.3.0, for tests: Binary builds it (once, into the user's cache
// dir) from the nested module in tool/, which pins github.com/ory/hydra/v2
// as a Go tool apart from blnode's go.mod; Start runs "hydra serve all"
// on loopback with an in-memory database and JWT access tokens; the
// methods of Hydra register clients, get tokens by the client-credentials
// and the authorization-code grants (the login and consent apps played
// through the admin API), and rotate the access-token signing key. Forge
// signs a token with a key Hydra never published.
//
// # Hydra's access tokens
//
// As Hydra v2.3.0 writes them (the package's tests hold them to it):
//
//	header: {"alg":"RS256","kid":"<uuid of a key of hydra.jwt.access-token>","typ":"JWT"}
//	claims: {"aud":[],"client_id":"<client>","exp":…,"ext":{},"iat":…,
//	         "iss":"<public URL>","jti":"<uuid>","nbf":…,"scp":["read"],"sub":"<client or user>"}
//
// In detail:
//
//   - typ is "JWT", not RFC 9068's "at+jwt"; there is no token_type claim.
//   - client_id is the client; sub is the client itself for client
//     credentials and the user for the authorization code.
//   - scopes are the array scp (strategies.jwt.scope_claim "list");
//     Config.ScopeClaim "string" or "both" adds RFC 9068's scope string.
//   - sid is there only when the consent puts it in the session's
//     access-token claims and oauth2.allowed_top_level_claims lets it to
//     the top level (both done here: AuthorizationCode sets it to the
//     login session id, the sid of the ID token); it is also kept in ext.
//   - jti is a UUID, unique per token.
//   - After a new key is added to the set, new tokens are signed with it
//     (the newest key); the old key stays in the JWKS until deleted.
//   - The ID token of an authorization code (scope openid) has the same
//     typ "JWT", a jti and the sid, and its key is in the same JWKS (set
//     hydra.openid.id-token); it names the client in aud, and has no
//     client_id and no scp: a verifier that takes every "JWT" for an
//     access token takes ID tokens too.
//   - Refresh tokens (scope offline) are opaque ("ory_rt_…"), not JWTs.
//   - Hydra makes each key set on first use, and concurrent first
//     requests each make a key: Start asks for the JWKS once, so that each
//     set starts with one key.
//
// # Caveats
//
//   - The build needs cgo and a C compiler (SQLite, for DSN=memory, needs
//     the build tags sqlite,json1), and the first one needs the module
//     proxy and minutes (downloads and SQLite's C code); later ones are
//     cached. BinaryEnv names a prebuilt binary instead.
//   - Each Start is a new Hydra with its own keys and clients; its data
//     is gone when it stops.
//   - The redirect, login and consent URLs point at a loopback port
//     nothing listens on: they are read from redirects, never fetched.
package hydratest
