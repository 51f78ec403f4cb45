package persist

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBlacklistDurable measures blacklists per second with fsync on:
// each call returns only after its commit is on disk. With many writers the
// group commit shares one fsync among everyone waiting.
func BenchmarkBlacklistDurable(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTest(b, "", Options{})
			var next atomic.Int64
			write := func() {
				i := next.Add(1)
				if _, err := s.Blacklist(Record{JTI: fmt.Sprintf("%016x%016x", uint64(i)*0x9E3779B97F4A7C15, i), User: "42", Type: "refresh", ExpiresAt: 1 << 40}, []byte("event")); err != nil {
					b.Error(err)
				}
			}
			b.ReportAllocs()
			if writers == 1 {
				for b.Loop() {
					write()
				}
			} else {
				b.SetParallelism(max(writers/runtime.GOMAXPROCS(0), 1)) // goroutines = parallelism × GOMAXPROCS
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						write()
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}

// BenchmarkApplyReplay measures the store's share of a replay: 1M blacklist
// ops with random jtis applied in batches of 1024 (the subscriber's catch-up
// batch), then the settle a first listing forces.
func BenchmarkApplyReplay(b *testing.B) {
	const n, batch = 1_000_000, 1024
	exp := int64(1 << 40)
	for b.Loop() {
		s := openTest(b, "", Options{})
		ops := make([]Op, 0, batch)
		start := time.Now()
		for i := range n {
			jti := fmt.Sprintf("%016x%016x", uint64(i)*0x9E3779B97F4A7C15, i)
			ops = append(ops, Op{Kind: OpBlacklist, Record: Record{JTI: jti, User: jti[:6], Type: "refresh", IssuedAt: exp - 86400, ExpiresAt: exp,
				BlacklistedAt: 1, Origin: "bench", Reason: "bench"}})
			if len(ops) == batch || i == n-1 {
				if _, err := s.Apply(ops, uint64(i+1)); err != nil {
					b.Fatal(err)
				}
				ops = ops[:0]
			}
		}
		applied := time.Since(start)
		if err := s.journal.settle(); err != nil {
			b.Fatal(err)
		}
		b.Logf("applied %d in %v (%.0f/s); settled after %v", n, applied, n/applied.Seconds(), time.Since(start))
		b.ReportMetric(n/applied.Seconds(), "ops/s")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyLive measures a validator following live events: one
// blacklist a batch, each Apply its own commit, with an fsync per commit
// (sync=commit, bbolt's two fdatasyncs) and with Options.LazySync of 1s
// (sync=lazy: the page cache, and one fsync a second).
func BenchmarkApplyLive(b *testing.B) {
	for _, tc := range []struct {
		name string
		lazy time.Duration
	}{{"sync=commit", 0}, {"sync=lazy", time.Second}} {
		b.Run(tc.name, func(b *testing.B) {
			s := openTest(b, "", Options{LazySync: tc.lazy})
			var seq uint64
			b.ReportAllocs()
			for b.Loop() {
				seq++
				jti := fmt.Sprintf("%016x%016x", seq*0x9E3779B97F4A7C15, seq)
				op := Op{Kind: OpBlacklist, Record: Record{JTI: jti, User: "42", Type: "refresh", ExpiresAt: 1 << 40, BlacklistedAt: 1}}
				if _, err := s.Apply([]Op{op}, seq); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "applies/s")
		})
	}
}
