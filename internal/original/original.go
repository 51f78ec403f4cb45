// Package original runs the program blnode re-implements — Django REST
// framework Simple JWT's verify and blacklist views with its token_blacklist
// app — from Debian's packages, in a minimal Django project (project/*.py)
// served by gunicorn: the node's tests ask it the same questions as blnode,
// and the benchmark measures it beside blnode.
//
// Find locates it; Install.Prepare writes the project into a directory and
// creates its SQLite database; Install.Command runs gunicorn on a free
// loopback port, which its log names (ListeningAddr).
//
// # Caveats
//
//   - It needs Debian's python3-djangorestframework-simplejwt (5.2.2 with
//     Django 3.2 on bookworm) and gunicorn; scripts/install-test-deps
//     installs them. Find says which is missing.
//   - Simple JWT 5.2.2 answers "Token is invalid or expired" where current
//     upstream, and blnode, answer "Token is invalid" or "Token is expired"
//     (InvalidOrExpired).
//   - SQLite in its default rollback-journal mode: durable, one writer at a
//     time.
package original

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed project/*.py
var project embed.FS

// ErrMissing is returned by Find when the original is not installed.
var ErrMissing = errors.New("original: Django REST framework Simple JWT or gunicorn is missing " +
	"(Debian's python3-djangorestframework-simplejwt and gunicorn; scripts/install-test-deps installs them)")

// Install is where the original's pieces are on this machine.
type Install struct {
	Python   string // the interpreter gunicorn runs on, with the packages
	Gunicorn string
	Version  string // "Simple JWT 5.2.2, Django 3.2.25, …"
}

// Find looks for gunicorn and for the Python it runs on importing Simple
// JWT, Django and Django REST framework.
func Find(ctx context.Context) (Install, error) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		gunicorn = "/usr/bin/gunicorn"
	}
	if _, err := os.Stat(gunicorn); err != nil {
		return Install{}, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	python := "/usr/bin/python3"
	if f, err := os.Open(gunicorn); err == nil {
		// gunicorn is a script: its interpreter has the packages it serves.
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
`).CombinedOutput()
	if err != nil {
		return Install{}, fmt.Errorf("%w: %s: %w: %s", ErrMissing, python, err, lastLine(string(out)))
	}
	return Install{Python: python, Gunicorn: gunicorn, Version: strings.TrimSpace(string(out))}, nil
}

// Settings configure one instance.
type Settings struct {
	Dir    string        // its project files and SQLite database
	Secret string        // SIMPLE_JWT SIGNING_KEY (HS256)
	Leeway time.Duration // SIMPLE_JWT LEEWAY, whole seconds
}

// Prepare writes the project into s.Dir and creates its database (Django's
// migrate). It returns the environment the instance's commands run with.
func (in Install) Prepare(ctx context.Context, s Settings) ([]string, error) {
	if s.Secret == "" {
		return nil, errors.New("original: Settings.Secret is empty")
	}
	code := filepath.Join(s.Dir, "project")
	if err := writeProject(code); err != nil {
		return nil, fmt.Errorf("original: %w", err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8",
		"PYTHONPATH=" + code, "PYTHONDONTWRITEBYTECODE=1", "DJANGO_SETTINGS_MODULE=settings",
		"BLNODE_ORIGINAL_DIR=" + s.Dir, "BLNODE_ORIGINAL_SECRET=" + s.Secret,
		"BLNODE_ORIGINAL_LEEWAY=" + strconv.Itoa(int(s.Leeway/time.Second))}
	migrate := exec.CommandContext(ctx, in.Python, "-m", "django", "migrate", "--noinput", "-v", "0")
	migrate.Env, migrate.Dir = env, s.Dir
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("original: django migrate: %w\n%s", err, out)
	}
	return env, nil
}

// Command returns gunicorn serving the prepared instance in dir on a free
// loopback port with workers sync workers (which close each connection
// after answering, as in production). Its log, on stderr, names the
// address (ListeningAddr).
func (in Install) Command(ctx context.Context, env []string, dir string, workers int) *exec.Cmd {
	cmd := exec.CommandContext(ctx, in.Gunicorn, GunicornArgs(dir, workers)...)
	cmd.Env, cmd.Dir = env, dir
	// When ctx ends, stop gunicorn as its operator would: SIGTERM makes
	// the master stop its workers (SIGKILL would orphan them).
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	return cmd
}

// GunicornArgs are the arguments Command gives gunicorn: workers sync
// workers serving wsgi:application from dir on a free loopback port. A
// project served another way (python -m gunicorn from a virtual
// environment) passes them to run under the same set-up.
func GunicornArgs(dir string, workers int) []string {
	return []string{"--workers", strconv.Itoa(max(workers, 1)), "--worker-class", "sync",
		"--bind", "127.0.0.1:0", "--chdir", dir, "--graceful-timeout", "5", "wsgi:application"}
}

// Venv copies the Python package source tree pkg into dir (pip builds in
// the tree it installs) and installs it with pip, offline, into a new
// virtual environment in dir that sees the install's packages (Django,
// Django REST framework, Simple JWT, gunicorn) through
// --system-site-packages: Debian's setuptools builds it and Debian's
// packages satisfy its dependencies. It returns the environment's python.
func (in Install) Venv(ctx context.Context, dir, pkg string) (string, error) {
	src := filepath.Join(dir, "src")
	if err := os.CopyFS(src, os.DirFS(pkg)); err != nil {
		return "", fmt.Errorf("original: copy %s: %w", pkg, err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}
	venv := filepath.Join(dir, "venv")
	py := filepath.Join(venv, "bin", "python")
	for _, args := range [][]string{
		{in.Python, "-m", "venv", "--system-site-packages", "--without-pip", venv},
		{py, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", "--no-cache-dir", "--disable-pip-version-check", src},
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env, cmd.Dir = env, dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("original: %s %s: %w\n%s", filepath.Base(args[0]), strings.Join(args[1:3], " "), err, out)
		}
	}
	return py, nil
}

// RecommendedWorkers is gunicorn's documented worker count for a machine
// with cores cores: (2 × cores) + 1.
func RecommendedWorkers(cores int) int { return 2*cores + 1 }

var listening = regexp.MustCompile(`Listening at: (http://127\.0\.0\.1:\d+)`)

// ListeningAddr returns the base URL in gunicorn's "Listening at" log line,
// or "" when line is another.
func ListeningAddr(line string) string {
	if m := listening.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// InvalidOrExpired is the body Simple JWT 5.2.2 answers where current
// upstream, and blnode, answer "Token is invalid" or "Token is expired":
// one message for both.
const InvalidOrExpired = `{"detail":"Token is invalid or expired","code":"token_not_valid"}`

func writeProject(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(project, "project", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := project.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
