package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeReport writes OUT/BENCHMARKS.md and OUT/bench/results.json.
func (b *bench) writeReport() error {
	if err := os.MkdirAll(b.cfg.out, 0o755); err != nil {
		return err
	}
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	cfg := b.cfg
	p("# blnode benchmarks\n\n")
	p("Written by `cmd/blbench` — do not edit by hand; run the command again. ")
	if cfg.quick {
		p("**This is a `-quick` run: small sizes and short rounds, a smoke test whose numbers mean little.** ")
	}
	p("Every contender runs on this one machine in the same run, in alternating rounds (A B C, A B C, …) so that drift of a busy machine " +
		"hits them alike; figures are **min / median / max over rounds** (the median in bold) and comparisons are ratios computed **pair by pair**, " +
		"round i of one contender against round i of the other.\n\n")
	p("```sh\n%s\n```\n\n", cfg.command)
	p("Run on %s, took %v. Sizes: `%s`; %d rounds; %v per contender per round (%v per propagation round); seed %d; Zipf s = %g, v = %g.\n\n",
		b.env.date, time.Since(b.began).Round(time.Second), cfg.sizes, cfg.rounds, cfg.duration, cfg.propDuration, cfg.seed, cfg.zipfS, cfg.zipfV)

	p("## Targets\n\n")
	p("Wherever an anchor exists, a target is a **ratio against an anchor measured in the same run**, round by round (a pair = the same round, " +
		"the same level), and it is met only when the **median of the pairs** meets the goal. Where none exists, the target is **absolute**, " +
		"and the figure must beat the goal by the margin stated, so that a quiet rerun does not flip it.\n\n")
	p("| target | basis | goal | measured | status | note |\n|---|---|---|---|---|---|\n")
	for _, t := range b.targets {
		st := t.status
		if st == "missed" {
			st = "**missed**"
		}
		p("| %s | %s | %s | %s | %s | %s |\n", t.what, t.basis, t.goal, t.figure, st, t.note)
	}
	for _, m := range b.missing {
		p("| %s | — | — | — | **not measured** | %s on this machine |\n", m.What, m.Why)
	}
	for _, f := range b.failures {
		p("| scenario failed | — | — | — | **failed** | %s |\n", mdCell(f))
	}
	p("\n")
	b.writeSpread(p)

	e := b.env
	p("## Machine and versions\n\n")
	p("- CPU: %s; %d logical CPUs (GOMAXPROCS %d); memory %s; %s\n", e.cpu, e.cores, e.gomaxprocs, e.memTotal, e.kernel)
	p("- Data dirs (bbolt files, Redis AOF, JetStream): %s\n", e.tmpFS)
	p("- Load average at start %s, at the end %s (other work shares this machine: that is why ratios are taken pair by pair)\n", e.loadStart, e.loadEnd)
	commit := e.commit
	if commit == "" {
		commit = "unknown"
	}
	p("- blnode %s, built with %s; %s\n", commit, e.goVersion, e.nats)
	p("- Redis: %s\n", e.redis)
	p("- The original: %s\n", e.simpleJWT)
	if len(e.modules) > 0 {
		p("- Modules: %s\n", strings.Join(e.modules, ", "))
	}
	p("- Latency timer (`time.Now` around each call) costs about %s, included in every per-call latency\n\n", fmtNs(b.timerNs))

	for _, s := range b.sections {
		p("## %s\n\n", s.title)
		if s.err != nil {
			p("**Failed:** %s\n\n", mdText(s.err.Error()))
		}
		for _, para := range s.paras {
			p("%s\n\n", para)
		}
		for _, t := range s.tables {
			if t.caption != "" {
				p("%s:\n\n", t.caption)
			}
			p("| %s |\n|%s\n", strings.Join(t.header, " | "), strings.Repeat("---|", len(t.header)))
			for _, r := range t.rows {
				cells := make([]string, len(r))
				for i, c := range r {
					cells[i] = mdCell(c)
				}
				p("| %s |\n", strings.Join(cells, " | "))
			}
			p("\n")
		}
		for _, c := range s.charts {
			p("![%s](bench/%s)\n\n", c.alt, c.file)
		}
		for _, n := range s.notes {
			p("Note: %s\n\n", n)
		}
		p("_Scenario time: %v._\n\n", s.took.Round(time.Second))
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "BENCHMARKS.md"), []byte(w.String()), 0o644); err != nil {
		return err
	}
	dir, err := b.chartDir()
	if err != nil {
		return err
	}
	b.raw["command"] = cfg.command
	b.raw["sizes"] = cfg.sizes.String()
	b.raw["rounds"] = cfg.rounds
	b.raw["seed"] = cfg.seed
	var targets []map[string]any
	for _, t := range b.targets {
		targets = append(targets, map[string]any{"target": t.what, "basis": t.basis, "goal": t.goal, "measured": t.figure, "status": t.status, "note": t.note,
			"per": t.per, "figures": jsonSeries(t.over), "limit": t.limit, "spread": jsonFloat(t.spread()), "headroom": jsonFloat(t.headroom()), "across": t.across()})
	}
	b.raw["targets"] = targets
	b.raw["missing"] = b.missing
	b.raw["failures"] = b.failures
	data, err := json.MarshalIndent(b.raw, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644)
}

func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

func mdText(s string) string {
	if strings.Contains(s, "\n") {
		return "\n\n```\n" + s + "\n```"
	}
	return s
}

// writeSpread writes the run-to-run spread of every target judged on a
// figure per pair or per round: (max − min) ÷ median of that figure,
// how far the median beats the target's limit (its headroom), and how many
// pairs or rounds fell on the other side of the limit from the median.
func (b *bench) writeSpread(p func(format string, args ...any)) {
	var rows []string
	for _, t := range b.targets {
		sp := t.spread()
		if t.status == "not measured" || len(t.over) == 0 {
			continue
		}
		s := t.over.summary()
		across := t.across()
		flip := fmt.Sprintf("%d of %d", across, s.N)
		if across > 0 {
			flip = "**" + flip + "**: a rerun can flip it"
		}
		rows = append(rows, fmt.Sprintf("| %s | %d %ss | %s | %s | %s |", t.what, s.N, t.per, fmtFloat(0, "%")(100*sp),
			fmtFloat(0, "%")(100*t.headroom()), flip))
	}
	p("### Run-to-run spread\n\n")
	if len(rows) == 0 {
		p("No target was judged on figures per pair or per round in this run.\n\n")
		return
	}
	p("For each target, the spread of the figure it judges, **(max − min) ÷ median** over its pairs (ratios) or rounds (absolutes); " +
		"its headroom, how far the median beats the limit (the goal, with the margin for an absolute), as a share of the limit; and how many " +
		"pairs or rounds fell on the other side of the limit from the median: where any did, a rerun can flip the target.\n\n")
	p("| target | over | spread | headroom | on the other side |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		p("%s\n", r)
	}
	p("\n")
}

// jsonFloat is v, or nil for NaN (which JSON cannot hold).
func jsonFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// jsonSeries is s with nil for each NaN.
func jsonSeries(s series) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = jsonFloat(v)
	}
	return out
}
