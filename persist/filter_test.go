package persist

import (
	"math/rand/v2"
	"testing"
)

// The filter is a multiset of hashes: random adds and removes, with many
// hashes crowding the same slots (so deletes shift probe chains), agree
// with a plain map at every step.
func TestFilterMatchesAMultiset(t *testing.T) {
	f := newIDFilter(0)
	want := map[uint64]int{}
	r := rand.New(rand.NewPCG(1, 2))
	// Few distinct hashes, all in shard 0, with low bits from a small range:
	// long probe chains and wrap-arounds in a 16-slot table that grows.
	pick := func() uint64 { return uint64(r.IntN(40))<<8 | uint64(r.IntN(20)) | 1<<57 }
	for step := range 20000 {
		h := pick()
		if r.IntN(3) == 0 || want[h] == 0 {
			f.add([]uint64{h})
			want[h]++
		} else {
			f.remove([]uint64{h})
			if want[h]--; want[h] == 0 {
				delete(want, h)
			}
		}
		if step%97 == 0 {
			for probe := range 40 * 256 {
				h := uint64(probe)<<0 | 1<<57
				if got := f.has(h); got != (want[h] > 0) {
					t.Fatalf("step %d: has(%x) = %v, want %v", step, h, got, want[h] > 0)
				}
			}
			n := 0
			for _, c := range want {
				n += c
			}
			if sh := f.shard(1 << 57); sh.n != n {
				t.Fatalf("step %d: shard holds %d, want %d", step, sh.n, n)
			}
		}
	}
	// Removing what is not there changes nothing.
	f.remove([]uint64{1<<57 | 0xffff})
}

// A jti hashes the same held as bytes (keys read from the file) and as a
// string (ids from requests and events): the filter and the memtable mix
// the two.
func TestFilterHashOfStringAndBytes(t *testing.T) {
	f := newIDFilter(0)
	for _, jti := range []string{"", "a", "0123456789abcdef0123456789abcdef-longer-than-32-bytes", "\x00\xff"} {
		if got, want := f.hashString(jti), f.hash([]byte(jti)); got != want {
			t.Errorf("hashString(%q) = %x, hash of its bytes %x", jti, got, want)
		}
	}
}
