package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/blnode/blnode/node/options"
)

func TestParseInterspersed(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	tests := []struct {
		args    []string
		wantPos []string
		reason  string
	}{
		{args: []string{"TOKEN", "--reason", "r"}, wantPos: []string{"TOKEN"}, reason: "r"},
		{args: []string{"--reason", "r", "TOKEN"}, wantPos: []string{"TOKEN"}, reason: "r"},
		{args: []string{"A", "--reason=r", "B"}, wantPos: []string{"A", "B"}, reason: "r"},
		{args: []string{"--", "--reason", "r"}, wantPos: []string{"--reason", "r"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newCmdline(e, "blacklist", "", "", options.ClientNames()...)
			reason := c.fs.String("reason", "", "")
			pos, err := c.parse(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || *reason != tt.reason {
				t.Errorf("arguments %q, reason %q; want %q, %q", pos, *reason, tt.wantPos, tt.reason)
			}
		})
	}
}
