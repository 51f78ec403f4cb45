package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/blnode/blnode/internal/original"
	"github.com/blnode/blnode/internal/sjwt"
)

// verifyServer is one contender of the verify scenario: a server answering
// POST /api/token/verify/.
type verifyServer struct {
	name   string
	url    string               // http://host:port
	raw    *rawClient           // the load generator's connections to it
	cpu    func() time.Duration // the server's CPU time so far (every process of it)
	levels []*verifyLevel
	bodies []string // the requests' bodies; nil: the run's (HS256)
	// original marks Simple JWT, and floor the net/http floor (blfloor):
	// the contenders the targets compare with.
	original, floor bool
}

// verifyLevel is one concurrency level of one verify contender.
type verifyLevel struct {
	clients        int
	rate, p50, p99 series
	clientCPU      series // cores used by this process (the load generator)
	serverCPU      series // cores used by the server
	clientUs       series // load generator CPU µs per request
	serverUs       series // server CPU µs per request
}

// runVerify measures POST /api/token/verify/ on blnode and, when
// installed, on the original, at each concurrency level in rounds.
func (b *bench) runVerify(ctx context.Context, s *section) error {
	vr, err := b.setUpVerify(ctx)
	if err != nil {
		return err
	}
	defer vr.stop.run()
	if err := b.warmUpVerify(ctx, vr); err != nil {
		return err
	}
	if err := b.measureVerify(ctx, vr); err != nil {
		return err
	}
	if err := b.measureJWKSInproc(ctx, vr); err != nil {
		return err
	}
	if err := b.reportVerify(s, vr); err != nil {
		return err
	}
	return b.reportJWKS(s, vr)
}

// verifyRun is what the verify scenario runs against.
type verifyRun struct {
	servers    []*verifyServer // blnode first
	bodies     []string        // the requests' bodies, one per token
	maxClients int
	issuer     *jwksIssuer // the JWKS the RS256 and ES256 tokens verify through
	jwks       *jwksInproc // the in-process figures
	stop       cleanups
}

// setUpVerify is the verify scenario's set-up: a "blnode serve --no-nats",
// the original when installed, the tokens and the load generator's
// client. On error it stops what it started.
func (b *bench) setUpVerify(ctx context.Context) (_ *verifyRun, err error) {
	cfg := b.cfg
	vr := &verifyRun{}
	defer func() {
		if err != nil {
			vr.stop.run()
		}
	}()
	dir, err := b.dir("verify")
	if err != nil {
		return nil, err
	}
	if vr.issuer, err = startJWKSIssuer(); err != nil {
		return nil, err
	}
	vr.stop.add(vr.issuer.close)
	proc, err := b.startBlnode(ctx, "blnode (verify)", dir, "--no-nats", "--jwks-url", vr.issuer.url)
	if err != nil {
		return nil, err
	}
	vr.stop.add(func() { _ = proc.Stop() })
	if err := waitHTTP(ctx, proc.url+"/readyz", startTimeout, proc.Done()); err != nil {
		return nil, fmt.Errorf("blnode (verify) never fetched the JWKS: %w", err)
	}
	blnodeCPU := func() time.Duration { return mustStat(proc.Pid()).cpu }
	vr.servers = []*verifyServer{{name: "blnode", url: proc.url, cpu: blnodeCPU}}
	if b.needsFloor("verify: the net/http floor (blfloor)") {
		fdir, err := b.dir("verify-floor")
		if err != nil {
			return nil, err
		}
		fp, err := b.startFloor(ctx, "blfloor (verify)", fdir)
		if err != nil {
			return nil, err
		}
		vr.stop.add(func() { _ = fp.Stop() })
		vr.servers = append(vr.servers, &verifyServer{name: verifyFloorName, url: fp.url,
			cpu: func() time.Duration { return mustStat(fp.Pid()).cpu }, floor: true})
	}
	if b.needsSimpleJWT("verify: the original, Simple JWT `POST /api/token/verify/`") {
		sp, err := b.startSimpleJWT(ctx, "Simple JWT (verify)", "verify-simplejwt")
		if err != nil {
			return nil, err
		}
		vr.stop.add(func() { _ = sp.Stop() })
		vr.servers = append(vr.servers, &verifyServer{name: "Simple JWT (the original)", url: sp.url, cpu: sp.cpu, original: true})
	}
	for _, alg := range []string{"RS256", "ES256"} {
		bodies := make([]string, 1024)
		for i := range bodies {
			tok, err := vr.issuer.sign(alg, vr.issuer.kid(alg), i)
			if err != nil {
				return nil, err
			}
			bodies[i] = `{"token":"` + tok + `"}`
		}
		vr.servers = append(vr.servers, &verifyServer{name: "blnode " + alg + " (JWKS)", url: proc.url, cpu: blnodeCPU, bodies: bodies})
	}
	toks := make([]string, 4096)
	for i := range toks {
		toks[i], _ = sjwt.Token{Type: "access", User: i, TTL: 2 * time.Hour}.Mint([]byte(benchSecret))
	}
	vr.bodies = make([]string, len(toks))
	for i, t := range toks {
		vr.bodies[i] = `{"token":"` + t + `"}`
	}
	vr.maxClients = 1
	for _, c := range cfg.sizes.verify {
		vr.maxClients = max(vr.maxClients, c)
	}
	for _, v := range vr.servers {
		if v.raw, err = newRawClient(v.url, vr.maxClients); err != nil {
			return nil, err
		}
		vr.stop.add(v.raw.close)
	}
	return vr, nil
}

// verifyPath is the path every verify contender serves.
const verifyPath = "/api/token/verify/"

// call sends v's i-th body (modulo their number) to v on worker w's
// connection and checks that it is answered 200.
func (vr *verifyRun) call(ctx context.Context, v *verifyServer, w, i int) error {
	bodies := vr.bodies
	if v.bodies != nil {
		bodies = v.bodies
	}
	code, err := v.raw.post(ctx, w, verifyPath, bodies[i%len(bodies)], "")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("POST /api/token/verify/: %d", code)
	}
	return err
}

// warmUpVerify checks one verify on each server, warms it up over every
// token, and gives it a level per concurrency level.
func (b *bench) warmUpVerify(ctx context.Context, vr *verifyRun) error {
	for _, v := range vr.servers {
		if err := vr.call(ctx, v, 0, 0); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		warm := closedLoop(ctx, vr.maxClients, 10*time.Second, 4096, false, func(w, i int) error { return vr.call(ctx, v, w, w*64+i) })
		if warm.errs > 0 {
			return fmt.Errorf("%s: %w", v.name, warm.firstErr)
		}
		for _, c := range b.cfg.sizes.verify {
			v.levels = append(v.levels, &verifyLevel{clients: c})
		}
	}
	return nil
}

// measureVerify is the verify scenario's measurement: in each round, each
// level of each server in turn, with the CPU the load generator and the
// server used.
func (b *bench) measureVerify(ctx context.Context, vr *verifyRun) error {
	cfg := b.cfg
	for round := range cfg.rounds {
		for li := range cfg.sizes.verify {
			for _, v := range vr.servers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				l := v.levels[li]
				c0, s0 := selfCPU(), v.cpu()
				r := closedLoop(ctx, l.clients, cfg.duration, 0, true, func(w, i int) error { return vr.call(ctx, v, w, round*31+w*97+i) })
				c1, s1 := selfCPU(), v.cpu()
				if r.errs > 0 {
					return fmt.Errorf("%s verify at %d clients: %d of %d failed: %w", v.name, l.clients, r.errs, r.ops, r.firstErr)
				}
				sec := r.elapsed.Seconds()
				l.rate = append(l.rate, r.rate())
				l.p50 = append(l.p50, r.lat.quantile(0.5))
				l.p99 = append(l.p99, r.lat.quantile(0.99))
				l.clientCPU = append(l.clientCPU, (c1-c0).Seconds()/sec)
				l.serverCPU = append(l.serverCPU, (s1-s0).Seconds()/sec)
				l.clientUs = append(l.clientUs, float64((c1-c0).Microseconds())/float64(r.ops))
				l.serverUs = append(l.serverUs, float64((s1-s0).Microseconds())/float64(r.ops))
				b.logf("verify round %d clients %3d %-26s %s p50 %s p99 %s; load generator %.2f cores, server %.2f cores", round+1, l.clients, v.name,
					fmtRate(r.rate()), fmtNs(r.lat.quantile(0.5)), fmtNs(r.lat.quantile(0.99)), (c1-c0).Seconds()/sec, (s1-s0).Seconds()/sec)
			}
		}
	}
	return nil
}

// reportVerify writes the verify scenario's section, judges the target
// against the original and keeps the figures for results.json.
func (b *bench) reportVerify(s *section, vr *verifyRun) error {
	cfg, servers := b.cfg, vr.servers
	s.para("`POST /api/token/verify/` with `{\"token\": …}` (JSON): %d distinct HS256 access tokens minted "+
		"the way Simple JWT mints them (`internal/sjwt`), none blacklisted, each answered 200 `{}` (every answer is checked); "+
		"for the JWKS contenders, 1024 RS256 (RSA 2048) or ES256 tokens with a `kid`, signed by an issuer whose JWK Set "+
		"(served on loopback by this process) the same blnode process fetched with `--jwks-url`. "+
		"Closed loop: each client sends its next request when the previous answer arrives. %v per contender per level per round; "+
		"levels and contenders alternate within each round (%s).", len(vr.bodies), cfg.duration, joinInts(cfg.sizes.verify))
	s.para("blnode is a `blnode serve --no-nats` process. The load generator is blbench's own HTTP/1.1 client (`rawhttp.go`), built like wrk, "+
		"with which the issue measured its floor: a keep-alive connection per client, each request one write, of the answer only what frames it read. "+
		"Go's `net/http` client costs about as much CPU per request as the floor itself, taken from the servers on these cores, and it drew "+
		"blnode's share of the floor up to 0.83–0.88× in the runs before it, where this client measures about 0.7×. The original is Django REST framework Simple JWT's "+
		"`TokenVerifyView` with its `token_blacklist` app (`BLACKLIST_AFTER_ROTATION`, so each verify asks the database whether the jti is blacklisted), "+
		"in a minimal Django project (`internal/original/project/`: only CommonMiddleware, no sessions, SQLite) served by gunicorn with %d sync workers, "+
		"gunicorn's recommended (2 × cores) + 1; sync workers close the connection after each answer, as they do in production.",
		original.RecommendedWorkers(b.env.cores))
	s.para("The net/http floor is `cmd/blfloor`, a process of its own built by blbench beside blnode: a bare Go `net/http` server that reads the same body, " +
		"decodes its JSON with `encoding/json` and answers 200 `{}`, with no signature, claims or revocation check: the least any Go server answering " +
		"this request does. blnode's HS256 verify is judged as a share of it, pair by pair (the same round, the same level).")
	s.para("CPU: the load generator (this process, `getrusage`) and the server (`/proc/PID/stat`, 10 ms ticks; gunicorn's master and workers together) "+
		"share the machine's %d cores; cores = CPU seconds per wall second.", b.env.cores)
	s.note("what a profile of `blnode serve` under 64 verify clients found, and what changed (issue 21): DRF's general body parse " +
		"(`encoding/json` into a map, then the duplicate-key scan) took 15%% of the process's CPU and the JWT header's and payload's " +
		"`encoding/json` decoding 13%%; a second base64 decoding of both segments for PyJWT's checks 3%%; allocations (62 per `Verify`, " +
		"more per request) kept the GC at about 15%%. The verify view now reads the usual one-field body in one pass, falling back to the " +
		"general parse for any other; `token.Verifier.parse` is golang-jwt's `ParseWithClaims` step for step (its segment decoding, signing " +
		"methods, signature check and validator) with flat headers and payloads read in one pass into the maps `encoding/json` builds, " +
		"keys and values slices of one copy; both are fuzzed against the general paths. `Verify`: 62 → 29 allocations.")
	t := s.table(fmt.Sprintf("Verify over HTTP, min / **median** / max over %d rounds", cfg.rounds),
		"contender", "clients", "requests/s", "p50", "p99", "load generator CPU (cores)", "server CPU (cores)", "load generator CPU per request", "server CPU per request")
	var curves []curve
	for _, v := range servers {
		cv := curve{name: v.name + " POST /api/token/verify/"}
		for _, l := range v.levels {
			t.row(v.name, fmt.Sprint(l.clients), l.rate.summary().format(fmtRate), l.p50.summary().format(fmtNs), l.p99.summary().format(fmtNs),
				l.clientCPU.summary().format(fmtFloat(2, "")), l.serverCPU.summary().format(fmtFloat(2, "")),
				l.clientUs.summary().format(fmtFloat(1, " µs")), l.serverUs.summary().format(fmtFloat(1, " µs")))
			cv.xs = append(cv.xs, float64(l.clients))
			cv.ys = append(cv.ys, l.rate.summary().Median)
		}
		curves = append(curves, cv)
	}
	orig := slices.IndexFunc(servers, func(v *verifyServer) bool { return v.original })
	if orig > 0 {
		rt := s.table("blnode ÷ Simple JWT, round by round, min / **median** / max", "clients", "throughput", "server CPU per request (Simple JWT ÷ blnode)")
		var top series
		for li, c := range cfg.sizes.verify {
			bl, sj := servers[0].levels[li], servers[orig].levels[li]
			rt.row(fmt.Sprint(c), ratios(bl.rate, sj.rate).summary().format(fmtRatio), ratios(sj.serverUs, bl.serverUs).summary().format(fmtRatio))
			top = ratios(bl.rate, sj.rate)
		}
		b.judge(target{what: "HTTP verify vs the original (design: many times its throughput)", basis: ratioVs("Simple JWT"), goal: "≥ 10×",
			figure: fmt.Sprintf("%s at %d clients (throughput, median of pairs)", fmtRatio(top.summary().Median), cfg.sizes.verify[len(cfg.sizes.verify)-1]),
			over:   top, per: "pair", limit: 10})
	} else {
		b.targetMissing("HTTP verify vs the original (design: many times its throughput)", ratioVs("Simple JWT"), "≥ 10×", "Simple JWT is not installed")
	}
	b.verifyFloorTargets(s, vr)
	file := "verify_throughput.png"
	if err := b.lineChart(file, "Verify over HTTP: throughput vs concurrency (median of rounds)", "concurrent clients (log scale)", "requests/s (log scale)",
		true, true, curves); err != nil {
		return err
	}
	s.charts = append(s.charts, chartRef{file, "verify throughput vs concurrency"})
	raw := []map[string]any{}
	for _, v := range servers {
		for _, l := range v.levels {
			raw = append(raw, map[string]any{"contender": v.name, "clients": l.clients, "req_per_s": l.rate, "p50_ns": l.p50, "p99_ns": l.p99,
				"client_cores": l.clientCPU, "server_cores": l.serverCPU})
		}
	}
	b.raw["verify"] = raw
	return nil
}

// verifyFloorName names the net/http floor among the verify contenders.
const verifyFloorName = "net/http floor (blfloor: decode the JSON, answer {})"

// verifyFloorGoal is the share of the floor's throughput blnode's HS256
// verify must reach, median of pairs.
const verifyFloorGoal = 0.8

// verifyFloorTargets reports blnode's HS256 verify against the net/http
// floor at every level and judges it at verifyFloorLevels.
func (b *bench) verifyFloorTargets(s *section, vr *verifyRun) {
	cfg, servers := b.cfg, vr.servers
	fl := slices.IndexFunc(servers, func(v *verifyServer) bool { return v.floor })
	const what = "HTTP verify (HS256) vs the net/http floor"
	if fl < 0 {
		b.targetMissing(what, ratioVs("the net/http floor"), fmt.Sprintf("≥ %.1f×", verifyFloorGoal), "blfloor could not be built")
		return
	}
	bl, floor := servers[0], servers[fl]
	rt := s.table("blnode HS256 ÷ the net/http floor, round by round, min / **median** / max", "clients", "throughput", "server CPU per request (floor ÷ blnode)")
	for li, c := range cfg.sizes.verify {
		rt.row(fmt.Sprint(c), ratios(bl.levels[li].rate, floor.levels[li].rate).summary().format(fmtRatio),
			ratios(floor.levels[li].serverUs, bl.levels[li].serverUs).summary().format(fmtRatio))
	}
	// The levels judged; when none of them was measured, the highest
	// level measured stands in.
	verifyFloorLevels := []int{8, 64}
	var judged []int
	for _, c := range verifyFloorLevels {
		if slices.Contains(cfg.sizes.verify, c) {
			judged = append(judged, c)
		}
	}
	note := ""
	if len(judged) == 0 {
		judged = []int{cfg.sizes.verify[len(cfg.sizes.verify)-1]}
		note = fmt.Sprintf("levels %v not measured (-sizes verify=%s): judged at the highest", verifyFloorLevels, joinInts(cfg.sizes.verify))
	}
	for _, c := range judged {
		li := slices.Index(cfg.sizes.verify, c)
		r := ratios(bl.levels[li].rate, floor.levels[li].rate)
		b.judge(target{what: fmt.Sprintf("%s at %d clients", what, c), basis: ratioVs("the net/http floor"), goal: fmt.Sprintf("≥ %.1f×", verifyFloorGoal),
			figure: fmt.Sprintf("%s (throughput, median of pairs; %s vs %s)", fmtRatio(r.summary().Median),
				fmtRate(bl.levels[li].rate.summary().Median), fmtRate(floor.levels[li].rate.summary().Median)),
			note: note, over: r, per: "pair", limit: verifyFloorGoal})
	}
}

func mustStat(pid int) procStat {
	st, _ := readProcStat(pid)
	return st
}
