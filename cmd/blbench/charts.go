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

// cdfChart draws cumulative distributions (x in µs when micro, else ms).
func (b *bench) cdfChart(file, title string, micro bool, curves []curve) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "latency (ms)"
	if micro {
		p.X.Label.Text = "latency (µs, log scale)"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Y.Label.Text = "fraction of calls ≤ latency"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	for i, c := range curves {
		pts := make(plotter.XYs, 0, len(c.xs))
		for j := range c.xs {
			if micro && c.xs[j] <= 0 {
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
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Points(20)
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

// propChart draws propagation CDFs, latency in ms on a log scale (the
// contenders span microseconds to seconds).
func (b *bench) propChart(file string, curves []curve) error {
	p := plot.New()
	p.Title.Text = "Propagation latency: writer's 200 → validator rejects (CDF)"
	p.X.Label.Text = "latency (ms, log scale)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Label.Text = "fraction of writes seen ≤ latency"
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	for i, c := range curves {
		pts := make(plotter.XYs, 0, len(c.xs))
		for j := range c.xs {
			if c.xs[j] > 0 {
				pts = append(pts, plotter.XY{X: c.xs[j], Y: c.ys[j]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("chart %s: %w", file, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		if i >= 5 {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(c.name, l)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return b.saveChart(p, file)
}
