// Package api is a node's native JSON API under /v1/: blacklist a token
// (or, with the admin token, a jti), register an outstanding token, check a
// token or a jti, look one up, list tokens, flush, revoke a user (or, when
// the Core is a RevokerBy, a session, a client or an issuer), and the
// node's status. JSON in and out, idempotent writes, every error a JSON
// body with a stable code ({"code","detail"}). It reaches the node only
// through Core; package node registers it with Register.
//
// # Caveats
//
//   - Bodies are strict: application/json (or no Content-Type), at most
//     Config.MaxBodyBytes, one object, no unknown fields, no trailing data
//     and no key given twice (a proxy in front might read the other one).
//   - The admin routes (tokens, flush, status, every revocation, blacklist
//     by jti) need the admin bearer token; wrong ones count against the
//     client's failure budget (nodehttp.Guard).
//   - A validator refuses every write with 403 and answers checks.
//   - When the store cannot be read the answer is 503: checks fail closed.
package api
