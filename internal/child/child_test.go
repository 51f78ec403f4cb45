//go:build unix

package child

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// sh starts a shell script as a child process.
func sh(t *testing.T, script string, cfg Config) *Process {
	t.Helper()
	cfg.Path, cfg.Args = "/bin/sh", []string{"-c", script}
	if cfg.Name == "" {
		cfg.Name = "script"
	}
	return StartT(t, cfg)
}

// The output of both streams is kept line by line, an unfinished last line
// included, and JSON lines are found by Record.
func TestOutputAndRecords(t *testing.T) {
	p := sh(t, `echo '{"msg":"listening","url":"http://x"}' >&2; echo plain; echo '{"msg":"stopped"}'; printf 'no newline'`, Config{})
	<-p.Done()
	if err := p.Err(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	out := p.Output()
	for _, want := range []string{`{"msg":"listening","url":"http://x"}` + "\n", "plain\n", `{"msg":"stopped"}` + "\n", "no newline\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if r := p.Record("listening"); r == nil || r["url"] != "http://x" {
		t.Errorf("Record(listening) = %v", r)
	}
	if r := p.Record("stopped"); r == nil {
		t.Error("Record(stopped) = nil")
	}
	if r := p.Record("plain"); r != nil {
		t.Errorf("Record(plain) = %v, want nil", r)
	}
}

// KeepLines bounds the output to its last lines.
func TestKeepLines(t *testing.T) {
	p := sh(t, `i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done`, Config{KeepLines: 10})
	<-p.Done()
	if got := strings.Count(p.Output(), "\n"); got != 10 {
		t.Errorf("%d lines kept, want 10:\n%s", got, p.Output())
	}
	if got, want := p.Tail(2), "line 98\nline 99"; got != want {
		t.Errorf("Tail(2) = %q, want %q", got, want)
	}
	if err := p.Failed("broke"); !strings.Contains(err.Error(), "script: broke; its log ends with:\n") || !strings.HasSuffix(err.Error(), "line 99") {
		t.Errorf("Failed: %v", err)
	}
}

func TestAwaitLine(t *testing.T) {
	find := func(line string) string {
		if v, ok := strings.CutPrefix(line, "addr "); ok {
			return v
		}
		return ""
	}
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		want    string
		wantErr string
	}{
		{name: "found", script: `echo starting; echo addr 127.0.0.1:1 >&2; exec sleep 60`, timeout: time.Minute, want: "127.0.0.1:1"},
		{name: "exited first", script: `echo starting; exit 3`, timeout: time.Minute, wantErr: "exited (exit status 3) before such a line"},
		{name: "timeout", script: `exec sleep 60`, timeout: 50 * time.Millisecond, wantErr: "no such line within 50ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := sh(t, tc.script, Config{StopTimeout: 5 * time.Second})
			got, err := p.AwaitLine(context.Background(), tc.timeout, find)
			if got != tc.want || fmt.Sprint(err) != fmt.Sprint(errOrNil(tc.wantErr)) {
				t.Errorf("AwaitLine = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// ready finds a script's "ready" line.
func ready(line string) string {
	if line == "ready" {
		return line
	}
	return ""
}

func errOrNil(s string) error {
	if s == "" {
		return nil
	}
	return fmt.Errorf("%s", s)
}

// Stop ends a process that obeys SIGTERM, kills one that does not, and
// does nothing to one that has ended.
func TestStop(t *testing.T) {
	obeys := sh(t, `trap 'kill $!; echo stopped; exit 0' TERM; sleep 60 >/dev/null 2>&1 & echo ready; wait`, Config{})
	if _, err := obeys.AwaitLine(context.Background(), time.Minute, ready); err != nil {
		t.Fatal(err)
	}
	if err := obeys.Stop(); err != nil || obeys.Err() != nil || !strings.Contains(obeys.Output(), "stopped\n") {
		t.Errorf("Stop: %v, exit %v, output %q; want a clean exit after SIGTERM", err, obeys.Err(), obeys.Output())
	}
	if err := obeys.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	ignores := sh(t, `trap '' TERM; echo ready; exec sleep 60`, Config{StopTimeout: 100 * time.Millisecond})
	if _, err := ignores.AwaitLine(context.Background(), time.Minute, ready); err != nil {
		t.Fatal(err)
	}
	if err := ignores.Stop(); err == nil || !strings.Contains(err.Error(), "did not stop within 100ms of SIGTERM; killed it") {
		t.Errorf("Stop of a process that ignores SIGTERM: %v", err)
	}
	if !ignores.Exited() {
		t.Error("the process still runs after Stop")
	}
}

// Kill ends a process by SIGKILL and says so; a process that has ended
// cannot be killed.
func TestKill(t *testing.T) {
	p := sh(t, `exec sleep 60`, Config{})
	if err := p.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := p.Kill(); err == nil || !strings.Contains(err.Error(), "had already exited (signal: killed)") {
		t.Errorf("second Kill: %v, want an error", err)
	}
}

// A process started with a context is stopped with SIGTERM when it ends.
func TestStartContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, Config{Path: "/bin/sh", Args: []string{"-c", `trap 'kill $!; echo terminated; exit 0' TERM; echo ready; sleep 60 >/dev/null 2>&1 & wait`}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	if p.Name() != "sh" {
		t.Errorf("Name() = %q, want the binary's base name", p.Name())
	}
	if _, err := p.AwaitLine(context.Background(), time.Minute, ready); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-p.Done():
	case <-time.After(time.Minute):
		t.Fatal("the process still runs a minute after its context ended")
	}
	if !strings.Contains(p.Output(), "terminated\n") {
		t.Errorf("output %q: not stopped by SIGTERM", p.Output())
	}
}
