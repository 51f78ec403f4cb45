// Command blfloor is the floor blbench measures blnode's HTTP paths
// against: a bare net/http server, in a process of its own, that does the
// least work a server answering the same requests must do.
//
//   - POST /api/token/verify/ reads the body, decodes its JSON
//     ({"token": …}) with encoding/json and answers 200 {}: no signature,
//     no claims, no revocation check.
//   - POST /v1/blacklist reads the body, decodes its JSON ({"jti": …,
//     "exp": …}), appends it as a line to a file and answers 200 {} once the
//     line is fsynced. Appends are group-committed: one writer goroutine
//     writes every line waiting and fsyncs once for them all, as Redis does
//     with appendfsync always (one fsync per turn of its event loop).
//
// It prints one JSON log line {"msg":"listening","http":ADDR} once it
// listens, as blnode does, and stops on SIGINT or SIGTERM.
//
// # Caveats
//
// It is a yardstick, not a server: no authentication, no limits beyond a
// 64 KiB body, and the file grows without end. Loopback only.
package main
