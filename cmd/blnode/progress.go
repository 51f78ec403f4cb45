package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Progress of the long subcommands (import, export): on a terminal a bar
// redrawn in place with the rate and the time left; otherwise (a file, a
// pipe, CI) plain lines, one every progressLineEvery and one at each tenth
// of the work, so a log shows steady progress without a line per row.

const (
	progressBarEvery  = 100 * time.Millisecond // redraws of the bar at most this often
	progressLineEvery = 2 * time.Second        // a plain line at least this often while work goes on
	progressBarWidth  = 24
)

// Progress display modes (--progress).
const (
	progressAuto  = "auto"  // bar on a terminal, lines otherwise
	progressBar   = "bar"   //
	progressLines = "lines" //
	progressNone  = "none"  //
)

var progressModes = []string{progressAuto, progressBar, progressLines, progressNone}

// progress reports how far a job has got. Work is measured in units (rows,
// bytes) against total, which may be 0 when unknown; count is the number
// of items (rows, records) shown with their rate. It is not safe for
// concurrent use.
type progress struct {
	w     io.Writer
	mode  string // progressBar, progressLines or progressNone
	label string // what the job does: "importing"
	item  string // what count counts: "rows"
	total int64
	now   func() time.Time

	start     time.Time
	last      time.Time // of the last output
	lastTenth int64     // of the last plain line
	done      int64
	count     int64
}

// newProgress returns a progress display on w in mode; auto picks the bar
// when w is a terminal (and TERM is not "dumb").
func newProgress(w io.Writer, mode, label, item string, total int64, now func() time.Time, getenv func(string) string) *progress {
	if mode == progressAuto || mode == "" {
		mode = progressLines
		if isTerminal(w) && getenv("TERM") != "dumb" {
			mode = progressBar
		}
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	return &progress{w: w, mode: mode, label: label, item: item, total: total, now: now, start: t, last: t}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// update records that done units of work and count items are finished and
// shows it when it is time to.
func (p *progress) update(done, count int64) {
	p.done, p.count = done, count
	switch p.mode {
	case progressBar:
		if t := p.now(); t.Sub(p.last) >= progressBarEvery {
			p.last = t
			p.drawBar(t)
		}
	case progressLines:
		t := p.now()
		tenth := p.tenth()
		if tenth > p.lastTenth || t.Sub(p.last) >= progressLineEvery {
			p.last, p.lastTenth = t, tenth
			fmt.Fprintf(p.w, "%s: %s\n", p.label, p.status(t))
		}
	}
}

// finish shows the final state: a full bar and a newline, or a last line.
func (p *progress) finish() {
	t := p.now()
	switch p.mode {
	case progressBar:
		if p.total > 0 {
			p.done = p.total
		}
		p.drawBar(t)
		fmt.Fprintln(p.w)
	case progressLines:
		el := t.Sub(p.start)
		fmt.Fprintf(p.w, "%s: done: %s %s in %s (%s %s/s)\n", p.label, groupDigits(p.count), p.item,
			el.Round(time.Millisecond), groupDigits(int64(rate(p.count, el))), p.item)
	}
}

// tenth is how many tenths of the work are done (0 when the total is unknown).
func (p *progress) tenth() int64 {
	if p.total <= 0 {
		return 0
	}
	return min(p.done*10/p.total, 10)
}

func (p *progress) drawBar(t time.Time) {
	bar := ""
	if p.total > 0 {
		filled := int(min(p.done*progressBarWidth/p.total, progressBarWidth))
		bar = "[" + strings.Repeat("=", filled) + strings.Repeat(" ", progressBarWidth-filled) + "] "
	}
	// \r back to the start of the line, \x1b[K clears what a longer line
	// left behind.
	fmt.Fprintf(p.w, "\r%s %s%s\x1b[K", p.label, bar, p.status(t))
}

// status is "42% 1,234 rows, 567 rows/s, ETA 12s", the parts it can say.
func (p *progress) status(t time.Time) string {
	el := t.Sub(p.start)
	var b strings.Builder
	if p.total > 0 {
		fmt.Fprintf(&b, "%3d%% ", min(p.done*100/p.total, 100))
	}
	fmt.Fprintf(&b, "%s %s", groupDigits(p.count), p.item)
	if r := rate(p.count, el); r > 0 {
		fmt.Fprintf(&b, ", %s %s/s", groupDigits(int64(r)), p.item)
	}
	if p.total > 0 && p.done > 0 && p.done < p.total && el > 0 {
		left := time.Duration(float64(el) * float64(p.total-p.done) / float64(p.done))
		fmt.Fprintf(&b, ", ETA %s", left.Round(time.Second))
	}
	return b.String()
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// groupDigits writes n with thousands separators: 1234567 → "1,234,567".
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// humanBytes writes a size in bytes with a binary unit: "12.3 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 5; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
