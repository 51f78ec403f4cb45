//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/internal/natsproc"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/persist"
)

// TestChaos is issue 17, "chaos, as a test": a seeded, randomized schedule
// of faults over real processes, with the revocation invariant checked all
// the time and at the end.
//
// The fleet: three nats-server processes in a JetStream cluster (the test
// binary run as the server, internal/natsproc), the stream on 3 replicas;
// two full nodes and three validators, each the built blnode binary, each
// reaching every NATS server through a toxiproxy link of its own. The
// faults, drawn from a seeded RNG before the run (times, targets,
// durations) and printed:
//
//   - kill9: kill -9 of a node (full or validator), restarted a moment later;
//   - nats-kill: kill -9 of one NATS server, restarted later;
//   - partition: a node's links to NATS cut (connections drop, reconnects
//     refused), healed later;
//   - slow-link: latency on a node's links (200±100 ms each way);
//   - clock-ahead: a full node restarted with --clock-offset 10m, made to
//     flush (its flush event carries a cutoff 10 minutes ahead), restarted
//     with the right clock later;
//   - flush: a flush on a full node with the right clock;
//   - recreate-stream: the stream deleted on the cluster; both full nodes
//     restarted one by one (a full node provisions the stream when it
//     starts), each exported while stopped; the exports imported into a
//     fresh data dir and published by a transient full node: the operator's
//     recovery in deploy/README.md ("Lost NATS state");
//   - damage-store: a validator killed with -9, bytes of its blnode.db
//     flipped (seeded), the validator restarted.
//
// Meanwhile a writer revokes freshly minted refresh tokens on the full
// nodes (POST /v1/blacklist with the admin token, or Simple JWT's
// /api/token/blacklist/); half live 3 to 8 minutes, so that a flush with a
// cutoff 10 minutes ahead reaches them, half 1 to 24 hours. A revocation
// counts as acknowledged when the node answers 2xx. A checker per node asks
// POST /v1/check about acknowledged tokens: the newest ones, and ones the
// node already rejected. Only "valid": true counts as accepting; a 503 (a
// node rebuilding its replica), a timeout or a refused connection does not.
//
// The invariant: once a node has answered that a token is blacklisted, a
// later answer of that node that accepts the token is a violation, reported
// with the node, the jti, the times and the faults applied so far. After the
// last fault every fault is healed, and within a generous deadline every
// node must be ready, connected, not lagging, with empty outboxes and one
// blacklist digest, and must reject every acknowledged revocation (as
// blacklisted, or expired by then). A token never revoked must be accepted
// everywhere: the checker can see an acceptance.
//
// 60 s of faults by default (the test takes about two to three minutes);
// BLNODE_LONG=1 runs 10 minutes (give go test -timeout 30m). The default
// seed is fixed, so the test command is deterministic in what it schedules
// (the timing of real processes still varies); BLNODE_CHAOS_SEED=N replays
// the schedule of seed N, and BLNODE_CHAOS_SEED=random draws a new seed
// (exploration, not the test command: a seed that fails becomes a
// regression run). BLNODE_CHAOS_FAULTS=kill9,partition,... restricts the
// kinds of fault, to tell which one breaks the invariant;
// BLNODE_CHAOS_LOGS=DIR keeps every log line of every process of a failed
// run in DIR (otherwise the failure shows the last 40 of each).
//
//	go test -race -run TestChaos ./cmd/blnode
//	BLNODE_CHAOS_SEED=123 go test -race -run TestChaos ./cmd/blnode
//	BLNODE_CHAOS_SEED=random BLNODE_LONG=1 go test -race -timeout 30m -run TestChaos ./cmd/blnode
func TestChaos(t *testing.T) {
	seed, random := chaosSeed(t)
	kinds := chaosKinds(t)
	total := 60 * time.Second
	if longRun() {
		total = 10 * time.Minute
	}
	replay := fmt.Sprintf("BLNODE_CHAOS_SEED=%d", seed)
	if len(kinds) != len(allFaultKinds) {
		replay += " BLNODE_CHAOS_FAULTS=" + joinKinds(kinds)
	}
	if longRun() {
		replay += " BLNODE_LONG=1 go test -race -timeout 30m -run TestChaos ./cmd/blnode"
	} else {
		replay += " go test -race -run TestChaos ./cmd/blnode"
	}
	how := "the default seed"
	if random {
		how = "a random seed"
	}
	t.Logf("chaos seed %d (%s); replay: %s", seed, how, replay)

	c := newChaos(t, seed, replay)
	c.schedule = chaosSchedule(seed, total, kinds, c.fullNames(), c.validatorNames(), c.serverNames())
	t.Logf("fault schedule (%d faults over %v):\n%s", len(c.schedule), total, c.scheduleText())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with chaos seed %d; replay: %s\nfault schedule:\n%s\nfaults applied:\n%s",
				seed, replay, c.scheduleText(), strings.Join(c.appliedSoFar(0), "\n"))
		}
	})

	c.startFleet()
	control := c.mint(time.Now(), 24*time.Hour) // never revoked: must be accepted everywhere at the end

	c.began = time.Now() // the schedule's zero; set before the goroutines read it
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { c.write(ctx) })
	checkCtx, stopChecks := context.WithCancel(t.Context())
	var checks sync.WaitGroup
	for _, n := range c.nodes {
		checks.Go(func() { c.check(checkCtx, n) })
	}
	t.Cleanup(func() { // after a t.Fatal too: nothing logs once the test has ended
		stop()
		stopChecks()
		wg.Wait()
		checks.Wait()
	})

	c.run(total)
	stop()
	wg.Wait()
	c.logf("chaos over: %d revocations acknowledged", c.ackedCount())

	converged := c.waitConverged()
	stopChecks()
	checks.Wait()
	c.reportViolations()
	c.finalCheck(control, converged)
}

// Fault kinds, as BLNODE_CHAOS_FAULTS names them.
type faultKind string

const (
	faultKill9          faultKind = "kill9"
	faultNATSKill       faultKind = "nats-kill"
	faultPartition      faultKind = "partition"
	faultSlowLink       faultKind = "slow-link"
	faultClockAhead     faultKind = "clock-ahead"
	faultFlush          faultKind = "flush"
	faultRecreateStream faultKind = "recreate-stream"
	faultDamageStore    faultKind = "damage-store"
)

var allFaultKinds = []faultKind{faultKill9, faultNATSKill, faultPartition, faultSlowLink, faultClockAhead, faultFlush,
	faultRecreateStream, faultDamageStore}

// faultWeight is how often a kind is drawn once each has had its turn.
func faultWeight(k faultKind) int {
	switch k {
	case faultKill9:
		return 4
	case faultNATSKill, faultPartition, faultSlowLink:
		return 3
	case faultRecreateStream:
		return 1
	}
	return 2
}

const (
	chaosDefaultSeed = 17 // the number; the test command always runs it
	clockAhead       = 10 * time.Minute
	chaosAdmin       = "chaos-admin-token-0123456789"
	chaosSecret      = "chaos-hs-secret-0123456789abcdef"
)

func chaosSeed(t *testing.T) (seed uint64, random bool) {
	switch s := os.Getenv("BLNODE_CHAOS_SEED"); s {
	case "":
		return chaosDefaultSeed, false
	case "random":
		return uint64(time.Now().UnixNano()), true
	default:
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BLNODE_CHAOS_SEED %q: want a number or random", s)
		}
		return seed, false
	}
}

func chaosKinds(t *testing.T) []faultKind {
	s := os.Getenv("BLNODE_CHAOS_FAULTS")
	if s == "" {
		return allFaultKinds
	}
	var kinds []faultKind
	for f := range strings.SplitSeq(s, ",") {
		k := faultKind(strings.TrimSpace(f))
		if !slices.Contains(allFaultKinds, k) {
			t.Fatalf("BLNODE_CHAOS_FAULTS: unknown fault %q; want some of %s", k, joinKinds(allFaultKinds))
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func joinKinds(kinds []faultKind) string {
	var s []string
	for _, k := range kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ",")
}

// fault is one entry of the schedule.
type fault struct {
	N      int           // 1-based, in schedule order
	At     time.Duration // from the start of the chaos
	For    time.Duration // until it is healed; 0 for a fault that is one action
	Kind   faultKind
	Target string // a node or a NATS server; "" for the stream
	Seed   uint64 // what damage-store flips
}

func (f fault) String() string {
	s := fmt.Sprintf("#%d +%v %s", f.N, f.At.Round(100*time.Millisecond), f.Kind)
	if f.Target != "" {
		s += " " + f.Target
	}
	if f.For > 0 {
		s += fmt.Sprintf(" for %v", f.For.Round(100*time.Millisecond))
	}
	return s
}

// chaosSchedule draws the faults of a run from seed: every kind once, in a
// seeded order, then kinds by weight, about every 1 to 3.5 s, each on a
// target that no other fault holds at the time. At most one NATS server is
// down at once (the stream keeps its quorum) and the stream is recreated
// only while both full nodes are free (it restarts them).
func chaosSchedule(seed uint64, total time.Duration, kinds []faultKind, full, validators, servers []string) []fault {
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	busy := map[string]time.Duration{} // target → busy until
	free := func(at time.Duration, names []string) []string {
		var out []string
		for _, n := range names {
			if busy[n] <= at {
				out = append(out, n)
			}
		}
		return out
	}
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	pending := slices.Clone(kinds)
	rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	weighted := func() faultKind {
		sum := 0
		for _, k := range kinds {
			sum += faultWeight(k)
		}
		r := rng.IntN(sum)
		for _, k := range kinds {
			if r -= faultWeight(k); r < 0 {
				return k
			}
		}
		return kinds[0]
	}
	nodes := slices.Concat(full, validators)
	var out []fault
	for at := 2 * time.Second; at < total; at += between(time.Second, 3500*time.Millisecond) {
		kind := weighted()
		if len(pending) > 0 {
			kind = pending[0]
		}
		f := fault{At: at, Kind: kind}
		var targets []string
		switch kind {
		case faultKill9:
			targets, f.For = free(at, nodes), between(time.Second, 4*time.Second)
		case faultNATSKill:
			if len(free(at, servers)) == len(servers) {
				targets = servers
			}
			f.For = between(2*time.Second, 8*time.Second)
		case faultPartition:
			targets, f.For = free(at, nodes), between(2*time.Second, 10*time.Second)
		case faultSlowLink:
			targets, f.For = free(at, nodes), between(3*time.Second, 10*time.Second)
		case faultClockAhead:
			targets, f.For = free(at, full), between(4*time.Second, 10*time.Second)
		case faultFlush:
			targets = free(at, full)
		case faultDamageStore:
			targets, f.For = free(at, validators), between(time.Second, 3*time.Second)
			f.Seed = rng.Uint64()
		case faultRecreateStream:
			if len(free(at, full)) == len(full) && len(free(at, servers)) == len(servers) && busy["stream"] <= at {
				targets = []string{""}
			}
		}
		if len(targets) == 0 {
			continue // nothing free for it now; a pending kind waits for its turn
		}
		f.Target = targets[rng.IntN(len(targets))]
		switch kind {
		case faultRecreateStream:
			// It restarts both full nodes and runs a republisher, which
			// needs every NATS server (a 3-replica stream is created): keep
			// them, and the next recreation, clear for a while.
			for _, n := range slices.Concat(full, servers) {
				busy[n] = at + 20*time.Second
			}
			busy["stream"] = at + 60*time.Second
		case faultNATSKill:
			for _, s := range servers {
				busy[s] = at + f.For + time.Second
			}
		default:
			busy[f.Target] = at + f.For + 500*time.Millisecond
		}
		if len(pending) > 0 {
			pending = pending[1:]
		}
		f.N = len(out) + 1
		out = append(out, f)
	}
	return out
}

// chaosNode is one blnode process, restarted under the same name and data
// dir; its HTTP port changes with each start.
type chaosNode struct {
	name    string
	role    string // full or validator
	data    string
	proxies []*toxiproxy.Proxy // one per NATS server

	mu     sync.Mutex
	proc   *serveProc // nil while the node is down
	url    string     // "" while the node is down
	offset time.Duration
	starts int
	failed string // why the node is down for good: it did not start
}

func (n *chaosNode) baseURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.url
}

// ackedToken is a revocation a full node acknowledged.
type ackedToken struct {
	jti, tok string
	exp      time.Time
	at       time.Duration // since the chaos started
	via      string        // node and route
}

// violations are the acceptances that followed the same faults: how many,
// on which nodes, and the first few.
type violations struct {
	n     int
	nodes []string
	first []violation
}

// violation is an acceptance after a rejection as blacklisted.
type violation struct {
	node                   string
	tok                    ackedToken
	rejected, accepted     time.Duration
	acceptedBody           string
	nodeStarts, nodeOffset string
}

type chaos struct {
	t        *testing.T
	seed     uint64
	replay   string
	bin      string
	dir      string
	admin    string // admin token file
	secret   string // HS secret file
	servers  []*natsproc.Server
	direct   string // the cluster's URLs, no proxy
	tp       *toxiproxy.ApiServer
	nodes    []*chaosNode
	schedule []fault
	client   *http.Client
	began    time.Time // chaos start; zero during setup

	mu         sync.Mutex
	acked      []ackedToken
	applied    []string               // "+12.3s #4 clock-ahead full-1: ..." in order
	violations map[string]*violations // by the faults that touched the node between rejection and acceptance
	vkeys      []string               // the keys of violations, in order
	nviolation int
	procs      []*serveProc // every process started, for the logs of a failure
}

func newChaos(t *testing.T, seed uint64, replay string) *chaos {
	c := &chaos{t: t, seed: seed, replay: replay, dir: t.TempDir(), client: &http.Client{Timeout: 5 * time.Second}}
	c.admin = filepath.Join(c.dir, "admin-token")
	c.secret = filepath.Join(c.dir, "hs-secret")
	for path, text := range map[string]string{c.admin: chaosAdmin, c.secret: chaosSecret} {
		if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		c.nodes = append(c.nodes, &chaosNode{name: fmt.Sprintf("full-%d", i+1), role: "full"})
	}
	for i := range 3 {
		c.nodes = append(c.nodes, &chaosNode{name: fmt.Sprintf("validator-%d", i+1), role: "validator"})
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		c.mu.Lock()
		procs := slices.Clone(c.procs)
		c.mu.Unlock()
		dir := os.Getenv("BLNODE_CHAOS_LOGS")
		for i, p := range procs {
			if dir == "" {
				t.Logf("log of %s (the last 40 lines; BLNODE_CHAOS_LOGS=DIR keeps every line):\n%s", p.CommandLine(), tailOf(p.Output(), 40))
				continue
			}
			path := filepath.Join(dir, fmt.Sprintf("%02d-%s.log", i, filepath.Base(argValue(p.CommandLine(), "--data"))))
			if err := os.WriteFile(path, []byte(strings.Join(p.CommandLine(), " ")+"\n"+p.Output()), 0o600); err != nil {
				t.Error(err)
			}
		}
		if dir != "" {
			t.Logf("the logs of the %d processes started are in %s", len(procs), dir)
		}
	})
	return c
}

func (c *chaos) names(role string) []string {
	var out []string
	for _, n := range c.nodes {
		if n.role == role {
			out = append(out, n.name)
		}
	}
	return out
}
func (c *chaos) fullNames() []string      { return c.names("full") }
func (c *chaos) validatorNames() []string { return c.names("validator") }
func (c *chaos) serverNames() []string    { return []string{"nats-1", "nats-2", "nats-3"} }

func (c *chaos) node(name string) *chaosNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

func (c *chaos) scheduleText() string {
	var b strings.Builder
	for _, f := range c.schedule {
		fmt.Fprintf(&b, "  %v\n", f)
	}
	return b.String()
}

// since is the time from the start of the chaos (0 during setup).
func (c *chaos) since() time.Duration {
	if c.began.IsZero() {
		return 0
	}
	return time.Since(c.began).Round(10 * time.Millisecond)
}

// logf logs a line and keeps it among the faults applied.
func (c *chaos) logf(format string, args ...any) {
	line := fmt.Sprintf("+%v ", c.since()) + fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.applied = append(c.applied, line)
	c.mu.Unlock()
	c.t.Log(line)
}

// appliedSoFar returns the lines logged, the last max of them (0: all).
func (c *chaos) appliedSoFar(max int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.applied)
	if max > 0 && len(out) > max {
		out = append([]string{fmt.Sprintf("(%d earlier lines)", len(out)-max)}, out[len(out)-max:]...)
	}
	return out
}

// startFleet starts the NATS cluster, the links and the nodes, and waits
// until every node is ready.
func (c *chaos) startFleet() {
	t := c.t
	c.bin = buildBinary(t)
	c.servers = natsproc.Cluster(t, 3)
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, s.URL)
	}
	c.direct = strings.Join(urls, ",")
	c.tp = natsproc.NewToxiproxy()
	for _, n := range c.nodes {
		n.data = filepath.Join(c.dir, n.name)
		for i, s := range c.servers {
			n.proxies = append(n.proxies, natsproc.Proxy(t, c.tp, fmt.Sprintf("%s-nats-%d", n.name, i+1), strings.TrimPrefix(s.URL, "nats://")))
		}
	}
	for _, n := range c.nodes {
		c.start(n, 0, "the first start")
	}
	if c.t.Failed() {
		c.t.FailNow()
	}
	c.waitReady(c.nodes...)
}

func (c *chaos) nodeArgs(n *chaosNode, data string, offset time.Duration) []string {
	var urls []string
	for _, p := range n.proxies {
		urls = append(urls, "nats://"+p.Listen)
	}
	args := []string{"--data", data, "--node-id", n.name, "--role", n.role, "--nats", strings.Join(urls, ","),
		"--stream-replicas", "3", "--hs-secret-file", c.secret, "--admin-token-file", c.admin, "--flush-interval", "0"}
	if offset != 0 {
		args = append(args, "--clock-offset", offset.String())
	}
	return args
}

// start starts n's process (its clock shifted by offset). A node that
// does not come up is an error; it stays down for the rest of the run.
func (c *chaos) start(n *chaosNode, offset time.Duration, why string) {
	p, err := launchServe(c.t, c.bin, http.DefaultClient, nil, false, c.nodeArgs(n, n.data, offset)...)
	if err != nil {
		c.t.Errorf("%s did not start (%s; seed %d; replay: %s): %s", n.name, why, c.seed, c.replay, headOf(err.Error(), 25))
		c.logf("%s did not start (%s); it stays down", n.name, why)
		n.mu.Lock()
		n.failed = why
		n.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	n.mu.Lock()
	n.proc, n.url, n.offset = p, p.url, offset
	n.starts++
	n.mu.Unlock()
}

// down takes n out of the checkers' and writer's view and returns its
// process (nil if it was down); a process that had already exited on its
// own is an error.
func (c *chaos) down(n *chaosNode, why string) *serveProc {
	n.mu.Lock()
	p := n.proc
	n.proc, n.url = nil, ""
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.Done():
		c.t.Errorf("%s had exited on its own (%v) before %s: %s; log tail:\n%s", n.name, p.Err(), why, c.replay, tailOf(p.Output(), 30))
		return nil
	default:
		return p
	}
}

func (c *chaos) kill(n *chaosNode, why string) {
	if p := c.down(n, why); p != nil {
		p.kill9(c.t)
	}
}

func (c *chaos) stop(n *chaosNode, why string) {
	if p := c.down(n, why); p != nil {
		p.stop(c.t)
	}
}

// alive reports whether n's process runs; one that exited on its own is
// reported and taken down.
func (c *chaos) alive(n *chaosNode) bool {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.Done():
		c.down(n, "the check that it runs")
		return false
	default:
		return true
	}
}

// run applies the schedule: each fault at its time (or as soon as the one
// before is done), each heal at its time; whatever is still active after
// the last is healed at the end.
func (c *chaos) run(total time.Duration) {
	type action struct {
		at   time.Duration
		f    fault
		heal bool
	}
	var actions []action
	for _, f := range c.schedule {
		actions = append(actions, action{at: f.At, f: f})
		if f.For > 0 {
			actions = append(actions, action{at: f.At + f.For, f: f, heal: true})
		}
	}
	slices.SortStableFunc(actions, func(a, b action) int { return int(a.at - b.at) })
	c.logf("chaos begins")
	for _, a := range actions {
		if a.at >= total && !a.heal {
			continue
		}
		if d := time.Until(c.began.Add(a.at)); d > 0 && a.at < total {
			select {
			case <-time.After(d): // the schedule's timing, not a synchronisation
			case <-c.t.Context().Done():
				return
			}
		}
		if a.heal {
			c.heal(a.f)
		} else {
			c.apply(a.f)
		}
	}
	if d := time.Until(c.began.Add(total)); d > 0 {
		select {
		case <-time.After(d):
		case <-c.t.Context().Done():
		}
	}
	// A node that died on its own comes back for the convergence check
	// (its death is already an error).
	for _, n := range c.nodes {
		n.mu.Lock()
		up := n.proc != nil
		n.mu.Unlock()
		if up && !c.alive(n) {
			c.logf("restart %s, which had exited on its own", n.name)
			c.start(n, 0, "a restart after it exited on its own")
		}
	}
}

// gone reports whether f's target is a node that is down for good.
func (c *chaos) gone(f fault) bool {
	if f.Target == "" || strings.HasPrefix(f.Target, "nats-") {
		return false
	}
	n := c.node(f.Target)
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.failed != ""
}

func (c *chaos) apply(f fault) {
	t := c.t
	if c.gone(f) {
		c.logf("%v: skipped, %s is down for good", f, f.Target)
		return
	}
	switch f.Kind {
	case faultKill9:
		n := c.node(f.Target)
		c.kill(n, f.String())
		c.logf("%v: killed", f)
	case faultNATSKill:
		c.servers[serverIndex(f.Target)].Kill9(t)
		c.logf("%v: killed", f)
	case faultPartition:
		for _, p := range c.node(f.Target).proxies {
			p.Stop()
		}
		c.logf("%v: links cut", f)
	case faultSlowLink:
		for _, p := range c.node(f.Target).proxies {
			for _, stream := range []string{"upstream", "downstream"} {
				js := fmt.Sprintf(`{"name":"chaos_%s","type":"latency","stream":%q,"attributes":{"latency":200,"jitter":100}}`, stream, stream)
				if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
					t.Fatalf("%v: add toxic: %v", f, err)
				}
			}
		}
		c.logf("%v: 200±100 ms each way", f)
	case faultClockAhead:
		n := c.node(f.Target)
		c.stop(n, f.String())
		c.start(n, clockAhead, f.String())
		if !c.alive(n) {
			return
		}
		c.waitReady(n)
		c.logf("%v: restarted with --clock-offset %v; %s", f, clockAhead, c.flush(n))
	case faultFlush:
		n := c.node(f.Target)
		if !c.alive(n) {
			c.logf("%v: skipped, the node is down", f)
			return
		}
		c.logf("%v: %s", f, c.flush(n))
	case faultRecreateStream:
		c.recreateStream(f)
	case faultDamageStore:
		n := c.node(f.Target)
		c.kill(n, f.String())
		c.logf("%v: killed; %s", f, c.damage(n, f.Seed))
	}
}

func (c *chaos) heal(f fault) {
	if c.gone(f) {
		return
	}
	switch f.Kind {
	case faultKill9, faultDamageStore:
		n := c.node(f.Target)
		c.start(n, 0, "heal "+f.String())
		c.logf("heal %v: restarted", f)
	case faultNATSKill:
		c.servers[serverIndex(f.Target)].Start(c.t)
		c.logf("heal %v: restarted", f)
	case faultPartition:
		for _, p := range c.node(f.Target).proxies {
			if err := p.Start(); err != nil {
				c.t.Fatalf("heal %v: %v", f, err)
			}
		}
		c.logf("heal %v: links restored", f)
	case faultSlowLink:
		for _, p := range c.node(f.Target).proxies {
			for _, stream := range []string{"upstream", "downstream"} {
				if err := p.Toxics.RemoveToxic(c.t.Context(), "chaos_"+stream); err != nil {
					c.t.Fatalf("heal %v: %v", f, err)
				}
			}
		}
		c.logf("heal %v: latency removed", f)
	case faultClockAhead:
		n := c.node(f.Target)
		c.stop(n, "heal "+f.String())
		c.start(n, 0, "heal "+f.String())
		c.logf("heal %v: restarted with the right clock", f)
	}
}

func serverIndex(name string) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(name, "nats-"))
	return i - 1
}

// flush asks n for a flush with the admin token and describes the answer.
func (c *chaos) flush(n *chaosNode) string {
	req, err := http.NewRequest(http.MethodPost, n.baseURL()+"/v1/flush", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+chaosAdmin)
	resp, err := c.client.Do(req)
	if err != nil {
		return "flush failed: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("flush %d %s", resp.StatusCode, bytes.TrimSpace(b))
}

// damage flips one byte in each of eight pages of n's store (all there
// are, if fewer), drawn by seed among the pages bbolt has allocated: after
// the two meta pages, below the high-water mark of the newer meta page.
func (c *chaos) damage(n *chaosNode, seed uint64) string {
	path := filepath.Join(n.data, persist.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatalf("damage %s: %v", n.name, err)
	}
	// bbolt's meta page: a 16-byte page header, then magic, version,
	// page size (4 bytes each), flags, the root bucket (16), the freelist
	// page, the high-water mark and the transaction id (8 each).
	meta := func(off int) (pageSize int, hw, txid uint64) {
		if len(b) < off+80 {
			return 0, 0, 0
		}
		m := b[off+16:]
		return int(binary.LittleEndian.Uint32(m[8:])), binary.LittleEndian.Uint64(m[40:]), binary.LittleEndian.Uint64(m[48:])
	}
	pageSize, hw, txid := meta(0)
	if pageSize > 0 {
		if ps1, hw1, txid1 := meta(pageSize); ps1 == pageSize && txid1 > txid {
			hw = hw1
		}
	}
	if pageSize <= 0 || hw <= 2 || int(hw)*pageSize > len(b) {
		c.t.Fatalf("damage %s: cannot read the meta page of %s (page size %d, high-water mark %d, %d bytes)", n.name, path, pageSize, hw, len(b))
	}
	rng := rand.New(rand.NewPCG(seed, 0xda3a9e))
	candidates := rng.Perm(int(hw) - 2)
	var flipped []string
	for _, p := range candidates[:min(8, len(candidates))] {
		page := p + 2
		off := rng.IntN(pageSize)
		b[page*pageSize+off] ^= byte(1 + rng.IntN(255))
		flipped = append(flipped, fmt.Sprintf("%d+%d", page, off))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		c.t.Fatalf("damage %s: %v", n.name, err)
	}
	return fmt.Sprintf("flipped a byte in %d of the %d allocated pages of %s (page+offset): %s", len(flipped), hw, persist.FileName, strings.Join(flipped, " "))
}

// recreateStream deletes the stream, restarts the full nodes one by one
// (a full node provisions the stream at start), exporting each while it is
// stopped, and republishes the union of the exports through a transient
// full node: the recovery deploy/README.md gives for lost NATS state.
func (c *chaos) recreateStream(f fault) {
	t := c.t
	nc, err := nats.Connect(c.direct, nats.Name("chaos"), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("%v: connect to the cluster: %v", f, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poll.For(t, time.Minute, pollEvery, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := js.DeleteStream(ctx, "BLNODE")
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		return err
	})
	c.logf("%v: stream BLNODE deleted", f)
	var exports []string
	for _, n := range c.nodes {
		if n.role != "full" {
			continue
		}
		c.stop(n, f.String())
		out, stderr, code := runBin(t, c.bin, "export", "--data", n.data, "--progress", "none")
		if code != 0 {
			t.Fatalf("%v: export %s: exit %d: %s", f, n.name, code, stderr)
		}
		file := filepath.Join(c.dir, fmt.Sprintf("export-%d-%s.jsonl", f.N, n.name))
		if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		exports = append(exports, file)
		c.start(n, 0, f.String())
		c.logf("%v: %s restarted (provisions the stream), its store exported: %d lines", f, n.name, strings.Count(out, "\n"))
	}
	data := filepath.Join(c.dir, fmt.Sprintf("republisher-%d", f.N))
	for _, file := range exports {
		out, stderr, code := runBin(t, c.bin, "import", "--data", data, "--jsonl", file, "--node-id", "republisher", "--progress", "none")
		if code != 0 {
			t.Fatalf("%v: import %s: exit %d: %s%s", f, file, code, out, stderr)
		}
	}
	p := startServe(t, c.bin, "--data", data, "--node-id", "republisher", "--nats", c.direct, "--stream-replicas", "3",
		"--hs-secret-file", c.secret, "--admin-token-file", c.admin, "--flush-interval", "0")
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	var st crashStatus
	poll.For(t, 2*time.Minute, pollEvery, func() error {
		var err error
		if st, err = getStatus(c.client, p.url, chaosAdmin); err == nil && st.OutboxDepth != 0 {
			err = fmt.Errorf("republisher's outbox holds %d events", st.OutboxDepth)
		}
		return err
	})
	p.stop(t)
	c.logf("%v: history republished (%d blacklisted entries)", f, st.Blacklisted)
}

// mint returns a refresh token for a fresh jti, valid for ttl from now.
func (c *chaos) mint(now time.Time, ttl time.Duration) ackedToken {
	tok, jti := sjwt.Token{Type: "refresh", User: 42, TTL: ttl, Now: now}.Mint([]byte(chaosSecret))
	return ackedToken{jti: jti, tok: tok, exp: time.Unix(now.Add(ttl).Unix(), 0)}
}

// write revokes a new token every 50 ms on a full node that is up,
// alternating the nodes and the two routes, until ctx ends. Half the tokens
// live 3 to 8 minutes, half 1 to 24 hours.
func (c *chaos) write(ctx context.Context) {
	rng := rand.New(rand.NewPCG(c.seed, 0x771e))
	full := []*chaosNode{c.node("full-1"), c.node("full-2")}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ttl := 3*time.Minute + time.Duration(rng.Int64N(int64(5*time.Minute)))
		if rng.IntN(2) == 0 {
			ttl = time.Hour + time.Duration(rng.Int64N(int64(23*time.Hour)))
		}
		tk := c.mint(time.Now(), ttl)
		n := full[i%2]
		url := n.baseURL()
		if url == "" {
			n = full[(i+1)%2]
			if url = n.baseURL(); url == "" {
				continue
			}
		}
		path, body := "/v1/blacklist", `{"token":"`+tk.tok+`"}`
		if rng.IntN(2) == 0 {
			path, body = "/api/token/blacklist/", `{"refresh":"`+tk.tok+`"}`
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, strings.NewReader(body))
		if err != nil {
			c.t.Error(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+chaosAdmin)
		resp, err := c.client.Do(req)
		if err != nil {
			continue // not acknowledged: the node went down, or the test ends
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			continue // e.g. 401 from a node whose clock says the token expired
		}
		tk.at, tk.via = c.since(), n.name+" "+path
		c.mu.Lock()
		c.acked = append(c.acked, tk)
		c.mu.Unlock()
	}
}

func (c *chaos) ackedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

// verdict is what a node answers about a token.
type verdict int

const (
	unavailable verdict = iota // no answer, or not 200: not accepting
	accepted                   // 200, "valid": true
	revoked                    // 200, token_blacklisted
	rejected                   // 200, invalid for another reason (expired by the node's clock)
)

// checkToken asks POST /v1/check about tok.
func (c *chaos) checkToken(ctx context.Context, base, tok string) (verdict, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/check", strings.NewReader(`{"token":"`+tok+`"}`))
	if err != nil {
		return unavailable, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return unavailable, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	body := string(bytes.TrimSpace(b))
	if err != nil || resp.StatusCode != http.StatusOK {
		return unavailable, fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	var r struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return unavailable, body
	}
	switch {
	case r.Valid:
		return accepted, body
	case r.Code == "token_blacklisted":
		return revoked, body
	}
	return rejected, body
}

// check polls n until ctx ends: each round asks about the two newest
// acknowledged tokens and six that n has already rejected as blacklisted,
// and records any of those it accepts again.
func (c *chaos) check(ctx context.Context, n *chaosNode) {
	rng := rand.New(rand.NewPCG(c.seed, uint64(len(n.name))<<32|uint64(n.name[len(n.name)-1])))
	seen := map[string]time.Duration{} // jti → when n first answered blacklisted
	var seenList []ackedToken
	reported := map[string]bool{}
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		base := n.baseURL()
		if base == "" {
			continue
		}
		c.mu.Lock()
		sample := slices.Clone(c.acked[max(0, len(c.acked)-2):])
		c.mu.Unlock()
		for range min(6, len(seenList)) {
			sample = append(sample, seenList[rng.IntN(len(seenList))])
		}
		for _, tk := range sample {
			v, body := c.checkToken(ctx, base, tk.tok)
			if ctx.Err() != nil {
				return
			}
			now := c.since()
			switch v {
			case revoked:
				if _, ok := seen[tk.jti]; !ok {
					seen[tk.jti] = now
					seenList = append(seenList, tk)
				}
			case accepted:
				if at, ok := seen[tk.jti]; ok && !reported[tk.jti] {
					reported[tk.jti] = true
					n.mu.Lock()
					starts, offset := n.starts, n.offset
					n.mu.Unlock()
					key := c.faultsOn(n.name, at, now)
					c.mu.Lock()
					c.nviolation++
					logIt := c.nviolation <= 10
					g := c.violations[key]
					if g == nil {
						if c.violations == nil {
							c.violations = map[string]*violations{}
						}
						g = &violations{}
						c.violations[key] = g
						c.vkeys = append(c.vkeys, key)
					}
					g.n++
					if !slices.Contains(g.nodes, n.name) {
						g.nodes = append(g.nodes, n.name)
					}
					if len(g.first) < 3 {
						g.first = append(g.first, violation{node: n.name, tok: tk, rejected: at, accepted: now, acceptedBody: body,
							nodeStarts: strconv.Itoa(starts), nodeOffset: offset.String()})
					}
					c.mu.Unlock()
					if logIt {
						c.t.Logf("+%v VIOLATION: %s accepts jti %s again (rejected as blacklisted at +%v); reported in full at the end", now, n.name, tk.jti, at)
					}
				}
			}
		}
	}
}

// faultsOn returns the faults and heals logged in (from, to] that touched
// node: a fault on it, its heal, or one that touches every node (a NATS
// server, the stream, a flush, a skewed clock), each as the fault's own
// description.
func (c *chaos) faultsOn(node string, from, to time.Duration) string {
	var out []string
	for _, line := range c.appliedUntil(to, 0) {
		f := strings.Fields(line)
		for i := range f {
			f[i] = strings.TrimSuffix(f[i], ":")
		}
		if len(f) < 4 || !strings.HasPrefix(f[1], "#") && f[1] != "heal" {
			continue // not a fault or a heal
		}
		if d, err := time.ParseDuration(strings.TrimPrefix(f[0], "+")); err != nil || d <= from {
			continue
		}
		global := slices.ContainsFunc(f, func(w string) bool {
			return slices.Contains([]faultKind{faultNATSKill, faultRecreateStream, faultFlush, faultClockAhead}, faultKind(w))
		})
		if global || slices.Contains(f, node) {
			what, _, _ := strings.Cut(line, ": ")
			_, what, _ = strings.Cut(what, " ") // the fault says when it was scheduled
			if !slices.Contains(out, what) {
				out = append(out, what)
			}
		}
	}
	if len(out) == 0 {
		return "no fault touched the node"
	}
	return strings.Join(out, "; ")
}

// reportViolations reports the acceptances after a rejection, grouped by
// the faults that touched the node between the rejection and the
// acceptance: which fault broke the invariant.
func (c *chaos) reportViolations() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nviolation == 0 {
		return
	}
	c.t.Errorf("%d times a node accepted a token after it had rejected it as blacklisted (seed %d; replay: %s); "+
		"by the faults that touched the node between its rejection and its acceptance:", c.nviolation, c.seed, c.replay)
	for i, key := range c.vkeys {
		if i == 20 {
			c.t.Errorf("... and %d more groups", len(c.vkeys)-i)
			break
		}
		g := c.violations[key]
		var first []string
		for _, v := range g.first {
			first = append(first, fmt.Sprintf("%s accepted jti %s at +%v, after rejecting it as blacklisted at +%v; "+
				"revocation acknowledged at +%v by %s, token exp %s (%v after the acknowledgement); the node's start #%s, clock offset %s; its answer %s",
				v.node, v.tok.jti, v.accepted, v.rejected, v.tok.at, v.tok.via, v.tok.exp.UTC().Format(time.TimeOnly),
				v.tok.exp.Sub(c.began.Add(v.tok.at)).Round(time.Second), v.nodeStarts, v.nodeOffset, v.acceptedBody))
		}
		c.t.Errorf("%d after [%s], on %s, e.g.:\n  %s", g.n, key, strings.Join(g.nodes, ", "), strings.Join(first, "\n  "))
	}
}

// appliedUntil returns the last max lines logged up to at (0: all).
func (c *chaos) appliedUntil(at time.Duration, max int) []string {
	var out []string
	for _, line := range c.appliedSoFar(0) {
		d, err := time.ParseDuration(strings.TrimPrefix(strings.Fields(line)[0], "+"))
		if err == nil && d > at {
			break
		}
		out = append(out, line)
	}
	if max > 0 && len(out) > max {
		out = append([]string{fmt.Sprintf("(%d earlier lines)", len(out)-max)}, out[len(out)-max:]...)
	}
	return out
}

func (c *chaos) waitReady(nodes ...*chaosNode) {
	poll.For(c.t, 2*time.Minute, pollEvery, func() error {
		for _, n := range nodes {
			if err := wantStatus(n.baseURL()+"/readyz", http.StatusOK); err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
		}
		return nil
	})
}

// waitConverged waits until every node is ready, connected and caught up,
// the full nodes' outboxes are empty and every node shows one blacklist
// digest. It reports an error and returns false at the deadline.
func (c *chaos) waitConverged() bool {
	within := 2 * time.Minute
	if longRun() {
		within = 5 * time.Minute
	}
	began := time.Now()
	if err := poll.Until(context.Background(), within, 200*time.Millisecond, c.converged); err != nil {
		c.t.Errorf("the fleet did not converge within %v of the faults healing (seed %d; replay: %s): %v", within, c.seed, c.replay, err)
		return false
	}
	c.logf("the running nodes converged %v after the faults healed", time.Since(began).Round(time.Millisecond))
	return true
}

func (c *chaos) converged() error {
	var problems []string
	digests := map[string][]string{}
	for _, n := range c.nodes {
		n.mu.Lock()
		failed := n.failed
		n.mu.Unlock()
		if failed != "" {
			continue // down for good, and reported
		}
		if !c.alive(n) {
			problems = append(problems, n.name+" is not running")
			continue
		}
		st, err := getStatus(c.client, n.baseURL(), chaosAdmin)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", n.name, err))
			continue
		}
		if !st.Ready || st.NATS != "connected" || st.Lag != 0 || st.OutboxDepth != 0 {
			problems = append(problems, fmt.Sprintf("%s: ready %v, nats %s, lag %d, outbox %d", n.name, st.Ready, st.NATS, st.Lag, st.OutboxDepth))
		}
		digests[st.Digest] = append(digests[st.Digest], n.name)
	}
	if len(digests) > 1 {
		var ds []string
		for d, names := range digests {
			ds = append(ds, fmt.Sprintf("%s on %s", d, strings.Join(names, ", ")))
		}
		slices.Sort(ds)
		problems = append(problems, "blacklist digests differ: "+strings.Join(ds, "; "))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// finalCheck asks every node about every acknowledged revocation: each must
// be rejected (as blacklisted, or as expired); the control token, never
// revoked, must be accepted.
func (c *chaos) finalCheck(control ackedToken, converged bool) {
	c.mu.Lock()
	acked := slices.Clone(c.acked)
	c.mu.Unlock()
	if len(acked) == 0 {
		c.t.Fatalf("no revocation was acknowledged (seed %d)", c.seed)
	}
	ctx := c.t.Context()
	for _, n := range c.nodes {
		base := n.baseURL()
		if base == "" {
			c.t.Errorf("%s is not running at the end (seed %d; replay: %s)", n.name, c.seed, c.replay)
			continue
		}
		if v, body := c.checkToken(ctx, base, control.tok); v != accepted {
			c.t.Errorf("%s does not accept a token that was never revoked: %s (seed %d)", n.name, body, c.seed)
		}
		var accepts, unanswered []string
		expired := 0
		for _, tk := range acked {
			v, body := c.checkToken(ctx, base, tk.tok)
			switch v {
			case accepted:
				accepts = append(accepts, fmt.Sprintf("%s (acknowledged at +%v by %s, exp %s)", tk.jti, tk.at, tk.via, tk.exp.UTC().Format(time.TimeOnly)))
			case unavailable:
				unanswered = append(unanswered, fmt.Sprintf("%s: %s", tk.jti, body))
			case rejected:
				expired++
			}
		}
		if len(accepts) > 0 {
			examples := accepts
			if len(accepts) > 10 {
				examples = slices.Concat(accepts[:5], []string{"..."}, accepts[len(accepts)-5:])
			}
			c.t.Errorf("%s accepts %d of the %d acknowledged revocations after the faults healed (converged: %v; seed %d; replay: %s), in order of acknowledgement:\n  %s",
				n.name, len(accepts), len(acked), converged, c.seed, c.replay, strings.Join(examples, "\n  "))
		}
		if len(unanswered) > 0 {
			c.t.Errorf("%s does not answer about %d of the %d acknowledged revocations after the faults healed (seed %d), e.g. %s",
				n.name, len(unanswered), len(acked), c.seed, unanswered[0])
		}
		c.t.Logf("%s: %d acknowledged revocations, %d rejected as blacklisted, %d as expired (or otherwise invalid), %d accepted", n.name, len(acked),
			len(acked)-len(accepts)-len(unanswered)-expired, expired, len(accepts))
	}
}

// argValue returns the value after flag in args ("" if absent).
func argValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// headOf returns the first n lines of s.
func headOf(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("(%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}

// tailOf returns the last n lines of s.
func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestHelperNATSServer is not a test: natsproc runs it in a child process
// as a nats-server.
func TestHelperNATSServer(t *testing.T) { natsproc.Helper(t) }
