package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/blnode/blnode/node/options"
)

// env is what a subcommand may touch of the outside world.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// command is one subcommand.
type command struct {
	name    string
	group   string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "Node", "run a node: HTTP API, store, flush schedule, NATS event stream", runServe},
		{"mint", "Node", "sign a token with the node's key and print it (for tests and tools)", runMint},
		{"blacklist", "Client", "blacklist a token, or (admin) a token id", runBlacklist},
		{"check", "Client", "check a token or a token id (exit 0 valid, 2 blacklisted or not valid)", runCheck},
		{"tokens", "Client", "list tokens (admin)", runTokens},
		{"revoke-user", "Client", "log a user out everywhere: reject every token issued to them until now (admin)", runRevokeUser},
		{"revoke-session", "Client", "log a session (sid) out everywhere: reject its tokens issued until now (admin)", runRevokeSession},
		{"revoke-client", "Client", "reject every token of an OAuth client issued until now (admin)", runRevokeClient},
		{"revoke-issuer", "Client", "reject every token of an issuer, or of every issuer, issued until now (admin)", runRevokeIssuer},
		{"flush", "Client", "remove expired entries now (admin)", runFlush},
		{"status", "Client", "show the node's status (admin)", runStatus},
		{"healthcheck", "Client", "exit 0 when the local node answers /healthz (the container HEALTHCHECK)", runHealthcheck},
		{"streams", "Operator", "create or update JetStream streams from JSON files: streams apply FILE...", runStreams},
		{"import", "Operator", "import tokens offline: from Simple JWT (SQLite or CSV) or a blnode export (JSON Lines)", runImport},
		{"export", "Operator", "write every token and revocation of a stopped node's store as JSON Lines", runExport},
		{"fsck", "Operator", "check a stopped node's store offline: pages, records, indexes, counts, blacklist digest", runFsck},
		{"compact", "Operator", "rewrite a stopped node's store file to reclaim the space of removed entries", runCompact},
		{"version", "Other", "print the version", runVersion},
		{"help", "Other", "print this help, or a subcommand's: blnode help SUBCOMMAND", nil},
	}
}

// run runs the subcommand named by args[0]. Signals end ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runEnv(ctx, &env{stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}, args)
}

func runEnv(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		usage(e.stderr)
		return exitStatus(1)
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			usage(e.stdout)
			return nil
		}
		c, ok := lookup(rest[0])
		if !ok || c.run == nil {
			return fmt.Errorf("help: unknown subcommand %q; run blnode help", rest[0])
		}
		// A subcommand prints its help on its own output: make it stdout.
		he := *e
		he.stderr = e.stdout
		return ignoreHelp(c.run(ctx, &he, []string{"-h"}))
	case "-version", "--version":
		name = "version"
	}
	c, ok := lookup(name)
	if !ok {
		return fmt.Errorf("unknown subcommand %q; run blnode help", name)
	}
	return ignoreHelp(c.run(ctx, e, rest))
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func ignoreHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func usage(w io.Writer) {
	fmt.Fprint(w, `blnode is a JWT blacklist node: the token_blacklist app of Simple JWT as a
daemon that many nodes run at once, kept consistent over NATS JetStream.

Usage:
  blnode SUBCOMMAND [flags] [arguments]
`)
	group := ""
	for _, c := range commands() {
		if c.group != group {
			group = c.group
			fmt.Fprintf(w, "\n%s:\n", group)
		}
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Flags of serve and mint come from the command line, the environment
(BLNODE_<FLAG>: upper case, "-" as "_", e.g. BLNODE_DATA), or the YAML file
given by --config, in that order of precedence. Client subcommands read
--server (BLNODE_SERVER) and --admin-token-file (or BLNODE_ADMIN_TOKEN).

Exit status: 0 success; 1 error (bad usage, network, an HTTP error from the
node); 2 only from check: the token is blacklisted or not valid.
`)
}

// exitStatus is an error that only sets the exit status: its message has
// been printed already.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// exitCode prints err (unless it is an exitStatus) and returns the status
// the process exits with.
func exitCode(err error, w io.Writer) int {
	var s exitStatus
	if errors.As(err, &s) {
		return int(s)
	}
	fmt.Fprintf(w, "blnode: %v\n", err)
	return 1
}

// cmdline is the command line of one subcommand: its FlagSet, with the
// table options it uses and its own flags.
type cmdline struct {
	name  string
	fs    *flag.FlagSet
	opts  *options.Set
	usage func() // the full help, on the FlagSet's output
}

// newCmdline makes the FlagSet of subcommand name with the named table
// options; the subcommand adds its own flags to fs.
func newCmdline(e *env, name, synopsis, summary string, names ...string) *cmdline {
	fs := flag.NewFlagSet("blnode "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	c := &cmdline{name: name, fs: fs, opts: options.NewSet(fs, e.getenv, names...)}
	c.usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: blnode %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(summary))
		options.PrintFlags(w, fs, c.opts)
	}
	fs.Usage = func() {} // parse prints the help for -h, and a hint after an error
	return c
}

// parse parses args, flags and arguments in any order ("--" ends the
// flags), then resolves the table options. It returns the arguments.
func (c *cmdline) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.usage()
				return nil, err
			}
			// The flag package has printed the error.
			fmt.Fprintf(c.fs.Output(), "run 'blnode help %s' for its flags\n", c.name)
			return nil, exitStatus(1)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if err := c.opts.Resolve(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	return pos, nil
}

// newLogger returns the process's logger: text or JSON on w, from level
// up (debug, info, warn or error; the options allow no other).
func newLogger(format, level string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevel(level)}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logLevel is the slog level of a --log-level value; "" (and any other)
// is info.
func logLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
