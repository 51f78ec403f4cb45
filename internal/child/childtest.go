package child

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// failureLines is how many of its last lines of output StartT logs for
// each process of a failed test.
const failureLines = 400

// StartT starts the program of cfg for a test: a process that cannot start
// fails the test, and at cleanup StopT stops it and, if the test failed,
// the last 400 lines of its output are logged.
func StartT(t testing.TB, cfg Config) *Process {
	t.Helper()
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.StopT(t)
		if t.Failed() {
			t.Logf("---- output of %s (%s %s), last lines:\n%s", p.name, filepath.Base(cfg.Path), strings.Join(cfg.Args, " "), p.Tail(failureLines))
		}
	})
	return p
}

// StopT stops the process (Stop) and fails the test if it had to be
// killed. Stopping a process that has ended does nothing.
func (p *Process) StopT(t testing.TB) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Error(err)
	}
}
