package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/blnode/blnode/node/options"
	"github.com/blnode/blnode/node/token"
)

// keyReloader reloads serve's key files: on SIGHUP, and when --key-poll is
// set, when one of their modification times or sizes changes. It reads
// serve's options again (the command line, the environment, and the
// config file, which may name other files now) and hands the keys to the
// verifier; the other options keep the values serve started with. A key
// that is gone keeps verifying for --key-grace. A reload that fails (a
// missing or bad file) is logged and changes nothing.
type keyReloader struct {
	e     *env
	args  []string
	v     *token.Verifier
	log   *slog.Logger
	seen  map[string]fileStamp // key file -> what it was at the last reload
	files []string
}

// fileStamp is what the poll compares.
type fileStamp struct {
	mod  time.Time
	size int64
	err  bool
}

func newKeyReloader(e *env, args []string, v *token.Verifier, log *slog.Logger, files []string) *keyReloader {
	r := &keyReloader{e: e, args: args, v: v, log: log.With("component", "keys"), files: files}
	r.seen = r.stamps()
	return r
}

// run reloads on each value of hup, and every poll (0: never) when the
// key files changed, until ctx ends.
func (r *keyReloader) run(ctx context.Context, hup <-chan os.Signal, poll time.Duration) {
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload("SIGHUP")
		case <-tick:
			if now := r.stamps(); !sameStamps(now, r.seen) {
				r.reload("key file changed")
			}
		}
	}
}

// reload reads the key options and files again and gives them to the
// verifier.
func (r *keyReloader) reload(trigger string) {
	if err := r.reloadErr(trigger); err != nil {
		r.log.Error("key reload failed; the keys in use stay", "trigger", trigger, "err", err)
	}
}

func (r *keyReloader) reloadErr(trigger string) error {
	stamps := r.stamps() // before reading: a change during the read is seen next time
	c := newCmdline(r.e, "serve", "", "", options.ServeNames()...)
	c.fs.SetOutput(io.Discard)
	if _, err := c.parse(r.args); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	tc, err := options.TokenConfig(c.opts, r.log)
	if err != nil {
		return err
	}
	r.seen = stamps
	if err := r.v.Reload(tc); err != nil {
		return err
	}
	if files := options.KeyFiles(c.opts); !sameFiles(files, r.files) {
		r.files = files
		r.seen = r.stamps()
	}
	r.log.Info("key files reloaded", "trigger", trigger, "files", len(r.files))
	return nil
}

func (r *keyReloader) stamps() map[string]fileStamp {
	out := make(map[string]fileStamp, len(r.files))
	for _, f := range r.files {
		fi, err := os.Stat(f)
		if err != nil {
			out[f] = fileStamp{err: true}
			continue
		}
		out[f] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out
}

func sameStamps(a, b map[string]fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.mod.Equal(w.mod) || v.size != w.size || v.err != w.err {
			return false
		}
	}
	return true
}

func sameFiles(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
