package main

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// hist is a log-linear latency histogram in nanoseconds: values below 128
// are exact, larger ones fall in one of 64 buckets per power of two (at most
// 1.6% relative error). Recording costs a few instructions and no
// allocation, so a load loop can record every operation.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

const (
	histSubBits = 7
	histBuckets = (64-histSubBits)*(1<<(histSubBits-1)) + (1 << histSubBits)
)

func newHist() *hist { return &hist{min: math.MaxInt64} }

func histIndex(v int64) int {
	if v < 1<<histSubBits {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - histSubBits
	return e*(1<<(histSubBits-1)) + int(uint64(v)>>e)
}

// histValue is the middle of bucket i.
func histValue(i int) float64 {
	if i < 1<<histSubBits {
		return float64(i)
	}
	half := 1 << (histSubBits - 1)
	e := i/half - 1
	top := i - e*half
	lo := float64(uint64(top) << e)
	return lo + float64(uint64(1)<<e)/2
}

func (h *hist) record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

func (h *hist) merge(o *hist) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile in nanoseconds (nearest rank, bucket
// middle; the exact max for q = 1).
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	if q >= 1 {
		return float64(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(histValue(i), float64(h.min)), float64(h.max))
		}
	}
	return float64(h.max)
}

func (h *hist) mean() float64 {
	if h.n == 0 {
		return math.NaN()
	}
	return h.sum / float64(h.n)
}

// cdf returns (value ns, fraction ≤ value) points for a chart.
func (h *hist) cdf() (xs, ys []float64) {
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		xs = append(xs, min(max(histValue(i), float64(h.min)), float64(h.max)))
		ys = append(ys, float64(seen)/float64(h.n))
	}
	return xs, ys
}

// series holds one figure per round, in round order.
type series []float64

// summary is min / median / max over rounds.
type summary struct {
	Min, Median, Max float64
	N                int
}

func (s series) summary() summary {
	var v []float64
	for _, x := range s {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return summary{Min: math.NaN(), Median: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return summary{Min: v[0], Median: med, Max: v[len(v)-1], N: len(v)}
}

// ratios divides round i of a by round i of b, pair by pair, so that drift
// of the machine between rounds cancels.
func ratios(a, b series) series {
	n := min(len(a), len(b))
	out := make(series, n)
	for i := range n {
		out[i] = a[i] / b[i]
	}
	return out
}

// unit formats a value of one kind.
type unit func(float64) string

func fmtNs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v < 0:
		return "−" + fmtNs(-v) // a delay may be negative: the feed's event before the write's 200
	case v < 1e3:
		return fmt.Sprintf("%.0f ns", v)
	case v < 1e4:
		return fmt.Sprintf("%.2f µs", v/1e3)
	case v < 1e6:
		return fmt.Sprintf("%.1f µs", v/1e3)
	case v < 1e7:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v < 1e9:
		return fmt.Sprintf("%.1f ms", v/1e6)
	default:
		return fmt.Sprintf("%.2f s", v/1e9)
	}
}

func fmtRate(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1e7:
		return fmt.Sprintf("%.1fM/s", v/1e6)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk/s", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk/s", v/1e3)
	default:
		return fmt.Sprintf("%.0f/s", v)
	}
}

func fmtRatio(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 100:
		return fmt.Sprintf("%.0f×", v)
	case v >= 10:
		return fmt.Sprintf("%.1f×", v)
	default:
		return fmt.Sprintf("%.2f×", v)
	}
}

func fmtFloat(prec int, suffix string) unit {
	return func(v float64) string {
		if math.IsNaN(v) {
			return "—"
		}
		return fmt.Sprintf("%.*f%s", prec, v, suffix)
	}
}

func fmtSec(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f s", v)
}

func fmtBytes(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}

// format writes a summary as "min / median / max" with the median in bold;
// one round shows the value alone.
func (s summary) format(u unit) string {
	if s.N <= 1 {
		return u(s.Median)
	}
	return fmt.Sprintf("%s / **%s** / %s", u(s.Min), u(s.Median), u(s.Max))
}
