package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blnode/blnode/node"
)

func runTokens(ctx context.Context, e *env, args []string) error {
	c, asJSON := newClientCmdline(e, "tokens", "[--user U] [--jti J] [--blacklisted true|false] [--expired true|false] [--limit N] [--all]", `
List the tokens the node knows, outstanding and blacklisted (GET /v1/tokens,
admin), ordered by token id, as a table or (--json) as the node answers.
Without --all one page is printed and the cursor of the next goes to stderr.`)
	fs := c.fs
	user := fs.String("user", "", "only the tokens of user `ID`")
	jti := fs.String("jti", "", "only the token `JTI`")
	blacklisted := fs.String("blacklisted", "", "only blacklisted (true) or only not blacklisted (false) tokens (`BOOL`)")
	expired := fs.String("expired", "", "only expired (true) or only unexpired (false) tokens (`BOOL`)")
	limit := fs.Int("limit", 0, "`N` tokens per page, 1 to 1000 (default 100)")
	cursor := fs.String("cursor", "", "start at `CURSOR` (the next_cursor of a previous page)")
	all := fs.Bool("all", false, "follow the cursor to the end")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("tokens: unexpected argument %q", pos[0])
	}
	q := url.Values{}
	for name, v := range map[string]*string{"blacklisted": blacklisted, "expired": expired} {
		if *v == "" {
			continue
		}
		b, err := strconv.ParseBool(*v)
		if err != nil {
			return fmt.Errorf("tokens: --%s %q: want true or false", name, *v)
		}
		q.Set(name, strconv.FormatBool(b))
	}
	if *user != "" {
		q.Set("user", *user)
	}
	if *jti != "" {
		q.Set("jti", *jti)
	}
	if *limit != 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	cl, err := newClient(c.opts)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}

	type page struct {
		Tokens []json.RawMessage `json:"tokens"`
		Next   string            `json:"next_cursor"`
	}
	var (
		tokens []json.RawMessage
		next   = *cursor
		seen   = map[string]bool{}
	)
	for {
		if next != "" {
			q.Set("cursor", next)
		}
		var p page
		raw, err := cl.Call(ctx, http.MethodGet, "/v1/tokens", q, nil, &p)
		if err != nil {
			return err
		}
		if !*all {
			if *asJSON {
				return writeRaw(e, raw)
			}
			tokens, next = p.Tokens, p.Next
			break
		}
		tokens, next = append(tokens, p.Tokens...), p.Next
		if next == "" {
			break
		}
		if seen[next] {
			return fmt.Errorf("tokens: the node answered cursor %q twice", next)
		}
		seen[next] = true
	}
	if *asJSON {
		b, err := json.Marshal(page{Tokens: append([]json.RawMessage{}, tokens...)})
		if err != nil {
			return err
		}
		return writeRaw(e, b)
	}
	recs := make([]node.RecordJSON, len(tokens))
	for i, t := range tokens {
		if err := json.Unmarshal(t, &recs[i]); err != nil {
			return fmt.Errorf("tokens: the answer is not the JSON expected: %w", err)
		}
	}
	if err := printTokens(e, recs, time.Now()); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(e.stderr, "more tokens: run again with --all, or with --cursor %s\n", next)
	}
	return nil
}

// printTokens writes records as an aligned table.
func printTokens(e *env, recs []node.RecordJSON, now time.Time) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JTI\tUSER\tTYPE\tCREATED\tEXPIRES\tSTATUS")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range recs {
		var status []string
		if r.Blacklisted {
			status = append(status, "blacklisted")
		} else {
			status = append(status, "outstanding")
		}
		if r.ExpiresAt <= now.Unix() {
			status = append(status, "expired")
		}
		created := "-"
		if !r.CreatedAt.IsZero() {
			created = r.CreatedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.JTI, dash(r.User), dash(r.TokenType), created,
			time.Unix(r.ExpiresAt, 0).UTC().Format(time.RFC3339), strings.Join(status, ","))
	}
	if err := tw.Flush(); err != nil {
		return errors.Join(errors.New("tokens: writing the table"), err)
	}
	return nil
}
