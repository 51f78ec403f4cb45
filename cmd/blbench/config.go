package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// allScenarios in the order they run.
var allScenarios = []string{"check", "verify", "write", "propagation", "replay", "flush", "memory", "fleet", "regions", "join", "django", "feed"}

// config is what the flags say.
type config struct {
	scenarios    []string
	sizes        sizes
	rounds       int           // rounds per scenario; default 5 (quick 2)
	duration     time.Duration // one contender's measurement in one round; default 2s (quick 150ms)
	propDuration time.Duration // one propagation round; default 5s (quick 300ms)
	out          string        // report dir: OUT/BENCHMARKS.md and OUT/bench/*.png
	quick        bool
	allowMissing bool
	blnodeBin    string // a built blnode binary; default: go build into a temp dir
	redisBin     string // redis-server; default: found on PATH or in /usr/bin, /usr/sbin
	seed         uint64
	zipfS        float64
	zipfV        float64
	clients      int           // concurrent clients for parallel check throughput
	rate         int           // propagation writes per second
	fleetSizes   []int         // validators per fleet; default 10,100,200,500,1000 (quick 10)
	fleetRates   []int         // fleet writes per second; default 1000,100
	fleetDur     time.Duration // one fleet phase (live, cost, baseline); default 5s (quick 500ms)
	fleetIdle    time.Duration // the fleet's idle window; default 3s (quick 500ms)
	fleetHeap    string        // write a heap profile to FLEETHEAP-N.pprof once N validators are ready
	fleetVDir    string        // where the fleet's validators keep their data dirs ("": the run's temp dir)
	fleetGCOff   bool          // an experiment: the collector paused in the fleet's live phases
	fleetServers int           // NATS servers of the fleet: 1, or a cluster of 3 (default)
	joinEvents   int           // revocations in the join scenario's stream; default 1,000,000 (quick 20,000)
	joinVals     int           // validators the join scenario starts together; default 100 (quick 10)
	joinHeap     string        // write a heap profile once the join scenario's validator holding the set is ready
	memExpiry    time.Duration // the join scenario's wait before a memory reading; default 12s (quick 1s)
	memSettle    time.Duration // its longest wait for readings to agree; default 45s (quick 2s)
	timeout      time.Duration
	cpuProfile   string
	keep         bool
	command      string // the command line, for the report

	regionsCount      int           // regions of the regions scenario; default 5
	regionsValidators int           // validators per region; default 40 (quick 4)
	regionsRate       int           // writes/s over every region together; default 100
	regionsDur        time.Duration // the regions scenario's live phase; default 10s (quick 1s)

	feedRate  int           // the feed scenario's open-loop writes per second; default 500
	feedDur   time.Duration // how long one feed latency round writes; default 3s (quick 300ms)
	feedBurst int           // writes of one feed throughput burst; default 10000 (quick 1000)
}

// sizes are the data sizes and load levels.
type sizes struct {
	check      int   // revoked entries in the check scenario
	replay     int   // events a fresh validator replays
	flush      int   // expired entries flushed
	memory     []int // entries held by the node whose RSS is measured
	verify     []int // concurrency levels of the verify scenario
	write      []int // concurrent writers of the write scenario
	django     []int // concurrency levels of the django scenario
	feed       []int // SSE clients of the feed scenario
	validators int   // propagation validators
}

func defaultSizes(quick bool) sizes {
	if quick {
		return sizes{check: 20_000, replay: 20_000, flush: 20_000, memory: []int{10_000, 50_000},
			verify: []int{1, 8, 64}, write: []int{1, 64}, django: []int{1, 8, 64}, feed: []int{1, 10}, validators: 5}
	}
	return sizes{check: 1_000_000, replay: 1_000_000, flush: 1_000_000, memory: []int{100_000, 1_000_000},
		verify: []int{1, 8, 64}, write: []int{1, 64}, django: []int{1, 8, 64}, feed: []int{1, 100, 500}, validators: 5}
}

func (s sizes) String() string {
	return fmt.Sprintf("check=%d,replay=%d,flush=%d,memory=%s,verify=%s,write=%s,django=%s,feed=%s,validators=%d",
		s.check, s.replay, s.flush, joinInts(s.memory), joinInts(s.verify), joinInts(s.write), joinInts(s.django), joinInts(s.feed), s.validators)
}

func joinInts(v []int) string {
	p := make([]string, len(v))
	for i, x := range v {
		p[i] = strconv.Itoa(x)
	}
	return strings.Join(p, "/")
}

// parseSizes applies a -sizes value to s: a bare number N sets check,
// replay and flush to N and memory to N/10 and N; key=value pairs (lists
// separated by "/") set one size each.
func parseSizes(s *sizes, v string) error {
	if v == "" {
		return nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 100 {
			return fmt.Errorf("-sizes %d: want at least 100", n)
		}
		s.check, s.replay, s.flush, s.memory = n, n, n, []int{n / 10, n}
		return nil
	}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-sizes %q: want N or key=value,… (keys check, replay, flush, memory, verify, write, django, feed, validators)", v)
		}
		var list []int
		for _, p := range strings.Split(val, "/") {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return fmt.Errorf("-sizes %s=%s: want positive integers separated by /", k, val)
			}
			list = append(list, n)
		}
		one := func(dst *int) error {
			if len(list) != 1 {
				return fmt.Errorf("-sizes %s=%s: want one integer", k, val)
			}
			*dst = list[0]
			return nil
		}
		var err error
		switch k {
		case "check":
			err = one(&s.check)
		case "replay":
			err = one(&s.replay)
		case "flush":
			err = one(&s.flush)
		case "validators":
			err = one(&s.validators)
		case "memory":
			s.memory = list
		case "verify":
			s.verify = list
		case "write":
			s.write = list
		case "django":
			s.django = list
		case "feed":
			s.feed = list
		default:
			return fmt.Errorf("-sizes: unknown key %q (keys check, replay, flush, memory, verify, write, django, feed, validators)", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (c config, err error) {
	fs := flag.NewFlagSet("blbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma separated: "+strings.Join(allScenarios, ", "))
	sz := fs.String("sizes", "", "sizes: N (check, replay, flush = N; memory = N/10 and N) or key=value,… with keys check, replay, flush, memory, verify, write, django, feed, validators; lists separated by / (default "+defaultSizes(false).String()+"; with -quick "+defaultSizes(true).String()+")")
	fs.IntVar(&c.rounds, "rounds", 0, "rounds per scenario (default 5; -quick 2)")
	fs.DurationVar(&c.duration, "duration", 0, "how long one contender is measured in one round (default 2s; -quick 150ms)")
	fs.DurationVar(&c.propDuration, "prop-duration", 0, "how long one propagation round writes (default 5s; -quick 300ms)")
	fs.StringVar(&c.out, "out", "", "output dir: the report goes to OUT/BENCHMARKS.md, charts and raw results to OUT/bench/ (default . ; -quick: a new temp dir)")
	fs.BoolVar(&c.quick, "quick", false, "small sizes and short rounds: the whole run takes under a minute (a smoke test; its numbers mean little)")
	fs.BoolVar(&c.allowMissing, "allow-missing", false, "exit 0 even when a contender could not be measured (redis-server missing)")
	fs.StringVar(&c.blnodeBin, "blnode", "", "blnode binary to run (default: go build ./cmd/blnode into a temp dir)")
	fs.StringVar(&c.redisBin, "redis-server", "", "redis-server binary (default: found on PATH)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of every generated key and workload")
	fs.Float64Var(&c.zipfS, "zipf-s", 1.1, "Zipf exponent s (> 1) of the check workload")
	fs.Float64Var(&c.zipfV, "zipf-v", 1, "Zipf parameter v (≥ 1) of the check workload")
	fs.IntVar(&c.clients, "clients", 32, "concurrent clients of the parallel check throughput runs")
	fs.IntVar(&c.rate, "rate", 1000, "propagation writes per second")
	fleetSizes := fs.String("fleet-sizes", "", "validators of each fleet, comma separated (default 10,100,200,500,1000; -quick 10)")
	fleetRates := fs.String("fleet-rates", "1000,100", "fleet writes per second, comma separated")
	fs.DurationVar(&c.fleetDur, "fleet-duration", 0, "how long one fleet phase writes (default 5s; -quick 500ms)")
	fs.DurationVar(&c.fleetIdle, "fleet-idle", 0, "the fleet's idle window, for idle CPU and JetStream API requests (default 3s; -quick 500ms)")
	fs.IntVar(&c.fleetServers, "fleet-servers", 3, "NATS servers of the fleet scenario: 1, or 3 (a cluster; the stream has as many replicas)")
	fs.StringVar(&c.fleetVDir, "fleet-validator-dir", memoryDir(), "where the fleet scenario's validators keep their data dirs: a tmpfs (/dev/shm where there is one) stands for each validator's own disk; \"\" puts them in the run's temp dir, on the disk of the full node and the NATS servers")
	fs.BoolVar(&c.fleetGCOff, "fleet-gc-off", false, "an experiment, not the benchmark: pause this process's garbage collector (up to a memory limit of half the memory available) during the fleet scenario's live phases, validators' and floor's alike, to see the propagation figures without the one collector all the simulated machines share")
	fs.StringVar(&c.fleetHeap, "fleet-heapprofile", "", "write a heap profile of this process to `PREFIX`-N.pprof once each fleet of N validators is ready")
	fs.IntVar(&c.regionsCount, "regions-count", 5, "regions of the regions scenario (at least 2): one NATS server and JetStream domain each, region 0 the hub of the others' leaf nodes")
	fs.IntVar(&c.regionsValidators, "regions-validators", 0, "validators per region of the regions scenario (default 40; -quick 4)")
	fs.IntVar(&c.regionsRate, "regions-rate", 100, "writes per second of the regions scenario, all regions together (spread over them; at least one per region)")
	fs.DurationVar(&c.regionsDur, "regions-duration", 0, "how long the regions scenario writes (default 10s; -quick 1s)")
	fs.IntVar(&c.feedRate, "feed-rate", 500, "blacklist writes per second of the feed scenario's latency rounds (open loop)")
	fs.DurationVar(&c.feedDur, "feed-duration", 0, "how long one feed latency round writes (default 3s; -quick 300ms)")
	fs.IntVar(&c.feedBurst, "feed-burst", 0, "blacklist writes of one feed throughput burst, by "+strconv.Itoa(feedBurstWriters)+" writers at once (default 10000; -quick 1000)")
	fs.IntVar(&c.joinEvents, "join-events", 0, "revocation events in the join scenario's stream before its snapshot (a tail of 1% follows it) (default 1000000; -quick 20000)")
	fs.IntVar(&c.joinVals, "join-validators", 0, "validators the join scenario starts together (default 100; -quick 10)")
	fs.StringVar(&c.joinHeap, "join-heapprofile", "", "write a heap profile of this process to `FILE` once the join scenario's validator holding the set is ready")
	fs.DurationVar(&c.memExpiry, "mem-expiry", 0, "the join scenario's wait before each memory reading (default 12s, the NATS server's block cache; -quick 1s)")
	fs.DurationVar(&c.memSettle, "mem-settle", 0, "the join scenario's longest further wait for two memory readings to agree (default 45s; -quick 2s)")
	fs.DurationVar(&c.timeout, "timeout", 0, "stop everything after this long (default 45m; -quick 4m)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the in-process nodes and the load generator) to this file")
	fs.BoolVar(&c.keep, "keep", false, "keep the temp dir (data dirs, logs) for inspection")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./cmd/blbench [flags]\n\nRuns blnode's benchmark scenarios against Redis and a Go map on loopback and writes a report.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.sizes = defaultSizes(c.quick)
	if err := parseSizes(&c.sizes, *sz); err != nil {
		return c, err
	}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if s == "all" {
			c.scenarios = append(c.scenarios, allScenarios...)
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return c, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", s, strings.Join(allScenarios, ", "))
		}
		if !slices.Contains(c.scenarios, s) {
			c.scenarios = append(c.scenarios, s)
		}
	}
	if len(c.scenarios) == 0 {
		return c, errors.New("-scenarios: none given")
	}
	def := func(d *time.Duration, full, quick time.Duration) {
		if *d <= 0 {
			*d = full
			if c.quick {
				*d = quick
			}
		}
	}
	def(&c.duration, 2*time.Second, 150*time.Millisecond)
	def(&c.propDuration, 5*time.Second, 300*time.Millisecond)
	def(&c.timeout, 45*time.Minute, 4*time.Minute)
	def(&c.fleetDur, 5*time.Second, 500*time.Millisecond)
	def(&c.fleetIdle, 3*time.Second, 500*time.Millisecond)
	def(&c.regionsDur, 10*time.Second, time.Second)
	def(&c.feedDur, 3*time.Second, 300*time.Millisecond)
	def(&c.memExpiry, joinCacheExpiry, time.Second)
	def(&c.memSettle, joinSettle, 2*time.Second)
	if c.regionsValidators == 0 {
		c.regionsValidators = 40
		if c.quick {
			c.regionsValidators = 4
		}
	}
	if c.regionsCount < 2 || c.regionsValidators < 1 {
		return c, fmt.Errorf("-regions-count %d -regions-validators %d: want at least 2 regions and 1 validator per region", c.regionsCount, c.regionsValidators)
	}
	if c.regionsRate < c.regionsCount {
		return c, fmt.Errorf("-regions-rate %d: want at least one write per second per region (%d)", c.regionsRate, c.regionsCount)
	}
	if *fleetSizes == "" {
		*fleetSizes = "10,100,200,500,1000"
		if c.quick {
			*fleetSizes = "10"
		}
	}
	if c.fleetSizes, err = parseList("-fleet-sizes", *fleetSizes); err != nil {
		return c, err
	}
	if c.fleetRates, err = parseList("-fleet-rates", *fleetRates); err != nil {
		return c, err
	}
	if c.fleetServers != 1 && c.fleetServers != 3 {
		return c, fmt.Errorf("-fleet-servers %d: want 1 or 3", c.fleetServers)
	}
	defInt := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = full
			if c.quick {
				*v = quick
			}
		}
	}
	if c.joinEvents < 0 || c.joinVals < 0 {
		return c, fmt.Errorf("-join-events %d -join-validators %d: want positive numbers (0: the default)", c.joinEvents, c.joinVals)
	}
	defInt(&c.joinEvents, 1_000_000, 20_000)
	defInt(&c.joinVals, 100, 10)
	if c.feedBurst < 0 {
		return c, fmt.Errorf("-feed-burst %d: want a positive number (0: the default)", c.feedBurst)
	}
	defInt(&c.feedBurst, 10_000, 1000)
	if c.feedBurst < 2 || c.feedRate < 1 {
		return c, fmt.Errorf("-feed-burst %d -feed-rate %d: want at least 2 writes a burst and 1 write per second", c.feedBurst, c.feedRate)
	}
	if c.rounds <= 0 {
		c.rounds = 5
		if c.quick {
			c.rounds = 2
		}
	}
	if c.zipfS <= 1 || c.zipfV < 1 {
		return c, fmt.Errorf("-zipf-s %v -zipf-v %v: want s > 1 and v ≥ 1", c.zipfS, c.zipfV)
	}
	if c.clients < 1 || c.rate < 1 || c.sizes.validators < 1 {
		return c, errors.New("-clients, -rate and the validator count must be positive")
	}
	if c.out == "" {
		if c.quick {
			d, err := os.MkdirTemp("", "blbench-quick-")
			if err != nil {
				return c, err
			}
			c.out = d
		} else {
			c.out = "."
		}
	}
	if abs, err := filepath.Abs(c.out); err == nil {
		c.out = abs
	}
	c.command = commandLine(args)
	return c, nil
}

// parseList reads a comma-separated list of positive integers.
func parseList(flag, v string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: want positive integers separated by commas", flag, v)
		}
		out = append(out, n)
	}
	return out, nil
}

// commandLine is how the report shows the command that made it.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./cmd/blbench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// memoryDir is /dev/shm when it is a directory this process may write in,
// else "".
func memoryDir() string {
	const shm = "/dev/shm"
	d, err := os.MkdirTemp(shm, "blbench-probe-")
	if err != nil {
		return ""
	}
	os.Remove(d)
	return shm
}
