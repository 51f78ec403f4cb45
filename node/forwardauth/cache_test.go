package forwardauth

import (
	"testing"
	"time"
)

// TestPassMaxAge is the rule of a cached pass's lifetime: the configured
// maximum, never past the token's exp, in whole seconds rounded down.
func TestPassMaxAge(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		maxAge time.Duration
		now    time.Time
		exp    time.Time
		want   int64
	}{
		{"exp far: the maximum", 30 * time.Second, now, now.Add(time.Hour), 30},
		{"exp sooner: seconds to exp", 30 * time.Second, now, now.Add(12 * time.Second), 12},
		{"exp equals the maximum", 30 * time.Second, now, now.Add(30 * time.Second), 30},
		{"part of a second gone: rounded down", 30 * time.Second, now.Add(300 * time.Millisecond), now.Add(12 * time.Second), 11},
		{"maximum with a fraction: rounded down", 2500 * time.Millisecond, now, now.Add(time.Hour), 2},
		{"under a second to exp: not stored", 30 * time.Second, now.Add(400 * time.Millisecond), now.Add(time.Second), 0},
		{"at exp: not stored", 30 * time.Second, now, now, 0},
		{"past exp, within the leeway: not stored", 30 * time.Second, now, now.Add(-5 * time.Second), -5},
		{"no exp: the maximum", 30 * time.Second, now, time.Time{}, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := passMaxAge(tc.maxAge, tc.now, tc.exp); got != tc.want {
				t.Errorf("passMaxAge(%v, now, exp in %v) = %d, want %d", tc.maxAge, tc.exp.Sub(tc.now), got, tc.want)
			}
		})
	}
}
