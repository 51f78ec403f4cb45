// Package client is a small Go client of a node's native /v1 API (package
// node/api): it sends a request with a JSON body, adds the admin bearer
// token when one is configured, and returns the answer's body, decoded into
// a value of the caller's when asked. An answer other than 2xx is an
// [*Error] carrying the node's stable code and detail. The blnode client
// subcommands (blacklist, check, tokens, revoke-user, flush, status) are
// built on it; other Go programs may use it the same way.
//
// # Caveats
//
//   - It knows the API's paths only as strings given by the caller
//     ("/v1/blacklist"); the request and answer types are the caller's.
//   - An answer is read up to [MaxAnswer] bytes; a longer one is cut and
//     then fails to decode.
//   - The admin token is sent with every request, to every path, over
//     whatever scheme the server URL names: give an https:// URL beyond
//     the local host.
package client
