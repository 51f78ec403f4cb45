// Package child runs the programs that tests and the benchmark harness
// start as separate processes — the built blnode binary, nats-server,
// redis-server, the original's gunicorn — the one way: the output of both
// streams kept line by line (and its JSON log records, for Record), a wait
// for a line of it (AwaitLine), a stop by SIGTERM that becomes a SIGKILL
// after a deadline (Stop), and a crash by SIGKILL (Kill).
//
// The core (Start and the methods of Process) returns errors and needs no
// test, for cmd/blbench; StartT and StopT are the testing.TB layer.
//
// # Caveats
//
//   - Output is kept in memory: every line unless Config.KeepLines bounds it
//     to the last ones; Record and AwaitLine see only the lines kept.
//   - Stdout and stderr go to one log, split into lines separately: a line
//     is never torn, but the two streams' order is the order their lines
//     were read, not written.
//   - Done is closed when the process has exited and its output has been
//     read: a grandchild that keeps the output open delays it by at most
//     Config.StopTimeout (exec.Cmd.WaitDelay).
//   - When Start's context ends the process is sent SIGTERM, and SIGKILL
//     StopTimeout later; StartT starts processes with no context.
package child

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is the time from SIGTERM to SIGKILL when
// Config.StopTimeout is zero.
const DefaultStopTimeout = 20 * time.Second

// Config says what to run; zero fields mean the defaults beside them.
type Config struct {
	Name string   // names the process in errors; the binary's base name when empty
	Path string   // the program
	Args []string // its arguments, without the program's name
	// Env is the process's whole environment, as exec.Cmd.Env: nil
	// inherits this process's.
	Env []string
	Dir string // its working directory; this process's when empty
	// KeepLines bounds the output kept to its last lines; 0 keeps every
	// line.
	KeepLines int
	// StopTimeout is how long Stop waits after SIGTERM before it sends
	// SIGKILL, and how long Kill waits for the process to die;
	// DefaultStopTimeout when zero.
	StopTimeout time.Duration
}

// Process is a running (or ended) child process. Its methods are safe for
// concurrent use.
type Process struct {
	name        string
	cmd         *exec.Cmd
	stopTimeout time.Duration
	done        chan struct{} // closed when Wait has returned
	err         error         // Wait's error, once done is closed

	mu      sync.Mutex
	keep    int
	lines   []string         // the kept lines of output
	dropped int              // lines dropped from the front of lines
	recs    []map[string]any // JSON records of the lines before parsed
	parsed  int              // index (counting dropped lines) of the next line to parse into recs
	changed chan struct{}    // closed and replaced when a line comes or the process ends
}

// Start starts the program of cfg. When ctx ends the process is sent
// SIGTERM, and SIGKILL StopTimeout later.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	name := cfg.Name
	if name == "" {
		name = filepath.Base(cfg.Path)
	}
	stopTimeout := cfg.StopTimeout
	if stopTimeout <= 0 {
		stopTimeout = DefaultStopTimeout
	}
	cmd := exec.CommandContext(ctx, cfg.Path, cfg.Args...)
	cmd.Env, cmd.Dir = cfg.Env, cfg.Dir
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	p := &Process{name: name, cmd: cmd, stopTimeout: stopTimeout, keep: cfg.KeepLines,
		done: make(chan struct{}), changed: make(chan struct{})}
	stdout, stderr := &lineWriter{p: p}, &lineWriter{p: p}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		stdout.flush()
		stderr.flush()
		p.mu.Lock()
		p.err = err
		close(p.done)
		p.notifyLocked()
		p.mu.Unlock()
	}()
	return p, nil
}

// lineWriter splits one output stream of a process into lines.
type lineWriter struct {
	p    *Process
	part []byte // an unfinished line
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.part = append(w.part, b...)
	i := bytes.LastIndexByte(w.part, '\n')
	if i < 0 {
		return len(b), nil
	}
	w.p.add(strings.Split(string(w.part[:i]), "\n"))
	w.part = append(w.part[:0], w.part[i+1:]...)
	return len(b), nil
}

// flush adds the unfinished last line, once the stream has ended.
func (w *lineWriter) flush() {
	if len(w.part) > 0 {
		w.p.add([]string{string(w.part)})
		w.part = nil
	}
}

func (p *Process) add(lines []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, lines...)
	if p.keep > 0 && len(p.lines) > 2*p.keep { // trim rarely: the copy is amortised over keep lines
		n := len(p.lines) - p.keep
		p.lines = append(p.lines[:0], p.lines[n:]...)
		p.dropped += n
	}
	p.notifyLocked()
}

func (p *Process) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// keptLocked is the kept lines, the last keep of them when bounded.
func (p *Process) keptLocked() []string {
	if p.keep > 0 && len(p.lines) > p.keep {
		return p.lines[len(p.lines)-p.keep:]
	}
	return p.lines
}

// Name is the process's name, as Config.Name.
func (p *Process) Name() string { return p.name }

// CommandLine is the program and its arguments.
func (p *Process) CommandLine() []string { return p.cmd.Args }

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and its output has been read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether Done is closed.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended, as exec.Cmd.Wait says it (nil for exit
// status 0); nil while it runs.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Output is the output kept, every line ending in a newline.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.keptLocked() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Tail is the last n lines of output, joined by newlines.
func (p *Process) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.keptLocked()
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// Record returns the first JSON log record (a line that is a JSON object)
// whose "msg" is msg, or nil.
func (p *Process) Record(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.parsed = max(p.parsed, p.dropped); p.parsed < p.dropped+len(p.lines); p.parsed++ {
		line := p.lines[p.parsed-p.dropped]
		var rec map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &rec) == nil {
			p.recs = append(p.recs, rec)
		}
	}
	for _, r := range p.recs {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// AwaitLine returns the first result of find that is not "", over the
// lines of output in order, waiting for more until timeout passes, ctx
// ends or the process exits (each an error, which does not name the
// process: Failed does).
func (p *Process) AwaitLine(ctx context.Context, timeout time.Duration, find func(line string) string) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	next := 0 // index, counting dropped lines, of the next line to look at
	for {
		p.mu.Lock()
		next = max(next, p.dropped)
		lines := slices.Clone(p.lines[next-p.dropped:]) // add may reuse the array once the lock is released
		next += len(lines)
		changed := p.changed
		p.mu.Unlock()
		for _, l := range lines {
			if s := find(l); s != "" {
				return s, nil
			}
		}
		if p.Exited() {
			return "", fmt.Errorf("exited (%v) before such a line", p.Err())
		}
		select {
		case <-changed:
		case <-timer.C:
			return "", fmt.Errorf("no such line within %v", timeout)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits for the process to end; one still running
// after StopTimeout is killed with SIGKILL, and Stop then returns an error
// saying so. Stopping a process that has ended (or a nil one) does
// nothing. How the process ended is Err's.
func (p *Process) Stop() error {
	if p == nil || p.Exited() {
		return nil
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(p.stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not stop within %v of SIGTERM; killed it", p.name, p.stopTimeout)
}

// Kill ends the process with SIGKILL, as a crash or an OOM kill would, and
// waits for it. It returns an error unless the process died of that
// signal: one that had already ended, or that outlives StopTimeout, is an
// error.
func (p *Process) Kill() error {
	if p.Exited() {
		return fmt.Errorf("%s had already exited (%v)", p.name, p.Err())
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(p.stopTimeout):
		return fmt.Errorf("%s did not die within %v of SIGKILL", p.name, p.stopTimeout)
	}
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		return fmt.Errorf("%s after SIGKILL: %v, want death by signal", p.name, p.err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("%s after SIGKILL: %v, want death by SIGKILL", p.name, p.err)
	}
	return nil
}

// Failed is an error about the process: its name, what went wrong and the
// last lines of its output.
func (p *Process) Failed(what string) error {
	return fmt.Errorf("%s: %s; its log ends with:\n%s", p.name, what, p.Tail(30))
}
