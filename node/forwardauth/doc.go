// Package forwardauth is a node's forward-auth check: the /auth endpoint
// that nginx auth_request, Traefik ForwardAuth and Envoy ext_authz (HTTP
// service) call before they pass a request on, and the same rules as Go
// middleware (Checker.Middleware, which node.Node.Middleware serves). A
// request passes with a bearer token (from a header, else a cookie) that
// the node verifies — signature, expiry, blacklist, the user's not-before
// and those of its session, client and issuer — and whose type is one of
// those configured (an RFC 9068 access token, typ at+jwt, is an access
// token). A pass answers the token's user, jti and type, and its client,
// session and scope when it has them, as X-Blnode-* headers. It reaches the node only
// through Core; package node mounts the Checker at /auth and /auth/.
// Checker.Check is the decision alone (the claims, or a Failure with the
// status, code and detail /auth answers), which node/extauthz serves to
// Envoy over gRPC, so every transport applies one set of rules.
//
// # Caveats
//
//   - The check fails closed: when the node cannot read its store the
//     answer is 503, never a pass.
//   - Any method is checked and the request body is never read; the answer
//     is never a redirect, which gateways would follow or pass on.
//   - A failure answers 401 with an RFC 6750 Bearer challenge, without an
//     error when no token was sent (RFC 6750 §3.1).
//   - With Config.CacheMaxAge a gateway may keep a pass (never a refusal)
//     for up to that long: a token revoked meanwhile still passes there
//     until then, and so does a pass given under --fail-open while the
//     store could not be read. The token's exp bounds it; a revocation
//     does not.
package forwardauth
