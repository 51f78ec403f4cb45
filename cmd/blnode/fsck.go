package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/blnode/blnode/persist"
)

func runFsck(_ context.Context, e *env, args []string) error {
	c := newCmdline(e, "fsck", "[--data DIR]", `
Check a stopped node's store offline, fully: bbolt's page check, that every
record, index entry, revocation, journal entry and outbox entry decodes,
that the by_exp and by_user indexes match the records, and that the counts
and the blacklist digest kept by the writes equal those recomputed from the
records. It prints each problem and exits 1 if there is any, or prints a
one-line summary and exits 0. It only reads the file; it refuses while a
node holds the data dir.`, "config", "data")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("fsck: unexpected argument %q", pos[0])
	}
	data := c.opts.Str("data")
	rep, err := persist.Fsck(data, persist.FsckOptions{})
	switch {
	case errors.Is(err, persist.ErrLocked):
		return fmt.Errorf("fsck: %w: stop the node that runs on %s first (fsck works offline)", err, data)
	case errors.Is(err, persist.ErrDamaged) || errors.Is(err, persist.ErrMissing):
		return fmt.Errorf("fsck: %w; restore from backup or rebuild from the stream (--rebuild-store)", err)
	case err != nil:
		return fmt.Errorf("fsck: %w", err)
	}
	if rep.Problems > 0 {
		for _, p := range rep.Details {
			fmt.Fprintf(e.stdout, "problem: %s\n", p)
		}
		if more := rep.Problems - len(rep.Details); more > 0 {
			fmt.Fprintf(e.stdout, "… and %d more\n", more)
		}
		return fmt.Errorf("fsck: %w: %d problems in %s; restore from backup or rebuild from the stream (--rebuild-store)", persist.ErrDamaged, rep.Problems, rep.Path)
	}
	_, err = fmt.Fprintf(e.stdout, "%s: ok: %d blacklisted (digest %v), %d outstanding, %d user revocations, %d journaled, %d in the outbox; %s\n",
		rep.Path, rep.Blacklisted, rep.Digest, rep.Outstanding, rep.UserRevocations, rep.Journaled, rep.Outbox, humanBytes(rep.Size))
	return err
}
