package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// curve is one line of a chart.
type curve struct {
	name   string
	xs, ys []float64
}

// chartDir is where charts go: OUT/bench.
func (b *bench) chartDir() (string, error) {
	d := filepath.Join(b.cfg.out, "bench")
	return d, os.MkdirAll(d, 0o755)
}

// checkerCurves are the latency CDFs of the check contenders, in µs.
func checkerCurves(cs []*checker) []curve {
	var out []curve
	for _, c := range cs {
		xs, ys := c.lat.cdf()
		for i := range xs {
			xs[i] /= 1e3
		}
		out = append(out, curve{name: stripTicks(c.name), xs: xs, ys: ys})
	}
	return out
}

// cdfSpec says how a CDF chart is labelled and scaled.
type cdfSpec struct {
	title, xLabel, yLabel string
	logX                  bool // latencies spanning orders of magnitude
	legendTopLeft         bool
}

// cdfChart draws check latency CDFs by contender (x in µs on a log scale
// when micro, else ms).
func (b *bench) cdfChart(file, title string, micro bool, curves []curve) error {
	spec := cdfSpec{title: title, xLabel: "latency (ms)", yLabel: "fraction of calls ≤ latency", logX: micro}
	if micro {
		spec.xLabel = "latency (µs, log scale)"
	}
	return b.drawCDF(file, spec, curves)
}

// propChart draws propagation CDFs, latency in ms on a log scale (the
// contenders span microseconds to seconds).
func (b *bench) propChart(file string, curves []curve) error {
	return b.drawCDF(file, cdfSpec{
		title:  "Propagation latency: writer's 200 → validator rejects (CDF)",
		xLabel: "latency (ms, log scale)", yLabel: "fraction of writes seen ≤ latency",
		logX: true, legendTopLeft: true,
	}, curves)
}

// drawCDF draws cumulative distributions, one line per curve (points at or
// below zero are left out of a log scale).
func (b *bench) drawCDF(file string, spec cdfSpec, curves []curve) error {
	p := plot.New()
	p.Title.Text = spec.title
	p.X.Label.Text = spec.xLabel
	if spec.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Y.Label.Text = spec.yLabel
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	for i, c := range curves {
		pts := make(plotter.XYs, 0, len(c.xs))
		for j := range c.xs {
			if spec.logX && c.xs[j] <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: c.xs[j], Y: c.ys[j]})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("chart %s: %w", file, err)
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / 7)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(c.name, l)
	}
	p.Legend.Top, p.Legend.Left = spec.legendTopLeft, spec.legendTopLeft
	if !spec.legendTopLeft {
		p.Legend.YOffs = vg.Points(20)
	}
	return b.saveChart(p, file)
}

// lineChart draws y against x with points, optionally log-scaled.
func (b *bench) lineChart(file, title, xlabel, ylabel string, logX, logY bool, curves []curve) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.Y.Min = 0
	}
	p.Add(plotter.NewGrid())
	for i, c := range curves {
		pts := make(plotter.XYs, len(c.xs))
		for j := range c.xs {
			pts[j] = plotter.XY{X: c.xs[j], Y: c.ys[j]}
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("chart %s: %w", file, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		s.Color = plotutil.Color(i)
		s.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add(c.name, l, s)
	}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Points(20)
	return b.saveChart(p, file)
}

func (b *bench) saveChart(p *plot.Plot, file string) error {
	dir, err := b.chartDir()
	if err != nil {
		return err
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, file))
}
