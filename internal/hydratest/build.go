//go:build unix

package hydratest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BinaryEnv names a Hydra binary to use instead of building one: a
// developer with Hydra installed saves the first build.
const BinaryEnv = "BLNODE_HYDRA_BIN"

// buildTags build Hydra with SQLite (cgo, mattn/go-sqlite3), which its
// in-memory DSN needs: without them "hydra serve" refuses DSN=memory.
const buildTags = "sqlite,json1"

// buildTimeout bounds the build: the first one downloads Hydra's modules
// and compiles SQLite.
const buildTimeout = 15 * time.Minute

// Binary returns the path of a Hydra binary, built from the nested module
// in internal/hydratest/tool (which pins github.com/ory/hydra/v2 as a Go
// tool) into the user's cache dir, under a name keyed by that module's
// go.mod and go.sum and the Go version: the first test to need it builds
// it (holding a lock, so that test packages run in parallel build it
// once), later ones and later runs reuse it. A test that cannot build it
// fails: it is never skipped. BinaryEnv overrides it.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(BinaryEnv); bin != "" {
		return bin
	}
	bin, took, err := build()
	if err != nil {
		t.Fatalf("hydratest: build Hydra: %v", err)
	}
	if took > 0 {
		t.Logf("hydratest: built Hydra in %v: %s", took.Round(time.Second), bin)
	}
	return bin
}

// build builds the binary unless it is in the cache, and reports how long
// the build took (0 for a cached one).
func build() (string, time.Duration, error) {
	dir, err := toolDir()
	if err != nil {
		return "", 0, err
	}
	key, err := cacheKey(dir)
	if err != nil {
		return "", 0, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "blnode-hydratest")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", 0, err
	}
	bin := filepath.Join(cache, "hydra-"+key)
	unlock, err := lock(bin + ".lock")
	if err != nil {
		return "", 0, err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, 0, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", 0, fmt.Errorf("no go tool in PATH: %w", err)
	}
	began := time.Now()
	tmp := bin + ".tmp"
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-C", dir, "-tags", buildTags, "-o", tmp, "github.com/ory/hydra/v2")
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=1")
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("go build -C %s -tags %s github.com/ory/hydra/v2 (needs cgo and a C compiler for SQLite): %w\n%s",
			dir, buildTags, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", 0, err
	}
	return bin, time.Since(began), nil
}

// toolDir is internal/hydratest/tool of the main module, found through the
// go.mod of the working directory (a test runs in its package's dir).
func toolDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the blnode module")
	}
	dir := filepath.Join(filepath.Dir(gomod), "internal", "hydratest", "tool")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("the Hydra tool module: %w", err)
	}
	return dir, nil
}

// cacheKey names a build by what decides it: the tool module's go.mod and
// go.sum, the build tags and the Go version.
func cacheKey(dir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	fmt.Fprintf(h, "%s %s %s/%s", buildTags, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// lock takes an exclusive flock on path, waiting for it.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
