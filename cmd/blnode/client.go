package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/blnode/blnode/node/api/client"
	"github.com/blnode/blnode/node/options"
)

// Client subcommands talk to a running node over its /v1 API, with package
// node/api/client.

// newClientCmdline makes the command line of a client subcommand, with
// --server, --admin-token-file and --json.
func newClientCmdline(e *env, name, synopsis, summary string) (*cmdline, *bool) {
	c := newCmdline(e, name, synopsis, summary, options.ClientNames()...)
	return c, c.fs.Bool("json", false, "print the node's JSON answer as it is")
}

// newClient builds a client from the resolved client options. A bad
// --server is reported before a bad admin token.
func newClient(s *options.Set) (*client.Client, error) {
	raw := s.Str("server")
	cfg := client.Config{Server: raw, UserAgent: "blnode/" + version()}
	if _, err := client.New(cfg); err != nil {
		return nil, fmt.Errorf("%s %q: want an http:// or https:// URL", s.Where("server"), raw)
	}
	admin, err := s.Secret("admin-token", "admin-token-file")
	if err != nil {
		return nil, err
	}
	cfg.AdminToken = strings.TrimSpace(string(admin))
	return client.New(cfg)
}

// reasonBody is the body of an admin write that takes only a reason.
type reasonBody struct {
	Reason string `json:"reason,omitempty"`
}

// writeRaw prints a raw JSON answer, ending it with a newline.
func writeRaw(e *env, b []byte) error {
	b = bytes.TrimRight(b, "\n")
	_, err := fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// tokenArg returns the token argument; "-" reads it from stdin, so it stays
// out of the process list and the shell history.
func tokenArg(e *env, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, 1<<20)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the token from stdin: %w", err)
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", errors.New("no token on stdin")
	}
	return line, nil
}
