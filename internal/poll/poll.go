// Package poll is the module's one way to wait for a condition: call a
// function until it reports success, with a deadline, instead of sleeping
// for a guessed time. Until returns an error and serves programs (the
// benchmark harness); For fails a test and serves every test package,
// persist's included: it depends on the standard library alone.
//
// # Caveats
//
//   - f runs on the caller's goroutine, once at once and then once per
//     interval; a slow f stretches the interval, and f may run once after
//     the deadline has passed (the last try decides).
//   - For polls with context.Background(): it also works in a t.Cleanup
//     function, after t.Context() has ended.
package poll

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Until calls f every interval until it returns nil, and returns nil then.
// If timeout passes first it returns f's last error, wrapped as "not within
// TIMEOUT: …"; if ctx ends first, ctx's error with f's last one.
func Until(ctx context.Context, timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", timeout, err)
		}
		timer.Reset(interval)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-timer.C:
		}
	}
}

// For calls f every interval until it returns nil, and fails the test with
// f's last error if that does not happen within timeout.
func For(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	if err := Until(context.Background(), timeout, interval, f); err != nil {
		t.Fatal(err)
	}
}

// ForTrue is For with a condition that has no error to tell: it fails the
// test with "condition not met within TIMEOUT".
func ForTrue(t testing.TB, timeout, interval time.Duration, cond func() bool) {
	t.Helper()
	For(t, timeout, interval, func() error {
		if cond() {
			return nil
		}
		return errNotMet
	})
}

// errNotMet is ForTrue's error while its condition does not hold.
var errNotMet = errors.New("condition not met")
