package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestPprofRefusesNonLoopback is issue 17: --pprof on a non-loopback
// address started silently. Such an address is now refused unless remote
// access is allowed, and then a WARN says the profiler is exposed.
func TestPprofRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		name        string
		addr        string
		allowRemote bool
		wantErr     bool
		wantWarn    bool
	}{
		{"IPv4 loopback", "127.0.0.1:0", false, false, false},
		{"another 127/8 address", "127.0.0.2:0", false, false, false},
		{"IPv6 loopback", "[::1]:0", false, false, false},
		{"localhost", "localhost:0", false, false, false},
		{"every interface, no host", ":0", false, true, false},
		{"every IPv4 interface", "0.0.0.0:0", false, true, false},
		{"every IPv6 interface", "[::]:0", false, true, false},
		{"every interface, allowed", ":0", true, false, true},
		{"every IPv4 interface, allowed", "0.0.0.0:0", true, false, true},
		{"loopback, allowed: no warning", "127.0.0.1:0", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			stop, err := servePprof(tt.addr, tt.allowRemote, log)
			if err != nil && strings.Contains(err.Error(), "cannot assign requested address") {
				t.Skipf("%s cannot be bound here: %v", tt.addr, err)
			}
			if stop != nil {
				t.Cleanup(stop)
			}
			if tt.wantErr {
				if !errors.Is(err, errPprofRemote) {
					t.Fatalf("servePprof(%q) = %v, want %v", tt.addr, err, errPprofRemote)
				}
				if logs.Len() != 0 {
					t.Errorf("a refused profiler logged %q", logs.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("servePprof(%q): %v", tt.addr, err)
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != tt.wantWarn {
				t.Errorf("WARN logged: %v, want %v; log:\n%s", warned, tt.wantWarn, logs.String())
			}
		})
	}
}
