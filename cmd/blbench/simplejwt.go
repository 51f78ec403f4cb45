package main

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
)

// The original blnode re-implements: Django REST framework Simple JWT's
// verify and blacklist views with its token_blacklist app, in a minimal
// Django project (simplejwt/*.py) served by gunicorn from Debian's
// packages, with the bench's signing key and an SQLite database.

//go:embed simplejwt/*.py
var simpleJWTProject embed.FS

// simpleJWTWorkers is gunicorn's worker count: its documentation's
// (2 × cores) + 1 on this 2-core class of machine.
func simpleJWTWorkers(cores int) int { return 2*cores + 1 }

// findSimpleJWT looks for gunicorn and a Python that imports Simple JWT,
// Django and Django REST framework, and says loudly when they are missing.
func (b *bench) findSimpleJWT(ctx context.Context) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		gunicorn = "/usr/bin/gunicorn"
	}
	python := "/usr/bin/python3"
	if f, err := os.Open(gunicorn); err == nil {
		// gunicorn is a script: its interpreter is the Python that has the
		// packages it serves.
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "#!"); ok && !strings.Contains(p, " ") {
			python = p
		}
	}
	out, err := exec.CommandContext(ctx, python, "-c", `
from importlib.metadata import version
import sys
print("Simple JWT %s, Django %s, Django REST framework %s, PyJWT %s, gunicorn %s, Python %s" % (
    version("djangorestframework-simplejwt"), version("Django"), version("djangorestframework"),
    version("PyJWT"), version("gunicorn"), sys.version.split()[0]))
`).Output()
	if _, statErr := os.Stat(gunicorn); err != nil || statErr != nil {
		fmt.Fprintf(b.stderr, `
blbench: Django REST framework Simple JWT or gunicorn is MISSING (%s -c 'import …'
blbench: or %s failed). The original as a contender (verify and blacklist
blbench: over HTTP) is NOT measured. Install Debian's packages
blbench: python3-djangorestframework-simplejwt and gunicorn
blbench: (scripts/install-test-deps does).

`, python, gunicorn)
		return
	}
	b.simpleJWT = &simpleJWTEnv{python: python, gunicorn: gunicorn, version: strings.TrimSpace(string(out))}
}

// simpleJWTEnv is where the original's pieces are on this machine.
type simpleJWTEnv struct {
	python, gunicorn string
	version          string
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
	*proc
	url     string
	workers int
}

var gunicornListening = regexp.MustCompile(`Listening at: (http://127\.0\.0\.1:\d+)`)

// startSimpleJWT writes the Django project into dir, creates its SQLite
// database (migrate), and runs gunicorn with workers sync workers on a
// free loopback port; it returns once a verify answers 200.
func (b *bench) startSimpleJWT(ctx context.Context, name, dir string, workers int) (*simpleJWTProc, error) {
	if b.simpleJWT == nil {
		return nil, errors.New("Simple JWT is missing")
	}
	project := filepath.Join(dir, "project")
	if err := writeProject(project); err != nil {
		return nil, err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PYTHONPATH=" + project,
		"PYTHONDONTWRITEBYTECODE=1", "DJANGO_SETTINGS_MODULE=settings", "BLBENCH_DJANGO_DIR=" + dir, "BLBENCH_SECRET=" + benchSecret}
	migrate := exec.CommandContext(ctx, b.simpleJWT.python, "-m", "django", "migrate", "--noinput", "-v", "0")
	migrate.Env, migrate.Dir = env, dir
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: django migrate: %w\n%s", name, err, lastLines(string(out), 30))
	}
	p, stderr, err := startProc(ctx, name, b.simpleJWT.gunicorn, env, "--workers", strconv.Itoa(workers), "--worker-class", "sync",
		"--bind", "127.0.0.1:0", "--chdir", dir, "--graceful-timeout", "5", "wsgi:application")
	if err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if m := gunicornListening.FindStringSubmatch(line); m != nil && !found {
				found = true
				addr <- m[1]
			}
		}
		_, _ = io.Copy(p.logs, stderr)
		p.wait()
	}()
	b.track(p)
	sp := &simpleJWTProc{proc: p, workers: workers}
	select {
	case sp.url = <-addr:
	case <-p.exited:
		return nil, p.failed("exited before listening")
	case <-time.After(startTimeout):
		p.stop()
		return nil, p.failed("no \"Listening at\" log line within " + startTimeout.String())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	// Ready when a worker answers a verify.
	tok, _ := sjwt.Token{Type: "access", User: 1, TTL: time.Hour}.Mint([]byte(benchSecret))
	hc := newHTTPClient(1)
	defer hc.CloseIdleConnections()
	err = pollUntil(ctx, startTimeout, 20*time.Millisecond, func() error {
		select {
		case <-p.exited:
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
		p.stop()
		return nil, p.failed(err.Error())
	}
	return sp, nil
}

// writeProject copies the embedded Django project into dir.
func writeProject(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(simpleJWTProject, "simplejwt", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := simpleJWTProject.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
}

// cpu is the CPU time of gunicorn's master and its workers.
func (p *simpleJWTProc) cpu() time.Duration {
	return treeCPU(p.pid())
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
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
