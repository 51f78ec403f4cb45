package node_test

import (
	"os"
	"slices"
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
// It reports the median seconds from node.New to Ready.
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
		for b.Loop() {
			cfg := benchConfig(fleetConfig(node.RoleValidator, 1, s))
			cfg.DataDir = b.TempDir()
			start := time.Now()
			v := startNode(b, cfg)
			waitReady(b, benchReplayLimit, v)
			took = append(took, time.Since(start))
			if c, err := v.Store().Counts(); err != nil || c.Blacklisted != uint64(n) {
				b.Fatalf("ready with %d of %d blacklisted (%v)", c.Blacklisted, n, err)
			}
			b.Logf("ready in %v, %d events applied", took[len(took)-1].Round(time.Millisecond), v.FleetStatus().Applied)
			v.stop()
			if err := os.RemoveAll(cfg.DataDir); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(took)
		b.ReportMetric(percentile(took, 0.5).Seconds(), "s-to-ready-median")
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
