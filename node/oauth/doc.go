// Package oauth is a node's OAuth endpoints: RFC 7009 token revocation
// (POST /oauth/revoke) and RFC 7662 token introspection (POST
// /oauth/introspect), their client authentication (HTTP Basic against the
// configured clients, or the admin bearer token for introspection), and
// the reading of the clients file (LoadClients). It reaches the node only
// through Core; package node registers it with Register.
//
// Both endpoints read application/x-www-form-urlencoded bodies and answer
// errors as RFC 6749 §5.2 does: {"error": code, "error_description":
// text}. A 405 (wrong method) and a validator's 403 carry the native API's
// {"code","detail"} body, as every other route of a node does.
//
// # Caveats
//
//   - Without clients, revocation is open to anyone who holds a token
//     (RFC 7009 lets a holder revoke its own token) and introspection needs
//     the admin token.
//   - Revocation answers 200 whether or not the token verified, so a client
//     learns nothing about the token it sent — except that a verified token
//     issued to another client (its client_id, else azp, names another
//     client than the authenticated caller) is refused with 400
//     unauthorized_client and left valid, as RFC 7009 §2.1 asks.
//   - Introspection's client_id is the token's client (client_id, else
//     azp), as RFC 7662 §2.2 defines it, never the caller's.
//   - Wrong client credentials count against the client IP's failure budget
//     (nodehttp.Guard), shared with the admin credential.
//   - LoadClients keeps the error texts of node.LoadOAuthClients ("node:
//     oauth clients file …"): the command line shows them.
package oauth
