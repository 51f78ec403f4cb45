package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/original"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
)

// The original blnode re-implements, as a contender: Django REST framework
// Simple JWT's verify and blacklist views (internal/original), with the
// bench's signing key.

// findSimpleJWT looks for the original and says loudly when it is missing.
func (b *bench) findSimpleJWT(ctx context.Context) {
	in, err := original.Find(ctx)
	if err != nil {
		fmt.Fprintf(b.stderr, `
blbench: Django REST framework Simple JWT or gunicorn is MISSING:
blbench: %v
blbench: The original as a contender (verify and blacklist over HTTP) is NOT
blbench: measured. Install Debian's python3-djangorestframework-simplejwt and
blbench: gunicorn (scripts/install-test-deps does).

`, err)
		return
	}
	b.simpleJWT = &in
}

func (b *bench) needsSimpleJWT(what string) bool {
	if b.simpleJWT != nil {
		return true
	}
	b.missing = append(b.missing, missingContender{What: what, Why: "Django REST framework Simple JWT or gunicorn is missing"})
	return false
}

// simpleJWTProc is a running gunicorn serving the original.
type simpleJWTProc struct {
	*child.Process
	url string
}

// startSimpleJWT prepares the original in a new dir of the run and runs
// gunicorn with its recommended number of sync workers on a free loopback
// port; it returns once a verify answers 200.
func (b *bench) startSimpleJWT(ctx context.Context, name, dirName string) (*simpleJWTProc, error) {
	if b.simpleJWT == nil {
		return nil, errors.New("Simple JWT is missing")
	}
	dir, err := b.dir(dirName)
	if err != nil {
		return nil, err
	}
	env, err := b.simpleJWT.Prepare(ctx, original.Settings{Dir: dir, Secret: benchSecret})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd := b.simpleJWT.Command(ctx, env, dir, original.RecommendedWorkers(b.env.cores))
	p, err := startProc(ctx, name, cmd.Path, cmd.Env, cmd.Args[1:]...)
	if err != nil {
		return nil, err
	}
	b.track(p)
	sp := &simpleJWTProc{Process: p}
	sp.url, err = awaitAddr(ctx, p, `"Listening at"`, original.ListeningAddr)
	if err != nil {
		return nil, err
	}
	// Ready when a worker answers a verify.
	tok, _ := sjwt.Token{Type: "access", User: 1, TTL: time.Hour}.Mint([]byte(benchSecret))
	hc := newHTTPClient(1)
	defer hc.CloseIdleConnections()
	err = poll.Until(ctx, startTimeout, 20*time.Millisecond, func() error {
		select {
		case <-p.Done():
			return errors.New("exited")
		default:
		}
		code, err := post(ctx, hc, sp.url+"/api/token/verify/", `{"token":"`+tok+`"}`, "", nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("POST /api/token/verify/: %d", code)
		}
		return err
	})
	if err != nil {
		_ = p.Stop()
		return nil, p.Failed(err.Error())
	}
	return sp, nil
}

// cpu is the CPU time of gunicorn's master and its workers.
func (p *simpleJWTProc) cpu() time.Duration {
	return treeCPU(p.Pid())
}

// treeCPU is the CPU time of pid and its child processes.
func treeCPU(pid int) time.Duration {
	st, _ := readProcStat(pid)
	total := st.cpu
	for _, c := range childPIDs(pid) {
		cs, _ := readProcStat(c)
		total += cs.cpu
	}
	return total
}

// childPIDs lists pid's children from /proc/PID/task/PID/children, or by
// scanning /proc where the kernel does not offer that file.
func childPIDs(pid int) []int {
	var out []int
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			var n int
			if _, err := fmt.Sscan(f, &n); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var n int
		if _, err := fmt.Sscan(e.Name(), &n); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == fmt.Sprint(pid) {
			out = append(out, n)
		}
	}
	return out
}
