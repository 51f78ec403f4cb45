// Package options owns the settings of the blnode binary and their mapping
// to the node's configuration: one table of options ([ServeNames] for a
// node, [KeyNames] for the keys and claims that mint shares, [ClientNames]
// for the client subcommands), the three sources that set them and the
// rules that turn them into a node.Config ([NodeConfig]) or a token.Config
// ([TokenConfig]), including the development secret ([DevSecret]).
//
// Each option is a flag --NAME, an environment variable BLNODE_NAME (upper
// case, "-" → "_") and a key NAME of the YAML config file, all spelt from
// its one name, and is resolved in that order of precedence before its
// default. The three sources share one parser per kind (string, bool, int,
// duration, list), so they cannot drift apart. A program that embeds a node
// and wants blnode's flags, environment and config file registers them on
// its own flag.FlagSet with [NewSet], calls [Set.Resolve] after parsing,
// then [NodeConfig].
//
// # Caveats
//
//   - Asking a [Set] for an option it was not made with, or before
//     [Set.Resolve], panics: it is a mistake in the program, not in its input.
//   - Relative paths in the config file are relative to the working
//     directory, not to the file.
//   - A list option given as a flag, an environment variable or a YAML list
//     is also split on commas, so a path with a comma cannot be listed.
//   - Key options take "[KID=]FILE" ([ParseKeySpec]); [KeyFiles] lists the
//     files, for a reload on change.
//   - [NodeConfig] and [TokenConfig] read files (secrets, keys, the OAuth
//     clients) and may create the development secret in the data dir.
package options
