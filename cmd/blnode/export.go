package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/blnode/blnode/node/offline"
	"github.com/blnode/blnode/persist"
)

func runExport(ctx context.Context, e *env, args []string) error {
	c := newCmdline(e, "export", "[--data DIR] [--output FILE] > file.jsonl", `
Write every token (outstanding, with its blacklisting) and every user and
family revocation of a node's store as JSON Lines, for backups and moves
between clusters; blnode import --jsonl reads it back. The node must be
stopped (the store's lock refuses a running one). Expired entries that no
flush has removed yet are written too; import skips them.

Raw token text is written only if the store keeps it (--keep-raw-token on
the node): a file with raw refresh tokens holds live credentials.`, "config", "data")
	fs := c.fs
	output := fs.String("output", "-", "write to `FILE` instead of stdout")
	mode := fs.String("progress", progressAuto, "`MODE` of the progress display on stderr: auto (a bar on a terminal, else lines), bar, lines or none")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("export: unexpected argument %q", pos[0])
	}
	if !isProgressMode(*mode) {
		return fmt.Errorf("export: --progress %q: want one of auto, bar, lines, none", *mode)
	}
	data := c.opts.Str("data")
	store, err := offline.Open(data, true, false)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer store.Close()
	counts, err := store.Counts()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	nodeID, err := store.NodeID(func() string { return "" })
	if err != nil && !errors.Is(err, persist.ErrInvalidRecord) {
		return fmt.Errorf("export: %w", err)
	}

	var out io.Writer = e.stdout
	var file *os.File
	if *output != "-" {
		if file, err = os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer file.Close()
		out = file
	}
	total := int64(counts.Outstanding + counts.UserRevocations)
	prog := newProgress(e.stderr, *mode, "export", "records", total, nil, e.getenv)
	n, err := offline.Export(ctx, store, nodeID, out, func(n int64) { prog.update(n, n) })
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	prog.finish()
	fmt.Fprintf(e.stderr, "export: wrote %s records from %s\n", groupDigits(n), data)
	return nil
}
