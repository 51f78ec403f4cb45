// Package api is a node's native JSON API under /v1/: blacklist a token
// (or, with the admin token, a jti), register an outstanding token, check a
// token or a jti, look one up, list tokens, flush, revoke a user (or, when
// the Core is a nodeapi.RevokerBy, a session, a client or an issuer), the node's
// status, and the fleet's audit log (GET /v1/audit); and, registered
// apart with RegisterRevocations, every revocation in force as JSON Lines
// with the stream sequence it reflects (GET /v1/revocations, for a
// read credential or the feed token: nodehttp.FeedGuard). JSON in and out,
// idempotent writes, every error a JSON
// body with a stable code ({"code","detail"}). It reaches the node only
// through Core; package node registers it with Register.
//
// # Caveats
//
//   - Bodies are strict: application/json (or no Content-Type), at most
//     Config.MaxBodyBytes, one object, no unknown fields, no trailing data
//     and no key given twice (a proxy in front might read the other one).
//   - The admin routes need an admin credential (nodehttp.Guard): the
//     reads (tokens, status, audit) one of read or write scope, the writes
//     (flush, every revocation, blacklist by jti) one of write scope (else 403
//     insufficient_scope). Wrong ones count against the client's failure
//     budget. A write's credential name and reason (body "reason", else
//     the X-Blnode-Reason header) travel in the request context
//     (nodeapi.WithActor) into its event and the audit log. A token
//     holder's own writes (blacklist or register by token) need no
//     credential and are no admin action.
//   - A validator refuses every write with 403 and answers checks.
//   - When the store cannot be read the answer is 503: checks fail closed.
package api
