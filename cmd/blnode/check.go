package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/blnode/blnode/node"
)

// checkFailed is check's exit status when the token is blacklisted or not
// valid.
const checkFailed = exitStatus(2)

func runCheck(ctx context.Context, e *env, args []string) error {
	c, asJSON := newClientCmdline(e, "check", "TOKEN | --jti J", `
Check a token (POST /v1/check): prints "valid", "blacklisted" or
"not valid: DETAIL". TOKEN "-" reads the token from stdin. With --jti, check
only whether that token id is blacklisted (GET /v1/blacklist/J): prints
"blacklisted" or "not blacklisted".

Exit status: 0 valid (or not blacklisted); 2 blacklisted or not valid;
1 any error, such as an unreachable node.`)
	jti := c.fs.String("jti", "", "check only whether token id `JTI` is blacklisted")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == (*jti != "") || len(pos) > 1 {
		return errors.New("check: give a TOKEN or --jti (see blnode help check)")
	}
	cl, err := newClient(c.opts)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}

	if *jti != "" {
		var res struct {
			Blacklisted bool `json:"blacklisted"`
		}
		raw, err := cl.Call(ctx, http.MethodGet, "/v1/blacklist/"+url.PathEscape(*jti), nil, nil, &res)
		if err != nil {
			return err
		}
		if *asJSON {
			err = writeRaw(e, raw)
		} else if res.Blacklisted {
			_, err = fmt.Fprintln(e.stdout, "blacklisted")
		} else {
			_, err = fmt.Fprintln(e.stdout, "not blacklisted")
		}
		if err == nil && res.Blacklisted {
			err = checkFailed
		}
		return err
	}

	tok, err := tokenArg(e, pos[0])
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	var res node.CheckResult
	raw, err := cl.Call(ctx, http.MethodPost, "/v1/check", nil, map[string]string{"token": tok}, &res)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		err = writeRaw(e, raw)
	case res.Valid:
		_, err = fmt.Fprintln(e.stdout, "valid")
	case res.Blacklisted && res.Code == "user_revoked":
		_, err = fmt.Fprintln(e.stdout, "blacklisted (every token of the user issued before a revocation)")
	case res.Blacklisted:
		_, err = fmt.Fprintln(e.stdout, "blacklisted")
	default:
		_, err = fmt.Fprintf(e.stdout, "not valid: %s\n", res.Detail)
	}
	if err == nil && !res.Valid {
		err = checkFailed
	}
	return err
}
