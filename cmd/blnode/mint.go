package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/blnode/blnode/node/options"
	"github.com/blnode/blnode/node/token"
)

// mintTypes are the token types mint signs.
func mintTypes() []string { return []string{"refresh", "access", "sliding"} }

func runMint(_ context.Context, e *env, args []string) error {
	c := newCmdline(e, "mint", "--type refresh|access|sliding --user ID [flags]", `
Sign a token as Simple JWT does, with the key serve uses (the same --config,
--data and key flags; the development secret in DATA when no key is
configured), and print only the token on stdout.

A --claim value is JSON when it parses as JSON (5, true, ["a"], "x") and a
string otherwise. With --audience or --issuer configured the token carries
them, unless --claim sets aud or iss.`, options.KeyNames()...)
	fs := c.fs
	typ := fs.String("type", "", "token `TYPE`: refresh, access or sliding (required)")
	user := fs.String("user", "", "user `ID` (required); a decimal integer is written as a JSON number")
	ttl := fs.Duration("ttl", 0, "lifetime, a `DURATION` (default 24h for refresh, 5m otherwise); negative mints an expired token")
	noJTI := fs.Bool("no-jti", false, "leave the jti claim out")
	noExp := fs.Bool("no-exp", false, "leave the exp claim out")
	noType := fs.Bool("no-type", false, "leave the token type claim out")
	extra := map[string]any{}
	fs.Func("claim", "extra claim `k=v` (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("want k=v")
		}
		extra[k] = claimValue(v)
		return nil
	})
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fmt.Errorf("mint: unexpected argument %q", pos[0])
	case !slices.Contains(mintTypes(), *typ):
		return fmt.Errorf("mint: --type %q: want one of %s", *typ, strings.Join(mintTypes(), ", "))
	case *user == "":
		return errors.New("mint: --user is required")
	}
	log := newLogger(c.opts.Str("log-format"), c.opts.Str("log-level"), e.stderr)
	tc, err := options.TokenConfig(c.opts, log)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	v, err := token.New(tc)
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	if aud := c.opts.Str("audience"); aud != "" {
		if _, ok := extra["aud"]; !ok {
			extra["aud"] = aud
		}
	}
	if iss := c.opts.Str("issuer"); iss != "" {
		if _, ok := extra["iss"]; !ok {
			extra["iss"] = iss
		}
	}
	tok, _, err := v.Mint(token.MintOptions{Type: *typ, User: *user, TTL: *ttl, NoJTI: *noJTI, NoExp: *noExp, NoType: *noType, Extra: extra})
	if errors.Is(err, token.ErrCannotMint) {
		return errors.New("mint: no signing key: give --private-key-file, --hs-secret-file or BLNODE_HS_SECRET (public keys only verify)")
	}
	if err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	_, err = fmt.Fprintln(e.stdout, tok)
	return err
}

// claimValue is v as JSON when it parses as JSON, else v as a string.
func claimValue(v string) any {
	var x any
	if json.Valid([]byte(v)) && json.Unmarshal([]byte(v), &x) == nil {
		return json.RawMessage(v)
	}
	return v
}
