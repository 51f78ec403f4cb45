package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blnode/blnode/node/options"
)

// Client subcommands talk to a running node over its /v1 API.

const (
	clientTimeout = 30 * time.Second
	maxAnswer     = 64 << 20 // bytes of an answer read at most
)

// client is a connection to one node.
type client struct {
	base  *url.URL
	admin string
	http  *http.Client
}

// newClientCmdline makes the command line of a client subcommand, with
// --server, --admin-token-file and --json.
func newClientCmdline(e *env, name, synopsis, summary string) (*cmdline, *bool) {
	c := newCmdline(e, name, synopsis, summary, options.ClientNames()...)
	return c, c.fs.Bool("json", false, "print the node's JSON answer as it is")
}

// newClient builds a client from the resolved client options.
func newClient(s *options.Set) (*client, error) {
	raw := s.Str("server")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http:// or https:// URL", s.Where("server"), raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	admin, err := s.Secret("admin-token", "admin-token-file")
	if err != nil {
		return nil, err
	}
	return &client{base: u, admin: strings.TrimSpace(string(admin)), http: &http.Client{Timeout: clientTimeout}}, nil
}

// httpError is an error answer of the node.
type httpError struct {
	status int
	code   string
	detail string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.code, e.detail, e.status)
}

// do sends a request with body (nil: none) as JSON and returns the answer's
// body; an answer other than 2xx is an *httpError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "blnode/"+version())
	if c.admin != "" {
		req.Header.Set("Authorization", "Bearer "+c.admin)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		he := &httpError{status: resp.StatusCode}
		var ae struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(b, &ae) == nil && (ae.Code != "" || ae.Detail != "") {
			he.code, he.detail = ae.Code, ae.Detail
		}
		if he.code == "" {
			he.code = "http_error"
		}
		if he.detail == "" {
			he.detail = strings.ToLower(http.StatusText(resp.StatusCode))
		}
		return nil, he
	}
	return b, nil
}

// call sends a request, decodes the answer into out (unless out is nil)
// and returns the raw answer too.
func (c *client) call(ctx context.Context, method, path string, query url.Values, body, out any) ([]byte, error) {
	b, err := c.do(ctx, method, path, query, body)
	if err != nil || out == nil {
		return b, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return b, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
	}
	return b, nil
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
