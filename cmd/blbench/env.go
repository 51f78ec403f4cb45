package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/blnode/blnode/internal/original"
)

// envInfo describes the machine and the versions measured.
type envInfo struct {
	date       string
	cpu        string
	cores      int
	gomaxprocs int
	memTotal   string
	kernel     string
	tmpFS      string
	goVersion  string
	commit     string
	redis      string
	simpleJWT  string
	nats       string
	modules    []string
	loadStart  string
	loadEnd    string
}

func collectEnv(ctx context.Context, b *bench) envInfo {
	e := envInfo{date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), cores: runtime.NumCPU(), gomaxprocs: runtime.GOMAXPROCS(0),
		goVersion: runtime.Version(), nats: "nats-server " + server.VERSION + " (in-process, module)", loadStart: readLoad()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		mhz := ""
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if k == "model name" && e.cpu == "" {
				e.cpu = v
			}
			if k == "cpu MHz" && mhz == "" {
				mhz = v
			}
		}
		if mhz != "" {
			e.cpu += ", " + strings.SplitN(mhz, ".", 2)[0] + " MHz"
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				e.memTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	e.tmpFS = filesystemOf(b.tmp)
	if b.root != "" {
		if out, err := exec.CommandContext(ctx, "git", "-C", b.root, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
			e.commit = strings.TrimSpace(string(out))
			if out, err := exec.CommandContext(ctx, "git", "-C", b.root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
				e.commit += " (with uncommitted changes)"
			}
		}
	}
	if b.redisBin != "" {
		if out, err := exec.CommandContext(ctx, b.redisBin, "--version").Output(); err == nil {
			e.redis = strings.TrimSpace(string(out))
		}
	} else {
		e.redis = "MISSING (not measured)"
	}
	e.simpleJWT = "MISSING (not measured)"
	if b.simpleJWT != nil {
		e.simpleJWT = b.simpleJWT.Version + fmt.Sprintf(" (Debian's packages; gunicorn with %d sync workers, SQLite)", original.RecommendedWorkers(e.cores))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "go.etcd.io/bbolt", "github.com/dgraph-io/ristretto/v2", "github.com/nats-io/nats.go", "github.com/redis/go-redis/v9", "github.com/golang-jwt/jwt/v5":
				e.modules = append(e.modules, d.Path+" "+d.Version)
			}
		}
	}
	return e
}

func readLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// filesystemOf names the mount (device, type) that holds dir, from
// /proc/mounts: fsync costs depend on it.
func filesystemOf(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "?"
	}
	dir, _ = filepath.EvalSymlinks(dir)
	best, bestLen := "?", -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > bestLen {
			best, bestLen = f[2]+" on "+f[0]+" (mounted at "+mp+")", len(mp)
		}
	}
	return best
}
