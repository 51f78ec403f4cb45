package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickRun runs every scenario with a tiny configuration, as
// "go run ./cmd/blbench -quick" does with small ones: everything starts,
// measures, stops and reports. Its numbers are not asserted.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes, NATS servers and redis-server: not with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-quick", "-allow-missing", "-out", out, "-timeout", "3m", "-rounds", "1", "-duration", "40ms",
		"-prop-duration", "100ms", "-clients", "4", "-sizes", "check=2000,replay=2000,flush=2000,memory=500/2000,verify=1/4,write=1/8,django=2,feed=1/3,validators=2", "-feed-duration", "100ms", "-feed-burst", "200",
		"-fleet-sizes", "2,3", "-fleet-duration", "200ms", "-fleet-idle", "200ms",
		"-regions-count", "2", "-regions-validators", "2", "-regions-duration", "1s", "-join-events", "2000", "-join-validators", "3"}
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("blbench %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	report, err := os.ReadFile(filepath.Join(out, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(report)
	for _, want := range []string{"## Targets", "## Machine and versions", "go run ./cmd/blbench -quick",
		// Each target says its basis; ratios against the same run's anchors;
		// the spread of each judged figure.
		"| target | basis | goal | measured | status | note |", "### Run-to-run spread",
		"| HTTP verify (HS256) vs the net/http floor at 4 clients | ratio vs the net/http floor |",
		"| flush of 2000 expired entries vs a bare bbolt delete of the same keys | ratio vs a bare bbolt bulk delete |",
		"| replay rate vs a bare decode-and-insert of the same events | ratio vs a bare decode-and-insert loop |",
		"| propagation p99 through the 3-server cluster vs a bare JetStream publish → ordered consumer | ratio vs JetStream publish → ordered consumer, same cluster |",
		"| net/http floor (blfloor: decode the JSON, answer {}) | 4 |", "| net/http floor (blfloor: decode, append to a file, fsync per batch) | 8 |",
		"| check p99 during the flush | absolute (margin 50%: < 500 µs) |",
		"## Check: is this jti revoked?", "## Verify over HTTP",
		// JWKS beside HS256: over HTTP, in-process, and during forced fetches.
		"| blnode RS256 (JWKS) | 4 |", "| blnode ES256 (JWKS) | 4 |", "| RS256 | JWKS (by kid) |", "| ES256 | JWKS (by kid) |",
		"Concurrent RS256 verifies during forced JWKS fetches", "| JWKS fetches never stall checks",
		"## Durable writes", "scrapes its `GET /metrics` every 100ms", "## Propagation writer → validators",
		"## Replay: a fresh validator catches up", "## Flush under load", "## Memory per blacklisted entry",
		"## Fleet at scale: N validators in one process",
		// A row per fleet size and rate, a cost row per size, the targets.
		"| 2 | 1000 |", "| 2 | 100 |", "| 3 | 1000 |", "| 3 | 100 |", "| fleet propagation p99, 200 validators at 1000 writes/s |",
		"| validator RSS, idle |", "| validator CPU per live event, over the transport floor |", "| fleet: write × validator pairs missing | absolute (exact) | 0 | 0 of ",
		// Same- and cross-region rows, the from → to table, none missing.
		"## Regions: a multi-region fleet in one process", "| same region | 200 |", "| cross region | 200 |", "| from ↓ to → | r0 | r1 |",
		"| regions: write × validator pairs missing | absolute (exact) | 0 | 0 of 400 |",
		"## Join: empty validators at a large revocation set", "| from the snapshot |", "| without a snapshot (the whole stream) | ",
		"| an empty validator ready, joining from a snapshot |", "| 3 validators started together all ready |",
		"| validator memory per live revocation |",
		"## Django: Simple JWT's authentication against blnode_django's",
		// A table per client count; the clients' place in the measure said.
		"## Feed: revocations to SSE clients (`GET /v1/feed`)", "SSE clients: 1, min / **median** / max over 1 rounds:",
		"SSE clients: 3, min / **median** / max over 1 rounds:", "| burst: events/s, all clients together |", "the client side is part of what is measured"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The original is measured beside blnode wherever it is installed, and
	// the report says so where it is not.
	if !strings.Contains(text, "| Simple JWT (the original) |") &&
		!strings.Contains(text, "Django REST framework Simple JWT or gunicorn is missing on this machine") {
		t.Errorf("report neither measures Simple JWT nor says it is missing:\n%s", text)
	}
	// Where it is measured, the django scenario has a row per contender.
	var measured []string
	if strings.Contains(text, "| Simple JWT (the original) |") {
		for _, want := range []string{"| Simple JWT's JWTAuthentication (token_blacklist) | 2 |", "| blnode_django, every request checked | 2 |",
			"| blnode_django, cache 5 s | 2 |", "an access token whose jti blnode holds blacklisted was answered Simple JWT's JWTAuthentication (token_blacklist): "} {
			if !strings.Contains(text, want) {
				t.Errorf("report lacks %q", want)
			}
		}
		measured = append(measured, "django")
	}
	if strings.Contains(text, "**Failed:**") {
		t.Errorf("a scenario failed:\n%s", text)
	}
	for _, chart := range []string{"check_latency.png", "verify_throughput.png", "write_throughput.png", "propagation_cdf.png", "fleet_p99.png"} {
		b, err := os.ReadFile(filepath.Join(out, "bench", chart))
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("chart %s: not a PNG (%v)", chart, err)
		}
	}
	var raw map[string]any
	data, err := os.ReadFile(filepath.Join(out, "bench", "results.json"))
	if err != nil || json.Unmarshal(data, &raw) != nil {
		t.Fatalf("results.json: %v", err)
	}
	for _, k := range append([]string{"check", "verify", "verify_jwks", "write", "propagation", "replay", "flush", "memory", "fleet", "regions", "join", "feed", "targets"}, measured...) {
		if _, ok := raw[k]; !ok {
			t.Errorf("results.json lacks %q", k)
		}
	}
}

func TestParseSizes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string
		bad      bool
	}{
		{name: "default", in: "", want: defaultSizes(false).String()},
		{name: "bare number", in: "5000", want: "check=5000,replay=5000,flush=5000,memory=500/5000,verify=1/8/64,write=1/64,django=1/8/64,feed=1/100/500,validators=5"},
		{name: "keys", in: "check=10,memory=1/2/3,verify=2", want: "check=10,replay=1000000,flush=1000000,memory=1/2/3,verify=2,write=1/64,django=1/8/64,feed=1/100/500,validators=5"},
		{name: "django levels", in: "django=2/16", want: "check=1000000,replay=1000000,flush=1000000,memory=100000/1000000,verify=1/8/64,write=1/64,django=2/16,feed=1/100/500,validators=5"},
		{name: "unknown key", in: "nope=1", bad: true},
		{name: "list for one", in: "check=1/2", bad: true},
		{name: "not a number", in: "check=x", bad: true},
		{name: "too small", in: "5", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := defaultSizes(false)
			err := parseSizes(&s, tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseSizes(%q) = %v, want an error", tc.in, s)
				}
				return
			}
			if err != nil || s.String() != tc.want {
				t.Fatalf("parseSizes(%q) = %v, %v; want %s", tc.in, s, err, tc.want)
			}
		})
	}
}

func TestParseFleetFlags(t *testing.T) {
	for _, tc := range []struct {
		name         string
		args         []string
		sizes, rates string
		bad          bool
	}{
		{name: "default", sizes: "10/100/200/500/1000", rates: "1000/100"},
		{name: "quick", args: []string{"-quick", "-out", t.TempDir()}, sizes: "10", rates: "1000/100"},
		{name: "given", args: []string{"-fleet-sizes", "5, 50", "-fleet-rates", "10"}, sizes: "5/50", rates: "10"},
		{name: "zero", args: []string{"-fleet-sizes", "0"}, bad: true},
		{name: "not a number", args: []string{"-fleet-rates", "fast"}, bad: true},
		{name: "two servers", args: []string{"-fleet-servers", "2"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseFlags(%q) = %v %v, want an error", tc.args, c.fleetSizes, c.fleetRates)
				}
				return
			}
			if err != nil || joinInts(c.fleetSizes) != tc.sizes || joinInts(c.fleetRates) != tc.rates {
				t.Fatalf("parseFlags(%q): sizes %v rates %v (%v); want %s and %s", tc.args, c.fleetSizes, c.fleetRates, err, tc.sizes, tc.rates)
			}
		})
	}
}

func TestParseRegionsFlags(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		args                    []string
		count, validators, rate int
		dur                     time.Duration
		bad                     bool
	}{
		{name: "default", count: 5, validators: 40, rate: 100, dur: 10 * time.Second},
		{name: "quick", args: []string{"-quick", "-out", t.TempDir()}, count: 5, validators: 4, rate: 100, dur: time.Second},
		{name: "given", args: []string{"-regions-count", "2", "-regions-validators", "3", "-regions-rate", "10", "-regions-duration", "2s"},
			count: 2, validators: 3, rate: 10, dur: 2 * time.Second},
		{name: "one region", args: []string{"-regions-count", "1"}, bad: true},
		{name: "negative validators", args: []string{"-regions-validators", "-1"}, bad: true},
		{name: "rate below one per region", args: []string{"-regions-count", "5", "-regions-rate", "4"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseFlags(%q) = %d regions × %d validators at %d/s, want an error", tc.args, c.regionsCount, c.regionsValidators, c.regionsRate)
				}
				return
			}
			if err != nil || c.regionsCount != tc.count || c.regionsValidators != tc.validators || c.regionsRate != tc.rate || c.regionsDur != tc.dur {
				t.Fatalf("parseFlags(%q): %d regions × %d validators at %d/s for %v (%v); want %d × %d at %d/s for %v", tc.args,
					c.regionsCount, c.regionsValidators, c.regionsRate, c.regionsDur, err, tc.count, tc.validators, tc.rate, tc.dur)
			}
		})
	}
}

func TestParseJoinFlags(t *testing.T) {
	for _, tc := range []struct {
		name               string
		args               []string
		events, validators int
		bad                bool
	}{
		{name: "default", events: 1_000_000, validators: 100},
		{name: "quick", args: []string{"-quick", "-out", t.TempDir()}, events: 20_000, validators: 10},
		{name: "given", args: []string{"-join-events", "5000", "-join-validators", "7"}, events: 5000, validators: 7},
		{name: "negative", args: []string{"-join-events", "-1"}, bad: true},
		{name: "not a number", args: []string{"-join-validators", "many"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseFlags(%q) = %d events, %d validators; want an error", tc.args, c.joinEvents, c.joinVals)
				}
				return
			}
			if err != nil || c.joinEvents != tc.events || c.joinVals != tc.validators {
				t.Fatalf("parseFlags(%q): %d events, %d validators (%v); want %d and %d", tc.args, c.joinEvents, c.joinVals, err, tc.events, tc.validators)
			}
		})
	}
}

func TestHist(t *testing.T) {
	h := newHist()
	for i := 1; i <= 100_000; i++ {
		h.record(time.Duration(i))
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		got, want := h.quantile(q), q*100_000
		if got < want*0.98 || got > want*1.02 {
			t.Errorf("quantile(%v) = %v, want %v ± 2%%", q, got, want)
		}
	}
	if h.quantile(1) != 100_000 || h.n != 100_000 {
		t.Errorf("max %v, n %d", h.quantile(1), h.n)
	}
	r := ratios(series{2, 4, 9}, series{1, 2, 3}).summary()
	if r.Min != 2 || r.Median != 2 || r.Max != 3 {
		t.Errorf("ratios summary %+v", r)
	}
}

func TestSumCounter(t *testing.T) {
	const exposition = `# HELP blnode_checks_total Checks by result.
# TYPE blnode_checks_total counter
blnode_checks_total{result="valid"} 12
blnode_checks_total{result="blacklisted"} 3
blnode_checks_total_other 100
blnode_checks_totalx{result="valid"} 100
blnode_http_requests_total{code="200"} 7
`
	for _, tc := range []struct {
		name, in, counter string
		want              float64
		bad               bool
	}{
		{name: "every series of the counter", in: exposition, counter: "blnode_checks_total", want: 15},
		{name: "no labels", in: "up 1\nblnode_x 2.5\n", counter: "blnode_x", want: 2.5},
		{name: "absent", in: exposition, counter: "blnode_nothing_total", want: 0},
		{name: "no value", in: "blnode_x{a=\"b\"}\n", counter: "blnode_x", bad: true},
		{name: "not a number", in: "blnode_x many\n", counter: "blnode_x", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sumCounter(strings.NewReader(tc.in), tc.counter)
			if tc.bad {
				if err == nil {
					t.Fatalf("sumCounter = %v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("sumCounter = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
