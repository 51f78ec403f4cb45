// Package node wires a blnode node together: configuration, the token rules
// (package node/token), the write path (store + outbox + cache), the check
// path (cache → store → user not-before), the HTTP surfaces (Simple JWT
// compatible endpoints, the native /v1 API, health), the flush scheduler,
// and — when a NATS connection is configured — the event publisher and
// subscriber that keep a fleet of nodes consistent.
//
// A Go API server can embed a Node and call Check or Verify directly: a
// check then costs a cache lookup, no network hop.
//
// # Caveats
//
//   - New opens the store and binds nothing else; Run starts the node's
//     goroutines (flush schedule, publisher, subscriber) and returns when its
//     context ends. Handler can serve before Run, but events are neither
//     published nor applied until Run starts.
//   - A validator (RoleValidator) refuses every write with 403; it learns
//     blacklistings only from the event stream.
//   - When the store cannot be read, checks fail closed: the token is
//     treated as not valid and the HTTP answer is 503.
//   - Failed admin and OAuth client authentications are limited per client
//     IP (Config.AuthFailureBurst, AuthFailureRefill): the connection's
//     address, never X-Forwarded-For, so behind a proxy all clients share
//     one budget, and a client that spent it is refused even the right
//     credential until it regains a try.
package node
