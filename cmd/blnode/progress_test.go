package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func noEnv(string) string                { return "" }
func lines(s string) []string            { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
func newTestProgress(mode string, total int64) (*progress, *bytes.Buffer, *fakeClock) {
	var b bytes.Buffer
	c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	return newProgress(&b, mode, "import", "rows", total, c.now, noEnv), &b, c
}

func TestProgressLinesEveryTenthAndEveryFewSeconds(t *testing.T) {
	p, out, clock := newTestProgress(progressLines, 1000)
	// Fast work: a line at each tenth, none in between.
	for i := int64(1); i <= 500; i++ {
		clock.add(time.Millisecond)
		p.update(i, i)
	}
	got := lines(out.String())
	if len(got) != 5 {
		t.Fatalf("after half the work in 0.5s: %d lines, want 5 (one per tenth):\n%s", len(got), out)
	}
	if got[0] != "import:  10% 100 rows, 1,000 rows/s, ETA 1s" {
		t.Errorf("first line %q", got[0])
	}
	// Slow work: within a tenth, a line every progressLineEvery.
	out.Reset()
	for i := int64(501); i <= 520; i++ {
		clock.add(time.Second)
		p.update(i, i)
	}
	if n := len(lines(out.String())); n != 10 {
		t.Errorf("20s inside one tenth: %d lines, want 10 (one per 2s):\n%s", n, out)
	}
	out.Reset()
	p.finish()
	if !strings.HasPrefix(out.String(), "import: done: 520 rows in 20.5s (25 rows/s)") {
		t.Errorf("finish wrote %q", out.String())
	}
}

func TestProgressLinesWithUnknownTotal(t *testing.T) {
	p, out, clock := newTestProgress(progressLines, 0)
	for i := int64(1); i <= 100; i++ {
		clock.add(100 * time.Millisecond)
		p.update(i, i)
	}
	got := lines(out.String())
	if len(got) != 5 || strings.Contains(out.String(), "%") || strings.Contains(out.String(), "ETA") {
		t.Errorf("10s of work of unknown size: want 5 lines without percent or ETA:\n%s", out)
	}
}

func TestProgressBar(t *testing.T) {
	p, out, clock := newTestProgress(progressBar, 200)
	clock.add(time.Second)
	p.update(50, 50)
	s := out.String()
	if !strings.HasPrefix(s, "\rimport [======                  ]  25% 50 rows, 50 rows/s, ETA 3s\x1b[K") {
		t.Errorf("bar %q", s)
	}
	// Redrawn at most every progressBarEvery.
	out.Reset()
	p.update(51, 51)
	if out.Len() != 0 {
		t.Errorf("redrawn after no time: %q", out)
	}
	clock.add(progressBarEvery)
	p.update(52, 52)
	if !strings.HasPrefix(out.String(), "\r") {
		t.Errorf("not redrawn after %v: %q", progressBarEvery, out)
	}
	out.Reset()
	p.finish()
	if s := out.String(); !strings.Contains(s, "[========================] 100%") || !strings.HasSuffix(s, "\n") {
		t.Errorf("finish %q: want a full bar and a newline", s)
	}
	if strings.Contains(out.String(), "ETA") {
		t.Errorf("finished bar shows an ETA: %q", out)
	}
}

func TestProgressAutoIsLinesOffATerminal(t *testing.T) {
	var b bytes.Buffer
	if p := newProgress(&b, progressAuto, "x", "rows", 1, nil, noEnv); p.mode != progressLines {
		t.Errorf("auto on a buffer: %s, want lines", p.mode)
	}
	p := newProgress(&b, progressNone, "x", "rows", 10, nil, noEnv)
	p.update(5, 5)
	p.finish()
	if b.Len() != 0 {
		t.Errorf("mode none wrote %q", b.String())
	}
}

func TestGroupDigitsAndHumanBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567, "1,234,567"}, {-1234, "-1,234"}} {
		if got := groupDigits(c.n); got != c.want {
			t.Errorf("groupDigits(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	for _, c := range []struct {
		n    int64
		want string
	}{{512, "512 B"}, {2048, "2.0 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := humanBytes(c.n); got != c.want {
			t.Errorf("humanBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
