package options

import (
	"log/slog"
	"testing"
	"time"
)

// TestNodeConfigAuthCacheMaxAge: --auth-cache-max-age reaches
// node.Config.AuthCacheMaxAge, and is off unless given.
func TestNodeConfigAuthCacheMaxAge(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want time.Duration
	}{
		{name: "default off", want: 0},
		{name: "flag", args: []string{"--auth-cache-max-age", "15s"}, want: 15 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir(), "--hs-secret-file", writeSecret(t, "auth-cache-secret-0123456789abcdef")}, tt.args...)
			s, err := resolveServe(t, args, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			c, err := NodeConfig(s, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if c.AuthCacheMaxAge != tt.want {
				t.Errorf("AuthCacheMaxAge = %v, want %v", c.AuthCacheMaxAge, tt.want)
			}
		})
	}
}
