package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/blnode/blnode/node/api"
)

func runRevokeSession(ctx context.Context, e *env, args []string) error {
	return runRevokeBy(ctx, e, args, revokeByCmd{name: "revoke-session", arg: "SID", key: "sid", what: "session",
		summary: `
Log session SID out everywhere: every node of the fleet rejects every token
whose "sid" claim is SID and that was issued before now (or --not-before)
(POST /v1/sessions/SID/revoke, admin).`})
}

func runRevokeClient(ctx context.Context, e *env, args []string) error {
	return runRevokeBy(ctx, e, args, revokeByCmd{name: "revoke-client", arg: "CLIENT_ID", key: "client_id", what: "client",
		summary: `
Revoke every token of OAuth client CLIENT_ID (its "client_id" claim, else
"azp") issued before now (or --not-before), on every node of the fleet
(POST /v1/clients/CLIENT_ID/revoke, admin).`})
}

func runRevokeIssuer(ctx context.Context, e *env, args []string) error {
	return runRevokeBy(ctx, e, args, revokeByCmd{name: "revoke-issuer", key: "issuer", what: "issuer",
		summary: `
Revoke every token of the issuer --issuer ("iss" claim) issued before now
(or --not-before), on every node of the fleet: after a signing key leaked
or an incident at the issuer (POST /v1/issuer/revoke, admin). Without
--issuer, the tokens of EVERY issuer (and those without "iss") issued
before then are rejected.`})
}

// revokeByCmd describes one of the session, client and issuer revocation
// commands.
type revokeByCmd struct {
	name, arg, key, what, summary string
}

func runRevokeBy(ctx context.Context, e *env, args []string, rc revokeByCmd) error {
	synopsis := rc.arg
	if synopsis == "" {
		synopsis = "[--issuer ISSUER] [--not-before TIME]"
	}
	c, asJSON := newClientCmdline(e, rc.name, synopsis, rc.summary)
	notBefore := c.fs.String("not-before", "", "revoke tokens issued before `TIME` (RFC 3339 or Unix seconds; default now)")
	var issuer *string
	if rc.arg == "" {
		issuer = c.fs.String("issuer", "", "the `ISSUER` (iss) whose tokens to revoke (default: every issuer)")
	}
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	var path string
	var req api.RevokeByRequest
	if issuer != nil {
		if len(pos) != 0 {
			return fmt.Errorf("%s: takes no argument (give --issuer)", rc.name)
		}
		path, req.Issuer = "/v1/issuer/revoke", issuer
	} else {
		if len(pos) != 1 || pos[0] == "" {
			return fmt.Errorf("%s: give exactly one %s id", rc.name, rc.what)
		}
		path = "/v1/" + map[string]string{"session": "sessions", "client": "clients"}[rc.what] + "/" + url.PathEscape(pos[0]) + "/revoke"
	}
	if *notBefore != "" {
		if req.NotBefore, err = parseNotBefore(*notBefore); err != nil {
			return fmt.Errorf("%s: --not-before: %w", rc.name, err)
		}
	}
	cl, err := newClient(c.opts)
	if err != nil {
		return fmt.Errorf("%s: %w", rc.name, err)
	}
	var res map[string]any
	raw, err := cl.Call(ctx, http.MethodPost, path, nil, req, &res)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRaw(e, raw)
	}
	nb, _ := res["not_before"].(float64)
	when := time.Unix(int64(nb), 0).UTC().Format(time.RFC3339)
	id, _ := res[rc.key].(string)
	who := fmt.Sprintf("%s %s", rc.what, id)
	if rc.what == "issuer" && id == "" {
		who = "every issuer"
	}
	if already, _ := res["already_revoked"].(bool); already {
		_, err = fmt.Fprintf(e.stdout, "%s was already revoked up to %s or later\n", who, when)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "revoked %s: tokens issued before %s are rejected\n", who, when)
	return err
}

// parseNotBefore reads a time as RFC 3339 or Unix seconds.
func parseNotBefore(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 {
			return 0, errors.New("want a positive Unix time")
		}
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither RFC 3339 nor Unix seconds", s)
	}
	if t.Unix() <= 0 {
		return 0, errors.New("want a time after 1970")
	}
	return t.Unix(), nil
}
