// Command blnode runs a blnode node (serve), signs tokens with its key
// (mint), and talks to a running node over HTTP (blacklist, check, tokens,
// flush, status). Run "blnode help" for the subcommands and
// "blnode help SUBCOMMAND" for their flags.
//
// The options of serve and mint form one table (package node/options): each
// is a flag --NAME, an environment variable BLNODE_NAME (upper case, "-" as
// "_") and a key NAME of the YAML file given by --config, resolved in that order of
// precedence before the default. The HMAC secret and the admin token may
// also be given as themselves in BLNODE_HS_SECRET and BLNODE_ADMIN_TOKEN
// (environment only); a flag naming a file beats them, they beat the config
// file.
//
// Exit status: 0 success; 1 any error (bad usage, unreachable node, an HTTP
// error, printed as "blnode: CODE: DETAIL (HTTP STATUS)"); 2 only from
// check, when the token is blacklisted or not valid.
//
// # Caveats
//
//   - With no key configured, serve and mint use a development secret kept
//     in DATA/dev-secret (64 hex characters; the secret is that text), made
//     on first use and logged as a warning. It is fine for a laptop and
//     wrong for anything else.
//   - Relative paths in the config file are relative to the working
//     directory, not to the file.
//   - Secret and admin token files lose their trailing newlines (the admin
//     token also its spaces); nothing else about them is changed.
//   - A list option given as a flag, an environment variable or a YAML list
//     is also split on commas, so a path with a comma cannot be listed.
//   - SIGHUP makes serve read its options again (flags, environment and
//     --config) and reload the key files from them; the other options keep
//     the values serve started with. --key-poll does the same when a key
//     file's modification time or size changes. A key that is gone keeps
//     verifying for --key-grace; a reload that fails changes nothing.
//   - A key option's "KID=FILE" form takes the text before the first "="
//     as a key id when it holds no "/": write a path whose first part has
//     an "=" as "./a=b.pem".
//   - --no-nats beats the NATS options, wherever each comes from: a config
//     file for a fleet still runs a lone node with --no-nats.
//   - A token given as an argument shows in the process list; give "-" to
//     read it from stdin instead.
//   - serve refuses a store that fails its checks at start ("store
//     damaged": a changed key or record, an unreadable page) or that is
//     missing or empty although DATA/blnode.db.marker says the dir held one
//     ("store missing"). --rebuild-store starts an empty store instead and
//     replays the stream into it (a full node's unpublished writes are
//     lost); a validator does so by itself unless --on-damaged-store
//     refuse. "blnode fsck" checks a stopped node's store in full.
package main
