// Package admin is a node's admin web pages: server-rendered HTML under
// /admin/ with no JavaScript, their templates and style sheet (embedded
// from templates/ and static/), the operators' sessions, and the actions
// they run (blacklist a registered token, revoke a user, a session, a
// client or an issuer, flush expired entries). It reaches the node only through Core; package node mounts it
// with Handler at Prefix.
//
// An operator signs in with the admin token and gets a session cookie;
// every form POST carries the session's CSRF token and must come from the
// same origin. Every error is an HTML page with a 4xx status (503 when the
// store cannot be read, as the API does).
//
// # Caveats
//
//   - Sessions live in the memory of one Handler: a restart, or a second
//     Handler, signs every operator out. At most 64 are kept; the oldest
//     goes first.
//   - Failed sign-ins count against the client's failure budget
//     (nodehttp.Guard), shared with the node's other admin and OAuth
//     credentials.
//   - On a validator (Config.Role not full) the action forms are hidden and
//     their POSTs are refused with 403.
//   - The session cookie is Secure only when the request came over TLS: a
//     node behind a TLS-terminating proxy sends it without the flag.
package admin
