package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/blnode/blnode/persist"
)

func runCompact(_ context.Context, e *env, args []string) error {
	c := newCmdline(e, "compact", "[--data DIR]", `
Rewrite the node's bbolt file offline to give back the space of removed
entries: bbolt never shrinks its file, so after a large flush it keeps its
size. The node must be stopped; compact refuses while one holds the data
dir. It copies the store into DIR/blnode.db.compact, checks the copy, and
renames it over the old file, then reports the sizes before and after.`, "config", "data")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("compact: unexpected argument %q", pos[0])
	}
	data := c.opts.Str("data")
	res, err := persist.Compact(data, persist.CompactOptions{})
	if errors.Is(err, persist.ErrLocked) {
		return fmt.Errorf("compact: %w: stop the node that runs on %s first (compact works offline)", err, data)
	}
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	saved := res.Before - res.After
	pct := 0.0
	if res.Before > 0 {
		pct = 100 * float64(saved) / float64(res.Before)
	}
	_, err = fmt.Fprintf(e.stdout, "compacted %s: %s → %s (%s smaller, %.0f%%)\n", res.Path,
		humanBytes(res.Before), humanBytes(res.After), humanBytes(max(saved, 0)), pct)
	return err
}
