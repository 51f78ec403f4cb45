package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

func runRevokeUser(ctx context.Context, e *env, args []string) error {
	c, asJSON := newClientCmdline(e, "revoke-user", "USER", `
Log USER out everywhere: every node of the fleet rejects every token issued
to USER before now (POST /v1/users/USER/revoke, admin). Tokens issued
afterwards are accepted. --reason is kept with the admin's name in the
fleet's audit log.`)
	reason := c.fs.String("reason", "", "why (a `REASON` kept in the fleet's audit log)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("revoke-user: give exactly one user id")
	}
	cl, err := newClient(c.opts)
	if err != nil {
		return fmt.Errorf("revoke-user: %w", err)
	}
	var res struct {
		User      string `json:"user"`
		NotBefore int64  `json:"not_before"`
		Already   bool   `json:"already_revoked"`
	}
	raw, err := cl.Call(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(pos[0])+"/revoke", nil, reasonBody{*reason}, &res)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRaw(e, raw)
	}
	when := time.Unix(res.NotBefore, 0).UTC().Format(time.RFC3339)
	if res.Already {
		_, err = fmt.Fprintf(e.stdout, "user %s was already revoked up to %s or later\n", res.User, when)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "revoked user %s: tokens issued before %s are rejected\n", res.User, when)
	return err
}
