package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
)

func runStatus(ctx context.Context, e *env, args []string) error {
	c, asJSON := newClientCmdline(e, "status", "", `
Show the node's role, stream position, outbox depth and entry counts
(GET /v1/status, admin) as "key: value" lines.`)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("status: unexpected argument %q", pos[0])
	}
	cl, err := newClient(c.opts)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	raw, err := cl.Call(ctx, http.MethodGet, "/v1/status", nil, nil, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeRaw(e, raw)
	}
	return printObject(e, raw)
}

// printObject writes the members of a JSON object as aligned "key: value"
// lines in the node's order; strings are unquoted.
func printObject(e *env, raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("status: the answer is not a JSON object")
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 1, ' ', 0)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("status: the answer is not valid JSON: %w", err)
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("status: the answer is not valid JSON: %w", err)
		}
		text := string(v)
		var s string
		if json.Unmarshal(v, &s) == nil {
			text = s
		}
		fmt.Fprintf(tw, "%s:\t%s\n", key, strings.TrimSpace(text))
	}
	return tw.Flush()
}
