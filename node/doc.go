// Package node is a blnode node's core, and the one place that mounts its
// HTTP surfaces.
//
// The core, in this package:
//
//   - configuration (config.go: Config, its defaults and validation);
//   - the check path, cache → store → user not-before (node.go: Check,
//     Verify), then the session, client and issuer not-befores, looked up
//     only while the store may hold one (revokeby.go), with the token rules
//     of package node/token;
//   - the write path, store + outbox + cache (node.go: Blacklist,
//     AddOutstanding, Flush and the flush schedule; revoke.go: RevokeUser,
//     RevokeFamily; revokeby.go: RevokeSession, RevokeClient,
//     RevokeIssuer);
//   - the fleet wiring: when a NATS connection is configured, the event
//     publisher and subscriber that keep a fleet of nodes consistent
//     (fleet.go, with the record ↔ event mapping of node/replicate), and
//     snapshots for a joining validator (snapshot.go);
//   - the node's status (status.go), its own metrics and scrape-time
//     collector (metrics.go), the Go middleware (middleware.go), and the
//     health endpoints /healthz and /readyz (http.go).
//
// Handler (http.go) mounts every HTTP surface. Each is a sub-package that
// reaches the core only through a narrow interface of its own (its Core),
// which the node satisfies:
//
//   - node/compat: the Simple JWT compatible endpoints under /api/token/
//     (blacklist, verify, and refresh with rotation and reuse detection);
//   - node/api: the native JSON API under /v1/;
//   - node/oauth: RFC 7009 revocation and RFC 7662 introspection under
//     /oauth/;
//   - node/forwardauth: the forward-auth check /auth for nginx, Traefik and
//     Envoy, whose rules Middleware shares;
//   - node/extauthz: the same check for Envoy's ext_authz over gRPC, on a
//     listener of its own (blnode serve --grpc-authz), through ForwardAuth;
//   - node/admin: the admin web pages under /admin/, with their templates,
//     style sheet and sessions;
//   - node/httpmetrics: /metrics and the HTTP request metrics.
//
// What the surfaces share sits below them: node/nodeapi holds the types and
// errors the core answers with (node re-exports them: Role, Status,
// FlushResult, RevokeResult, ErrReadOnly, …), node/nodehttp the JSON error
// body, method routing and the admin credential with its limit on failed
// authentications.
//
// Beside the node, for programs that run or drive one: node/options maps
// flags, environment and a config file to a Config (the daemon's
// options); node/offline imports into and exports from a stopped node's
// store (with the export format of persist/dump and the Simple JWT readers
// of node/simplejwt); node/api/client is a Go client of the /v1 API.
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
//   - Each call of Handler makes a new set of surfaces: the admin pages'
//     sessions belong to the Handler that signed the operator in. The
//     failure budgets and the metrics belong to the Node and are shared.
package node
