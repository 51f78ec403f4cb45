package node_test

import (
	"bytes"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/node"
)

// BenchmarkJoin measures how long an empty validator takes to be ready on
// a stream of BLNODE_BENCH_JOIN_EVENTS blacklist events (default 100000),
// replaying the whole stream and joining from a full node's snapshot of it:
//
//	go test -run='^$' -bench=Join -benchtime=5x ./node/
//
// It reports the median seconds from node.New to Ready, and of the memory
// each join took at its peak over what the process held before it, as
// sampled every millisecond: the Go heap's objects (with the garbage the
// join left for the next collection), the live heap as the last
// collection found it (the collector runs seldom at the default GOGC: run
// with GOGC=10 or so for a figure near the most the join holds live), and
// the process's resident set (VmHWM after resetting it, where Linux
// allows; the process reuses the pages it has, so it says little). With
// BLNODE_BENCH_JOIN_LOG set, the validators log at debug level to stderr
// (the snapshot's load logs its phases).
func BenchmarkJoin(b *testing.B) {
	n := benchEnvInt(b, "BLNODE_BENCH_JOIN_EVENTS", 100_000)
	s := eventstest.RunServer(b)
	fillStream(b, s, n)
	fcfg := benchConfig(fleetConfig(node.RoleFull, 1, s))
	fcfg.SnapshotInterval = -1
	full := startNode(b, fcfg)
	waitReady(b, benchReplayLimit, full)

	join := func(b *testing.B) {
		var took []time.Duration
		var heapPeak, livePeak, rssPeak []float64
		for b.Loop() {
			cfg := benchConfig(fleetConfig(node.RoleValidator, 1, s))
			cfg.DataDir = b.TempDir()
			if os.Getenv("BLNODE_BENCH_JOIN_LOG") != "" {
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			runtime.GC()
			rss, rssOK := resetPeakRSS()
			heap := sampleHeap()
			start := time.Now()
			v := startNode(b, cfg)
			waitReady(b, benchReplayLimit, v)
			took = append(took, time.Since(start))
			h, l := heap()
			heapPeak, livePeak = append(heapPeak, h), append(livePeak, l)
			if peak, ok := peakRSS(); ok && rssOK {
				rssPeak = append(rssPeak, float64(peak-rss))
			}
			// Counts merges the journal into the trees first (not timed
			// as the join: a node merges once it has caught up).
			merge := sampleHeap()
			mergeStart := time.Now()
			c, err := v.Store().Counts()
			mergeTook := time.Since(mergeStart)
			mh, ml := merge()
			if err != nil || c.Blacklisted != uint64(n) {
				b.Fatalf("ready with %d of %d blacklisted (%v)", c.Blacklisted, n, err)
			}
			b.Logf("ready in %v, %d events applied, peak heap +%.0f MiB, live +%.0f MiB; then merged in %v, peak heap +%.0f MiB, live +%.0f MiB",
				took[len(took)-1].Round(time.Millisecond), v.FleetStatus().Applied, h/(1<<20), l/(1<<20),
				mergeTook.Round(time.Millisecond), mh/(1<<20), ml/(1<<20))
			v.stop()
			if err := os.RemoveAll(cfg.DataDir); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(took)
		b.ReportMetric(percentile(took, 0.5).Seconds(), "s-to-ready-median")
		b.ReportMetric(median(heapPeak)/(1<<20), "peak-heap-MiB-median")
		b.ReportMetric(median(livePeak)/(1<<20), "peak-live-MiB-median")
		if len(rssPeak) > 0 {
			b.ReportMetric(median(rssPeak)/(1<<20), "peak-rss-MiB-median")
		}
	}
	b.Run("replay", join)
	b.Run("snapshot", func(b *testing.B) {
		start := time.Now()
		h, err := full.WriteSnapshot(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("snapshot of %d tokens at seq %d written in %v", h.Tokens, h.Seq, time.Since(start).Round(time.Millisecond))
		join(b)
	})
}

// sampleHeap samples the bytes of the Go heap's objects and of its live
// heap (as of the last collection) every millisecond until the func it
// returns is called, which returns the most each reached over its first
// sample.
func sampleHeap() (stop func() (heap, live float64)) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	read := func() (float64, float64) {
		metrics.Read(sample)
		return float64(sample[0].Value.Uint64()), float64(sample[1].Value.Uint64())
	}
	baseHeap, baseLive := read()
	done, peak := make(chan struct{}), make(chan [2]float64)
	go func() {
		most := [2]float64{baseHeap, baseLive}
		take := func() {
			h, l := read()
			most = [2]float64{max(most[0], h), max(most[1], l)}
		}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				take()
			case <-done:
				take()
				peak <- most
				return
			}
		}
	}()
	return func() (float64, float64) {
		close(done)
		p := <-peak
		return p[0] - baseHeap, p[1] - baseLive
	}
}

// resetPeakRSS resets the process's peak resident set (VmHWM) to the
// present one, and returns that.
func resetPeakRSS() (rss int64, ok bool) {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return 0, false
	}
	return procStatus("VmRSS")
}

// peakRSS returns the process's peak resident set (VmHWM).
func peakRSS() (int64, bool) { return procStatus("VmHWM") }

// procStatus returns a field of /proc/self/status in bytes.
func procStatus(field string) (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		return n << 10, err == nil // kB
	}
	return 0, false
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	return v[len(v)/2]
}
