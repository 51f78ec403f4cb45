package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
)

// verifyLevel is one concurrency level of the verify scenario.
type verifyLevel struct {
	clients        int
	rate, p50, p99 series
	clientCPU      series // cores used by this process (the load generator)
	serverCPU      series // cores used by the blnode process
	clientUs       series // load generator CPU µs per request
	serverUs       series // server CPU µs per request
}

func (b *bench) runVerify(ctx context.Context, s *section) error {
	cfg := b.cfg
	dir, err := b.dir("verify")
	if err != nil {
		return err
	}
	proc, err := b.startBlnode(ctx, "blnode (verify)", dir, "--no-nats")
	if err != nil {
		return err
	}
	defer proc.stop()
	toks := make([]string, 4096)
	for i := range toks {
		toks[i], _ = sjwt.Token{Type: "access", User: i, TTL: 2 * time.Hour}.Mint([]byte(benchSecret))
	}
	bodies := make([]string, len(toks))
	for i, t := range toks {
		bodies[i] = `{"token":"` + t + `"}`
	}
	maxClients := 1
	for _, c := range cfg.sizes.verify {
		maxClients = max(maxClients, c)
	}
	hc := newHTTPClient(maxClients)
	defer hc.CloseIdleConnections()
	url := proc.url + "/api/token/verify/"
	call := func(i int) error {
		code, err := post(ctx, hc, url, bodies[i%len(bodies)], "", nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("POST /api/token/verify/: %d", code)
		}
		return err
	}
	if err := call(0); err != nil {
		return err
	}
	warm := closedLoop(ctx, maxClients, 10*time.Second, 4096, false, func(w, i int) error { return call(w*64 + i) })
	if warm.errs > 0 {
		return warm.firstErr
	}

	levels := make([]*verifyLevel, len(cfg.sizes.verify))
	for i, c := range cfg.sizes.verify {
		levels[i] = &verifyLevel{clients: c}
	}
	for round := range cfg.rounds {
		for _, l := range levels {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c0, s0 := selfCPU(), mustStat(proc.pid())
			r := closedLoop(ctx, l.clients, cfg.duration, 0, true, func(w, i int) error { return call(round*31 + w*97 + i) })
			c1, s1 := selfCPU(), mustStat(proc.pid())
			if r.errs > 0 {
				return fmt.Errorf("verify at %d clients: %d of %d failed: %w", l.clients, r.errs, r.ops, r.firstErr)
			}
			sec := r.elapsed.Seconds()
			l.rate = append(l.rate, r.rate())
			l.p50 = append(l.p50, r.lat.quantile(0.5))
			l.p99 = append(l.p99, r.lat.quantile(0.99))
			l.clientCPU = append(l.clientCPU, (c1-c0).Seconds()/sec)
			l.serverCPU = append(l.serverCPU, (s1.cpu-s0.cpu).Seconds()/sec)
			l.clientUs = append(l.clientUs, float64((c1-c0).Microseconds())/float64(r.ops))
			l.serverUs = append(l.serverUs, float64((s1.cpu-s0.cpu).Microseconds())/float64(r.ops))
			b.logf("verify round %d clients %3d: %s p50 %s p99 %s; load generator %.2f cores, server %.2f cores", round+1, l.clients,
				fmtRate(r.rate()), fmtNs(r.lat.quantile(0.5)), fmtNs(r.lat.quantile(0.99)), (c1-c0).Seconds()/sec, (s1.cpu-s0.cpu).Seconds()/sec)
		}
	}
	s.para("`POST /api/token/verify/` with `{\"token\": …}` (JSON) against a `blnode serve --no-nats` process: %d distinct HS256 access tokens minted "+
		"the way Simple JWT mints them (`internal/sjwt`), none blacklisted, each answered 200 `{}` (every answer is checked). "+
		"Closed loop: each client sends its next request when the previous answer arrives, over a keep-alive connection. %v per level per round; "+
		"levels alternate within each round (%s).", len(toks), cfg.duration, joinInts(cfg.sizes.verify))
	s.para("CPU: the load generator (this process, `getrusage`) and the server (`/proc/PID/stat`, 10 ms ticks) share the machine's %d cores; "+
		"cores = CPU seconds per wall second.", b.env.cores)
	t := s.table(fmt.Sprintf("Verify over HTTP, min / **median** / max over %d rounds", cfg.rounds),
		"clients", "requests/s", "p50", "p99", "load generator CPU (cores)", "server CPU (cores)", "load generator CPU per request", "server CPU per request")
	var cx, cy []float64
	for _, l := range levels {
		t.row(fmt.Sprint(l.clients), l.rate.summary().format(fmtRate), l.p50.summary().format(fmtNs), l.p99.summary().format(fmtNs),
			l.clientCPU.summary().format(fmtFloat(2, "")), l.serverCPU.summary().format(fmtFloat(2, "")),
			l.clientUs.summary().format(fmtFloat(1, " µs")), l.serverUs.summary().format(fmtFloat(1, " µs")))
		cx = append(cx, float64(l.clients))
		cy = append(cy, l.rate.summary().Median)
	}
	s.note("The original (Django REST framework Simple JWT) is not installed on this machine, so the design's \"many times the throughput of the original\" " +
		"is not measured by this run.")
	file := "verify_throughput.png"
	if err := b.lineChart(file, "Verify over HTTP: throughput vs concurrency (median of rounds)", "concurrent clients (log scale)", "requests/s",
		true, false, []curve{{name: "blnode POST /api/token/verify/", xs: cx, ys: cy}}); err != nil {
		return err
	}
	s.charts = append(s.charts, chartRef{file, "verify throughput vs concurrency"})
	raw := []map[string]any{}
	for _, l := range levels {
		raw = append(raw, map[string]any{"clients": l.clients, "req_per_s": l.rate, "p50_ns": l.p50, "p99_ns": l.p99,
			"client_cores": l.clientCPU, "server_cores": l.serverCPU})
	}
	b.raw["verify"] = raw
	return nil
}

func mustStat(pid int) procStat {
	st, _ := readProcStat(pid)
	return st
}
