package cache_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/blnode/blnode/cache"
	"github.com/blnode/blnode/persist"
)

func newStore(t testing.TB) *persist.Store {
	t.Helper()
	s, err := persist.Open(t.TempDir(), persist.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newCache(t testing.TB, s *persist.Store) *cache.Cache[bool] {
	t.Helper()
	c, err := cache.New(s.IsBlacklisted, cache.Config{MaxEntries: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestNoStaleNegativeAfterCommit hammers the cache with checkers while
// appliers blacklist tokens: once a blacklist has been committed (and its
// Invalidate has run, which is when a write is acknowledged), no check may
// answer "not blacklisted" for it.
func TestNoStaleNegativeAfterCommit(t *testing.T) {
	s := newStore(t)
	c := newCache(t, s)
	const n = 400
	jtis := make([]string, n)
	committed := make([]atomic.Bool, n)
	for i := range jtis {
		jtis[i] = fmt.Sprintf("%032x", i)
		if _, err := c.Get(jtis[i]); err != nil { // warm the cache with negatives
			t.Fatal(err)
		}
	}
	c.Wait()

	var stop atomic.Bool
	var stale, checks atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for !stop.Load() {
				i := rng.IntN(n)
				was := committed[i].Load()
				got, err := c.Get(jtis[i])
				if err != nil {
					t.Error(err)
					return
				}
				checks.Add(1)
				if was && !got {
					stale.Add(1)
				}
			}
		})
	}
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	var appliers sync.WaitGroup
	for a := range 4 {
		appliers.Go(func() {
			for k := a; k < n; k += 4 {
				i := order[k]
				if _, err := s.Blacklist(persist.Record{JTI: jtis[i], ExpiresAt: 1 << 40}, nil); err != nil {
					t.Error(err)
					return
				}
				c.Invalidate(jtis[i])
				committed[i].Store(true)
			}
		})
	}
	appliers.Wait()
	stop.Store(true)
	wg.Wait()
	for i, jti := range jtis {
		if got, _ := c.Get(jti); !got {
			t.Errorf("%s (%d) not blacklisted after all commits", jti, i)
		}
	}
	if stale.Load() != 0 {
		t.Fatalf("%d of %d checks answered a committed blacklist with \"not blacklisted\"", stale.Load(), checks.Load())
	}
	t.Logf("%d checks, no stale negative", checks.Load())
}

// TestStaleReadIsNotServed forces the race DESIGN §5 describes: a checker
// reads "not blacklisted" from the store, a blacklist commits and
// invalidates, then the checker caches its stale answer. The next check must
// not be served that answer.
func TestStaleReadIsNotServed(t *testing.T) {
	var blacklisted atomic.Bool
	inLoad, resume := make(chan struct{}), make(chan struct{})
	var pause atomic.Bool
	c, err := cache.New(func(string) (bool, error) {
		v := blacklisted.Load()
		if pause.CompareAndSwap(true, false) {
			close(inLoad)
			<-resume
		}
		return v, nil
	}, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	pause.Store(true)
	done := make(chan bool)
	go func() { v, _ := c.Get("j"); done <- v }()
	<-inLoad                // the checker has read "not blacklisted"
	blacklisted.Store(true) // the blacklist commits…
	c.Invalidate("j")       // …and invalidates before it is acknowledged
	close(resume)           // the checker now caches its stale negative
	if v := <-done; v {
		t.Fatal("the paused checker should have read the old answer")
	}
	c.Wait()
	for range 3 {
		if v, _ := c.Get("j"); !v {
			t.Fatal("stale negative served after the blacklist was committed")
		}
	}
	if st := c.Stats(); st.Misses < 2 {
		t.Errorf("stats %+v: the stale entry should have been a miss", st)
	}
}

func TestHitAfterSet(t *testing.T) {
	s := newStore(t)
	c := newCache(t, s)
	if _, err := s.Blacklist(persist.Record{JTI: "a", ExpiresAt: 10}, nil); err != nil {
		t.Fatal(err)
	}
	for _, jti := range []string{"a", "b"} {
		if _, err := c.Get(jti); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait()
	before := c.Stats()
	if v, _ := c.Get("a"); !v {
		t.Error("a: want blacklisted")
	}
	if v, _ := c.Get("b"); v {
		t.Error("b: want not blacklisted")
	}
	if after := c.Stats(); after.Hits-before.Hits != 2 {
		t.Errorf("want 2 hits, stats %+v -> %+v", before, after)
	}
	c.Close()
	c.Close()
	if _, err := c.Get("zzz"); err != cache.ErrClosed {
		t.Errorf("Get after Close: %v", err)
	}
}

// benchStore fills a store with n blacklisted jtis (NoSync: only reads are
// measured here) and returns it with the ids of 100n tokens, 1% of them
// blacklisted.
func benchStore(b *testing.B, n int) (*persist.Store, []string) {
	b.Helper()
	s := newStore(b)
	ops := make([]persist.Op, 0, 10000)
	for i := range n {
		ops = append(ops, persist.Op{Kind: persist.OpBlacklist, Record: persist.Record{
			JTI: fmt.Sprintf("%032x", i*100), ExpiresAt: 1 << 40, CreatedAt: 1, BlacklistedAt: 1}})
		if len(ops) == cap(ops) || i == n-1 {
			if _, err := s.Apply(ops, 0); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	ids := make([]string, 1<<16)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", rng.IntN(n*100))
	}
	return s, ids
}

func BenchmarkCheck(b *testing.B) {
	const n = 1_000_000
	s, ids := benchStore(b, n)
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s.IsBlacklisted(ids[i&(len(ids)-1)])
			i++
		}
	})
	b.Run("store-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(ids))
			for pb.Next() {
				s.IsBlacklisted(ids[i&(len(ids)-1)])
				i++
			}
		})
	})
	c := newCache(b, s)
	for _, id := range ids {
		c.Get(id)
	}
	c.Wait()
	for _, id := range ids { // a second round: ristretto admits on frequency
		c.Get(id)
	}
	c.Wait()
	b.Run("cache-hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Get(ids[i&(len(ids)-1)])
			i++
		}
	})
	b.Run("cache-hit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(ids))
			for pb.Next() {
				c.Get(ids[i&(len(ids)-1)])
				i++
			}
		})
	})
	b.Run("cache-miss", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.Invalidate(ids[i&(len(ids)-1)])
			c.Get(ids[i&(len(ids)-1)])
			i++
		}
	})
	b.Run("map-floor", func(b *testing.B) {
		m := make(map[string]bool, n)
		for i := range n {
			m[fmt.Sprintf("%032x", i*100)] = true
		}
		i := 0
		for b.Loop() {
			_ = m[ids[i&(len(ids)-1)]]
			i++
		}
	})
}

// BenchmarkNew reports what a cache reserves for its size (B/op): ristretto
// sizes its admission counters from MaxEntries, and the epochs follow it up
// to 4096 shards.
//
//	go test -run='^$' -bench=New -benchmem ./cache/
func BenchmarkNew(b *testing.B) {
	load := func(string) (bool, error) { return false, nil }
	for _, entries := range []int64{1 << 10, 1 << 12, 1 << 14, 1 << 16} {
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := cache.New(load, cache.Config{MaxEntries: entries})
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
