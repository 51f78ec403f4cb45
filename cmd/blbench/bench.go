package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/original"
)

// The secret and admin token of every node blbench runs.
const (
	benchSecret = "blbench-hs256-secret-not-for-production"
	benchAdmin  = "blbench-admin-token-0123456789"
)

// bench is one run: the config, what it started, and what it found.
type bench struct {
	cfg       config
	stdout    io.Writer
	stderr    io.Writer
	tmp       string
	root      string // module root ("" when -blnode was given and go is absent)
	blnodeBin string
	floorBin  string // blfloor, the net/http floor; "" when it could not be built
	redisBin  string
	simpleJWT *original.Install // nil when the original is not installed
	began     time.Time
	timerNs   float64 // cost of the latency timer

	mu    sync.Mutex
	procs []*child.Process

	env      envInfo
	sections []*section
	targets  []target
	missing  []missingContender
	failures []string
	raw      map[string]any // results.json
}

// section is the report of one scenario.
type section struct {
	id, title string
	paras     []string
	tables    []*table
	charts    []chartRef
	notes     []string
	err       error
	took      time.Duration
}

type table struct {
	caption string
	header  []string
	rows    [][]string
}

type chartRef struct{ file, alt string }

func (s *section) para(format string, args ...any) {
	s.paras = append(s.paras, fmt.Sprintf(format, args...))
}
func (s *section) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}
func (s *section) table(caption string, header ...string) *table {
	t := &table{caption: caption, header: header}
	s.tables = append(s.tables, t)
	return t
}
func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// target is one line of the targets with the figure measured.
type target struct {
	what   string
	basis  string // how the goal is judged: ratioVs(anchor) or absolute(margin)
	goal   string
	figure string
	status string // "met", "missed", "not measured"
	note   string
	// over is the figure the target judges, one per pair (a ratio: round i
	// of blnode against round i of its anchor) or one per round (an
	// absolute); per says which ("pair", "round"). The target is met when
	// the median of over is at most limit (atMost) or at least limit; the
	// limit of an absolute target includes its margin. A target without
	// over (a count that must be 0) is met when met says so.
	over   series
	per    string
	limit  float64
	atMost bool
	met    bool
}

// ratioVs is the basis of a target judged as a ratio against an anchor
// measured in the same run, pair by pair.
func ratioVs(anchor string) string { return "ratio vs " + anchor }

// absolute is the basis of a target with no anchor to divide by: the
// figure must beat the goal by margin, so that a quiet rerun does not flip
// it.
func absolute(margin string) string { return "absolute (margin " + margin + ")" }

// judge records t, met or missed: a target with a figure per pair or round
// is met only when their median meets its limit.
func (b *bench) judge(t target) {
	if len(t.over) > 0 {
		med := t.over.summary().Median
		t.met = med >= t.limit
		if t.atMost {
			t.met = med <= t.limit
		}
	}
	t.status = "met"
	if !t.met {
		t.status = "missed"
	}
	b.targets = append(b.targets, t)
}

// targetMissing records a target that could not be measured, and why.
func (b *bench) targetMissing(what, basis, goal, why string) {
	b.targets = append(b.targets, target{what: what, basis: basis, goal: goal, figure: "—", status: "not measured", note: why})
}

// spread is (max − min) ÷ median of a target's per-pair or per-round
// figure: how far apart its reruns fall.
func (t target) spread() float64 {
	s := t.over.summary()
	if s.N < 2 || s.Median == 0 {
		return math.NaN()
	}
	return (s.Max - s.Min) / math.Abs(s.Median)
}

// headroom is how far the median beats the limit, as a fraction of the
// limit (negative: it misses).
func (t target) headroom() float64 {
	s := t.over.summary()
	if s.N == 0 || t.limit == 0 {
		return math.NaN()
	}
	if t.atMost {
		return (t.limit - s.Median) / t.limit
	}
	return (s.Median - t.limit) / t.limit
}

// across counts the pairs or rounds on the other side of the limit from
// the median: a rerun whose median fell among them would flip the target.
func (t target) across() int {
	meets := func(v float64) bool {
		if t.atMost {
			return v <= t.limit
		}
		return v >= t.limit
	}
	med := meets(t.over.summary().Median)
	n := 0
	for _, v := range t.over {
		if !math.IsNaN(v) && meets(v) != med {
			n++
		}
	}
	return n
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "blbench %6.1fs  %s\n", time.Since(b.began).Seconds(), fmt.Sprintf(format, args...))
}

// track remembers a process so that the run stops it at the end whatever
// happens.
func (b *bench) track(p *child.Process) {
	b.mu.Lock()
	b.procs = append(b.procs, p)
	b.mu.Unlock()
}

func (b *bench) stopAll() {
	b.mu.Lock()
	procs := b.procs
	b.procs = nil
	b.mu.Unlock()
	for _, p := range procs {
		_ = p.Stop()
	}
}

// cleanups are what a scenario's set-up stage started, to be undone at the
// scenario's end: run calls them last first, as deferred calls run, so a
// set-up split out of its scenario stops things in the same order.
type cleanups []func()

// add remembers f to be called by run.
func (c *cleanups) add(f func()) { *c = append(*c, f) }

// run calls the clean-ups added, last first, and forgets them.
func (c *cleanups) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

// dir returns a new directory under the run's temp dir.
func (b *bench) dir(name string) (string, error) {
	return os.MkdirTemp(b.tmp, name+"-")
}

// missingContender is a contender that could not be measured, and why.
type missingContender struct {
	What string `json:"what"`
	Why  string `json:"why"`
}

func (b *bench) needsRedis(what string) bool {
	if b.redisBin != "" {
		return true
	}
	b.missing = append(b.missing, missingContender{What: what, Why: "redis-server is missing"})
	return false
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	b := &bench{cfg: cfg, stdout: stdout, stderr: stderr, began: time.Now(), raw: map[string]any{}}
	if b.tmp, err = os.MkdirTemp("", "blbench-run-"); err != nil {
		return err
	}
	defer func() {
		b.stopAll()
		if cfg.keep {
			b.logf("kept %s", b.tmp)
		} else {
			os.RemoveAll(b.tmp)
		}
	}()
	b.logf("scenarios %s; sizes %s; %d rounds of %v; out %s", strings.Join(cfg.scenarios, ","), cfg.sizes, cfg.rounds, cfg.duration, cfg.out)

	b.findRedis()
	b.findSimpleJWT(ctx)
	if err := b.findBlnode(ctx); err != nil {
		return err
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	b.env = collectEnv(ctx, b)
	b.timerNs = timerCost()

	scenarios := map[string]func(context.Context, *section) error{
		"check":       b.runCheck,
		"verify":      b.runVerify,
		"write":       b.runWrite,
		"propagation": b.runPropagation,
		"replay":      b.runReplay,
		"flush":       b.runFlush,
		"memory":      b.runMemory,
		"fleet":       b.runFleet,
		"regions":     b.runRegions,
		"join":        b.runJoin,
		"django":      b.runDjango,
		"feed":        b.runFeed,
	}
	titles := map[string]string{
		"check":       "Check: is this jti revoked?",
		"verify":      "Verify over HTTP",
		"write":       "Durable writes",
		"propagation": "Propagation writer → validators",
		"replay":      "Replay: a fresh validator catches up",
		"flush":       "Flush under load",
		"memory":      "Memory per blacklisted entry",
		"fleet":       "Fleet at scale: N validators in one process",
		"regions":     "Regions: a multi-region fleet in one process",
		"join":        "Join: empty validators at a large revocation set",
		"django":      "Django: Simple JWT's authentication against blnode_django's",
		"feed":        "Feed: revocations to SSE clients (`GET /v1/feed`)",
	}
	for _, name := range cfg.scenarios {
		if ctx.Err() != nil {
			break
		}
		s := &section{id: name, title: titles[name]}
		b.sections = append(b.sections, s)
		b.logf("== %s", name)
		t0 := time.Now()
		s.err = scenarios[name](ctx, s)
		s.took = time.Since(t0)
		b.stopAll()
		if s.err != nil {
			b.failures = append(b.failures, fmt.Sprintf("%s: %v", name, s.err))
			b.logf("%s FAILED: %v", name, s.err)
		} else {
			b.logf("%s done in %v", name, s.took.Round(time.Second))
		}
	}
	b.env.loadEnd = readLoad()
	if werr := b.writeReport(); werr != nil {
		return fmt.Errorf("write report: %w", werr)
	}
	b.printSummary()
	var errs []error
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("stopped: %w", context.Cause(ctx)))
	}
	if len(b.failures) > 0 {
		errs = append(errs, fmt.Errorf("%d scenario(s) failed: %s", len(b.failures), strings.Join(b.failures, "; ")))
	}
	if len(b.missing) > 0 && !cfg.allowMissing {
		var what []string
		for _, m := range b.missing {
			what = append(what, m.What+" ("+m.Why+")")
		}
		errs = append(errs, fmt.Errorf("not measured: %s; install what is missing (scripts/install-test-deps) or pass -allow-missing",
			strings.Join(what, ", ")))
	}
	return errors.Join(errs...)
}

// findRedis looks for redis-server and says loudly when it is missing.
func (b *bench) findRedis() {
	if b.cfg.redisBin != "" {
		b.redisBin = b.cfg.redisBin
		return
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		b.redisBin = p
		return
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			b.redisBin = p
			return
		}
	}
	fmt.Fprintf(b.stderr, `
blbench: redis-server is MISSING (not on PATH, nor in /usr/bin, /usr/sbin).
blbench: the Redis contenders (check EXISTS, durable SET with appendfsync always
blbench: and everysec, propagation by polling EXISTS, Redis memory per key) are
blbench: NOT measured. Install it with scripts/install-test-deps (Debian's
blbench: redis-server package) or give -redis-server PATH.

`)
}

// findBlnode uses -blnode or builds the binary, and builds blfloor, the
// net/http floor (missing when the go tool is).
func (b *bench) findBlnode(ctx context.Context) error {
	root, rootErr := moduleRoot(ctx)
	b.root = root
	dir, err := b.dir("bin")
	if err != nil {
		return err
	}
	if rootErr == nil {
		b.logf("building blfloor (go build ./cmd/blfloor)")
		if b.floorBin, err = buildCmd(ctx, root, dir, "blfloor"); err != nil {
			return err
		}
	}
	if b.cfg.blnodeBin != "" {
		b.blnodeBin = b.cfg.blnodeBin
		return nil
	}
	if rootErr != nil {
		return rootErr
	}
	b.logf("building blnode (go build ./cmd/blnode)")
	b.blnodeBin, err = buildCmd(ctx, root, dir, "blnode")
	return err
}

// needsFloor says whether the net/http floor was built, and records the
// contender what as missing when it was not.
func (b *bench) needsFloor(what string) bool {
	if b.floorBin != "" {
		return true
	}
	b.missing = append(b.missing, missingContender{What: what, Why: "blfloor could not be built (no go tool)"})
	return false
}

// startFloor runs blfloor on a free loopback port, its append-only file
// in dataDir, and finds its address in its "listening" log line.
func (b *bench) startFloor(ctx context.Context, name, dataDir string) (*blnodeProc, error) {
	p, err := startProc(ctx, name, b.floorBin, []string{"PATH=" + os.Getenv("PATH")}, "-http", "127.0.0.1:0", "-data", dataDir)
	if err != nil {
		return nil, err
	}
	b.track(p)
	a, err := awaitAddr(ctx, p, "listening", listeningAddr)
	if err != nil {
		return nil, err
	}
	return &blnodeProc{Process: p, url: "http://" + a, started: time.Now()}, nil
}

func (b *bench) printSummary() {
	fmt.Fprintf(b.stdout, "\nblbench: report %s\n", filepath.Join(b.cfg.out, "BENCHMARKS.md"))
	for _, t := range b.targets {
		fmt.Fprintf(b.stdout, "  %-12s %-55s %-40s %s; %s\n", t.status, t.what+" ("+t.goal+")", t.figure, t.basis, t.note)
	}
	for _, m := range b.missing {
		fmt.Fprintf(b.stdout, "  NOT MEASURED: %s (%s)\n", m.What, m.Why)
	}
	for _, f := range b.failures {
		fmt.Fprintf(b.stdout, "  FAILED: %s\n", f)
	}
}
