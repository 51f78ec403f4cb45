// Package deploytest checks the files in deploy/ by running them: real
// nats-server processes (built from the nats-server/v2 module in go.mod)
// started with the shipped NATS configs, and blnode processes (built with
// the exact command of deploy/Dockerfile) started with the commands,
// environment and secrets of the shipped compose files.
//
// What runs (go test ./deploy/deploytest):
//
//   - TestComposeOneRegion: the three NATS servers of deploy/nats with their
//     accounts, a full node and a validator as deploy/compose says; a write
//     on the full node reaches the validator; the validator's NATS user
//     cannot publish events; the full node's user cannot publish outside
//     blnode.ev.>.
//   - TestMultiRegion: two regions (deploy/multi-region), each a cluster of
//     three servers and its own JetStream domain, joined by leaf node
//     connections through a TCP proxy the test owns; streams provisioned by
//     "blnode streams apply" from the shipped JSON files; a full node and a
//     validator per region. A write in one region is rejected in the other;
//     with the link cut both regions keep taking writes and checks; when the
//     link returns every node holds every write.
//   - the static checks: the Dockerfile (its build command is run, the
//     binary is checked static and stripped), the systemd unit (its keys,
//     and systemd-analyze when present), the Kubernetes manifests (parsed,
//     cross-referenced), the stream files.
//
// The files are the source of truth: the test copies a NATS config or a
// compose command changing only HOST:PORT addresses (service names and
// 0.0.0.0 become 127.0.0.1 and free ports), store_dir, and container paths
// (volumes, /run/secrets), and fails if anything else would differ.
//
// BLNODE_LONG=1 adds a longer soak of the multi-region test (more writes,
// several cuts). BLNODE_SIZING=1 runs TestSizing, which measures the figures
// of deploy/README.md's sizing section.
//
// # Caveats
//
// Docker has no engine here, so the images themselves are not built or run:
// the nats image tag is only compared with the nats-server version in
// go.mod, and the blnode image only through its build command.
package deploytest
