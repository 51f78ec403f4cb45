package persist

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
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
