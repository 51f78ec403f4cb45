package poll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	errLate := errors.New("not yet")
	tests := []struct {
		name    string
		ctx     func() context.Context
		succeed int // f succeeds from this call on; 0 never
		wantErr string
		wantIs  []error
	}{
		{name: "at once", ctx: context.Background, succeed: 1},
		{name: "after some calls", ctx: context.Background, succeed: 4},
		{name: "never", ctx: context.Background, wantErr: "not within 30ms: not yet", wantIs: []error{errLate}},
		{name: "context ended", ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, wantErr: "context canceled (last: not yet)", wantIs: []error{context.Canceled}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Until(tc.ctx(), 30*time.Millisecond, time.Millisecond, func() error {
				calls++
				if tc.succeed > 0 && calls >= tc.succeed {
					return nil
				}
				return errLate
			})
			if tc.wantErr == "" {
				if err != nil || calls != tc.succeed {
					t.Fatalf("Until: %v after %d calls, want nil after %d", err, calls, tc.succeed)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Until: %v, want %q", err, tc.wantErr)
			}
			for _, target := range tc.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("Until: %v is not %v", err, target)
				}
			}
		})
	}
}

// recorder is a testing.TB that records what would fail the test.
type recorder struct {
	testing.TB
	fatal string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }

func TestFor(t *testing.T) {
	var r recorder
	n := 0
	For(&r, time.Second, time.Millisecond, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.fatal != "" || n != 3 {
		t.Errorf("For failed with %q after %d calls, want success after 3", r.fatal, n)
	}
	ForTrue(&r, 10*time.Millisecond, time.Millisecond, func() bool { return false })
	if !strings.Contains(r.fatal, "not within 10ms: condition not met") {
		t.Errorf("ForTrue failed with %q, want the timeout named", r.fatal)
	}
}
