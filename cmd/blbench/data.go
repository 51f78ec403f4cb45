package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/blnode/blnode/persist"
)

// Keys and workloads are generated from the seed alone, so every run with
// the same flags checks the same keys in the same order.

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// jtiOf is token id number i: 32 lower-case hex characters, like Simple
// JWT's uuid4().hex, spread uniformly so the store sees random keys.
func jtiOf(seed uint64, i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], splitmix(seed^uint64(i)*0x9e3779b97f4a7c15))
	binary.BigEndian.PutUint64(b[8:], splitmix(^seed+uint64(i)))
	return hex.EncodeToString(b[:])
}

// jtis returns ids from .. from+n-1.
func jtis(seed uint64, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = jtiOf(seed, from+i)
	}
	return out
}

// userOf is the user a generated record belongs to: a function of the jti's
// first three characters (4096 users), so the by_user index is filled in
// key order too.
func userOf(jti string) string { return "u" + jti[:3] }

// fillStore writes a blacklisted record for each jti into a new store in
// dir, in key order and batches of 20,000 (fsync off: a pre-built data dir,
// the fastest honest way to give a node many entries; the node reopens it
// with fsync on). expOf gives each record's expiry.
func fillStore(ctx context.Context, dir string, ids []string, expOf func(jti string) int64) error {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	s, err := persist.Open(dir, persist.Options{NoSync: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	now := time.Now()
	ops := make([]persist.Op, 0, 20_000)
	for i, id := range sorted {
		ops = append(ops, persist.Op{Kind: persist.OpBlacklist, Record: persist.Record{
			JTI: id, User: userOf(id), Type: "refresh", IssuedAt: now.Add(-time.Hour).Unix(), ExpiresAt: expOf(id),
			CreatedAt: now.UnixNano(), BlacklistedAt: now.UnixNano(), Origin: "blbench", Reason: "bench"}})
		if len(ops) == cap(ops) || i == len(sorted)-1 {
			if err := ctx.Err(); err != nil {
				s.Close()
				return err
			}
			if skipped, err := s.Apply(ops, 0); err != nil || skipped > 0 {
				s.Close()
				return fmt.Errorf("fill store: %d skipped, %v", skipped, err)
			}
			ops = ops[:0]
		}
	}
	return s.Close()
}

// copyStore copies the store file of src into a new data dir dst.
func copyStore(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	in, err := os.Open(filepath.Join(src, persist.FileName))
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(dst, persist.FileName), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// workload is a sequence of lookups: with probability pIn a key of in
// (revoked), otherwise a key of out (not revoked); within each set the key's
// rank is Zipf(s, v) distributed, rank 0 the hottest.
type workload struct {
	keys    []string
	inCount int // lookups of revoked keys
}

func newWorkload(seed uint64, in, out []string, n int, pIn, s, v float64) workload {
	rng := rand.New(rand.NewPCG(seed, 0x626c6265))
	zin := rand.NewZipf(rng, s, v, uint64(len(in)-1))
	zout := rand.NewZipf(rng, s, v, uint64(len(out)-1))
	w := workload{keys: make([]string, n)}
	for i := range w.keys {
		if rng.Float64() < pIn {
			w.keys[i] = in[zin.Uint64()]
			w.inCount++
		} else {
			w.keys[i] = out[zout.Uint64()]
		}
	}
	return w
}

// distinct counts the different keys of the workload.
func (w workload) distinct() int {
	m := make(map[string]struct{}, len(w.keys)/4)
	for _, k := range w.keys {
		m[k] = struct{}{}
	}
	return len(m)
}

// newMixWorkload draws n lookups from several key sets: set i with
// probability probs[i], and within it a Zipf(s, v) rank.
func newMixWorkload(seed uint64, sets [][]string, probs []float64, n int, s, v float64) workload {
	rng := rand.New(rand.NewPCG(seed, 0x6d6978))
	zs := make([]*rand.Zipf, len(sets))
	for i, set := range sets {
		zs[i] = rand.NewZipf(rng, s, v, uint64(len(set)-1))
	}
	w := workload{keys: make([]string, n)}
	for i := range w.keys {
		x, j := rng.Float64(), 0
		for j < len(sets)-1 && x >= probs[j] {
			x -= probs[j]
			j++
		}
		w.keys[i] = sets[j][zs[j].Uint64()]
		if j < len(sets)-1 {
			w.inCount++
		}
	}
	return w
}
