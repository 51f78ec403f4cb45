package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

func runFlush(ctx context.Context, e *env, args []string) error {
	c, asJSON := newClientCmdline(e, "flush", "", `
Remove expired outstanding and blacklisted entries now, on this node and
(through a flush event) on every node of the fleet: Simple JWT's
flushexpiredtokens (POST /v1/flush, admin). --reason is kept with the
admin's name in the fleet's audit log.`)
	reason := c.fs.String("reason", "", "why (a `REASON` kept in the fleet's audit log)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("flush: unexpected argument %q", pos[0])
	}
	cl, err := newClient(c.opts)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	var res struct {
		Cutoff  time.Time `json:"cutoff"`
		Removed struct {
			Outstanding     int `json:"outstanding"`
			Blacklisted     int `json:"blacklisted"`
			UserRevocations int `json:"user_revocations"`
		} `json:"removed"`
	}
	raw, err := cl.Call(ctx, http.MethodPost, "/v1/flush", nil, reasonBody{*reason}, &res)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRaw(e, raw)
	}
	r := res.Removed
	_, err = fmt.Fprintf(e.stdout, "removed %d outstanding, %d blacklisted, %d user revocations (expired before %s)\n",
		r.Outstanding, r.Blacklisted, r.UserRevocations, res.Cutoff.UTC().Format(time.RFC3339))
	return err
}
