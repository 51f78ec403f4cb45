// Package compat is a node's Simple JWT compatible endpoints: POST
// /api/token/blacklist/ {"refresh": …}, POST /api/token/verify/ {"token":
// …} and POST /api/token/refresh/ with rotation, blacklist after rotation
// and reuse detection. They answer as Django REST framework with Simple
// JWT's token_blacklist app does — JSON, form or multipart bodies, DRF's
// error shapes, a 301 from the path without its trailing slash — except
// that what the original answers with a 500 (a token without a jti) gets a
// 401. It reaches the node only through Core; package node registers it
// with Register.
//
// # Caveats
//
//   - Of N concurrent refreshes of one token exactly one succeeds: the
//     presented token is blacklisted in one durable compare-and-set before
//     anything is minted. The others see a rotated token presented again:
//     that is reuse, and reuse detection (Config.ReuseDetection) revokes
//     the token's family or user, so a refresh retried in parallel counts
//     as reuse.
//   - Refresh needs a signing key (an HS secret or a private key); a node
//     with only public keys answers 403.
//   - A validator refuses blacklist and refresh with 403; verify works on
//     every node.
package compat
