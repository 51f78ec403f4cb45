// Package nodehttp is what every HTTP surface of a node shares: the JSON
// error body and method routing of the native API, the answers to the
// core's errors (a validator's 403, invalid input, a store that cannot be
// read), and the admin credentials (a credentials file of named read and
// write credentials, ParseCredentials; the single admin token is the write
// credential "admin") with their limit on failed authentications (Guard,
// Limiter; FeedGuard admits the feed token besides them on the revocation
// routes), and an admin action's actor and reason (Reason, WithActor). Package node builds one Guard per node
// and hands it to each surface it mounts.
//
// # Caveats
//
//   - Failed admin and OAuth client authentications are limited per client
//     IP: the connection's address (an IPv6 one by its /64), never
//     X-Forwarded-For, so behind a proxy all clients share one budget.
//   - A client that spent its budget is refused even the right credential
//     until it regains a try: a 200 among the 429s would tell a guesser
//     which guess was right.
package nodehttp
