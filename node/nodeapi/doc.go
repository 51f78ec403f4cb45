// Package nodeapi is the vocabulary a node's core shares with its HTTP
// surfaces: the node's roles, the results of its writes and of a status
// read, and the errors of its check and write paths. It sits below both
// (package node re-exports every name here), so a surface package can name
// what the core answers without importing node.
//
// # Caveats
//
//   - The errors keep the texts package node always had ("node: …", and
//     Simple JWT's "Token is blacklisted"): clients and logs see them, and
//     the HTTP surfaces trim the ErrInvalidInput prefix from the messages
//     they send.
package nodeapi
