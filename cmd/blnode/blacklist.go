package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/blnode/blnode/node"
)

func runBlacklist(ctx context.Context, e *env, args []string) error {
	c, asJSON := newClientCmdline(e, "blacklist", "TOKEN [--reason R] | --jti J --exp UNIX|RFC3339 [--user U] [--type T] [--reason R]", `
Blacklist a token (POST /v1/blacklist): the node verifies it first. TOKEN
"-" reads the token from stdin. With --jti and --exp instead, blacklist a
token id the node may never have seen; that form needs the admin token.`)
	fs := c.fs
	reason := fs.String("reason", "", "why (a `REASON` kept with the entry)")
	jti := fs.String("jti", "", "token id (`JTI`) to blacklist (admin)")
	exp := fs.String("exp", "", "with --jti: the token's expiry, `UNIX|RFC3339`")
	user := fs.String("user", "", "with --jti: the token's user `ID`")
	typ := fs.String("type", "", "with --jti: the token's `TYPE`")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	req := node.BlacklistRequest{Reason: *reason}
	switch {
	case len(pos) == 1 && *jti == "":
		if *exp != "" || *user != "" || *typ != "" {
			return errors.New("blacklist: --exp, --user and --type go with --jti, not with a TOKEN")
		}
		tok, err := tokenArg(e, pos[0])
		if err != nil {
			return fmt.Errorf("blacklist: %w", err)
		}
		req.Token = &tok
	case len(pos) == 0 && *jti != "":
		if *exp == "" {
			return errors.New("blacklist: --jti needs --exp")
		}
		if req.Exp, err = parseTime(*exp); err != nil {
			return fmt.Errorf("blacklist: --exp %q: %w", *exp, err)
		}
		req.JTI, req.User, req.TokenType = *jti, *user, *typ
	default:
		return errors.New("blacklist: give a TOKEN, or --jti and --exp (see blnode help blacklist)")
	}
	cl, err := newClient(c.opts)
	if err != nil {
		return fmt.Errorf("blacklist: %w", err)
	}
	var res struct {
		Already bool            `json:"already_blacklisted"`
		Record  node.RecordJSON `json:"record"`
	}
	raw, err := cl.Call(ctx, http.MethodPost, "/v1/blacklist", nil, req, &res)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRaw(e, raw)
	}
	if res.Already {
		_, err = fmt.Fprintf(e.stdout, "already blacklisted %s\n", res.Record.JTI)
	} else {
		_, err = fmt.Fprintf(e.stdout, "blacklisted %s\n", res.Record.JTI)
	}
	return err
}

// parseTime reads Unix seconds or an RFC 3339 time as Unix seconds.
func parseTime(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, errors.New("want a positive Unix time")
		}
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, errors.New("want Unix seconds or an RFC 3339 time such as 2030-01-02T15:04:05Z")
	}
	if t.Unix() <= 0 {
		return 0, errors.New("want a time after 1970")
	}
	return t.Unix(), nil
}
