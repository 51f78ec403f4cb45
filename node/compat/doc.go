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
//     as reuse — unless Config.RefreshGrace is set: within it, the
//     rotated token presented again gets the same successor while that
//     successor is unused (graceRetry).
//   - The successor is derived, not stored: its jti is an HMAC of the
//     predecessor's jti under a key derived from the signing key
//     (Core.DeriveKey), its iat the rotation time in the predecessor's
//     blacklist record, its exp iat + Config.RefreshLifetime capped at the
//     family's end, its other claims the predecessor's. Any full node of a
//     fleet that holds the same key, settings and record mints the same
//     successor; a node the rotation's event has not reached rotates the
//     token afresh, to a successor with the same jti.
//   - Rotated refresh tokens carry the family's start in fam_iat; with
//     Config.RefreshFamilyLifetime a family ends at fam_iat (else the
//     presented token's iat) plus it. A signing-key change (a new HS secret
//     or private key) changes the derived jtis: a retry within the window
//     across such a change gets another successor.
//   - Refresh needs a signing key (an HS secret or a private key); a node
//     with only public keys answers 403.
//   - A validator refuses blacklist and refresh with 403; verify works on
//     every node.
package compat
