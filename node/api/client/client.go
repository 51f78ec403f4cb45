package client

import (
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
)

// Defaults of [Config].
const (
	DefaultTimeout   = 30 * time.Second // of one request, answer included
	DefaultUserAgent = "blnode-client"
	MaxAnswer        = 64 << 20 // bytes of an answer read at most
)

// ErrServerURL is returned by [New] for a server URL that is not an
// absolute http:// or https:// URL.
var ErrServerURL = errors.New("client: want an http:// or https:// URL")

// Config says which node a [Client] talks to. The zero value of each field
// but Server means its default.
type Config struct {
	Server     string        // the node's base URL, http:// or https://, with an optional path prefix
	AdminToken string        // bearer token sent with every request; "" sends none
	UserAgent  string        // default DefaultUserAgent
	Timeout    time.Duration // of one request; default DefaultTimeout (ignored with HTTPClient)
	HTTPClient *http.Client  // default: a new one with Timeout
}

// Client is a connection to one node. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	admin     string
	userAgent string
	http      *http.Client
}

// New returns a client of the node at cfg.Server; it sends nothing yet.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ErrServerURL
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, admin: cfg.AdminToken, userAgent: cfg.UserAgent, http: cfg.HTTPClient}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.http == nil {
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = DefaultTimeout
		}
		c.http = &http.Client{Timeout: timeout}
	}
	return c, nil
}

// Error is an error answer of the node: its HTTP status and the code and
// detail of its JSON body ("http_error" and the status text when the body
// has none).
type Error struct {
	Status int
	Code   string
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Detail, e.Status)
}

// Do sends a request to path (below the server URL's path, escaped: an id
// in it goes through url.PathEscape) with query and, unless body is nil,
// body as JSON, and returns the answer's body. An answer other than 2xx is
// an [*Error].
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	u := *c.base
	p, err := url.PathUnescape(path)
	if err != nil {
		return nil, fmt.Errorf("client: path %q: %w", path, err)
	}
	escaped := u.EscapedPath()
	u.Path, u.RawPath = u.Path+p, escaped+path
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
	req.Header.Set("User-Agent", c.userAgent)
	if c.admin != "" {
		req.Header.Set("Authorization", "Bearer "+c.admin)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		he := &Error{Status: resp.StatusCode}
		var ae struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(b, &ae) == nil && (ae.Code != "" || ae.Detail != "") {
			he.Code, he.Detail = ae.Code, ae.Detail
		}
		if he.Code == "" {
			he.Code = "http_error"
		}
		if he.Detail == "" {
			he.Detail = strings.ToLower(http.StatusText(resp.StatusCode))
		}
		return nil, he
	}
	return b, nil
}

// Call is [Client.Do] that also decodes the answer into out (unless out is
// nil); it returns the raw answer too.
func (c *Client) Call(ctx context.Context, method, path string, query url.Values, body, out any) ([]byte, error) {
	b, err := c.Do(ctx, method, path, query, body)
	if err != nil || out == nil {
		return b, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return b, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
	}
	return b, nil
}
