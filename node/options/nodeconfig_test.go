package options

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/node"
)

// writeSecret writes content to a new file and returns its path.
func writeSecret(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNodeConfig(t *testing.T) {
	data := t.TempDir()
	secret := filepath.Join(data, "hs")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c node.Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c node.Config) {
			if c.FlushInterval != 24*time.Hour || c.MaxTokenLifetime != 720*time.Hour || c.MaxEventSkew != time.Minute || c.Role != node.RoleFull || c.Region != "local" ||
				c.NATS.Disabled || len(c.NATS.URLs) != 0 || c.Stream.Name != "BLNODE" || c.Stream.Replicas != 1 || c.AdminToken != "" ||
				c.AuthFailureBurst != 10 || c.AuthFailureRefill != time.Second {
				t.Errorf("config %+v", c)
			}
			if string(c.Token.HSSecret) != "0123456789abcdef0123456789abcdef" || c.Token.JTIClaim != "jti" || c.Token.UserIDClaim != "user_id" {
				t.Errorf("token config %+v", c.Token)
			}
		}},
		{name: "auth failure limit", args: []string{"--auth-failure-burst", "3", "--auth-failure-refill", "1m"}, check: func(t *testing.T, c node.Config) {
			if c.AuthFailureBurst != 3 || c.AuthFailureRefill != time.Minute {
				t.Errorf("AuthFailureBurst %d, AuthFailureRefill %v; want 3, 1m", c.AuthFailureBurst, c.AuthFailureRefill)
			}
		}},
		{name: "auth failure limit 0 disables", args: []string{"--auth-failure-burst", "0"}, check: func(t *testing.T, c node.Config) {
			if c.AuthFailureBurst >= 0 {
				t.Errorf("AuthFailureBurst = %d, want negative", c.AuthFailureBurst)
			}
		}},
		{name: "snapshot interval 0 disables", args: []string{"--snapshot-interval", "0"}, check: func(t *testing.T, c node.Config) {
			if c.SnapshotInterval >= 0 {
				t.Errorf("SnapshotInterval = %v, want negative", c.SnapshotInterval)
			}
		}},
		{name: "snapshot interval", args: []string{"--snapshot-interval", "5m"}, check: func(t *testing.T, c node.Config) {
			if c.SnapshotInterval != 5*time.Minute {
				t.Errorf("SnapshotInterval = %v, want 5m", c.SnapshotInterval)
			}
		}},
		{name: "flush interval 0 disables", args: []string{"--flush-interval", "0"}, check: func(t *testing.T, c node.Config) {
			if c.FlushInterval >= 0 {
				t.Errorf("FlushInterval = %v, want negative", c.FlushInterval)
			}
		}},
		{name: "refresh grace and family lifetime", args: []string{"--refresh-grace", "30s", "--refresh-family-lifetime", "720h"}, check: func(t *testing.T, c node.Config) {
			if c.RefreshGrace != 30*time.Second || c.RefreshFamilyLifetime != 720*time.Hour {
				t.Errorf("RefreshGrace %v, RefreshFamilyLifetime %v; want 30s, 720h", c.RefreshGrace, c.RefreshFamilyLifetime)
			}
		}},
		{name: "refresh grace and family lifetime default to off", check: func(t *testing.T, c node.Config) {
			if c.RefreshGrace != 0 || c.RefreshFamilyLifetime != 0 {
				t.Errorf("RefreshGrace %v, RefreshFamilyLifetime %v; want 0, 0", c.RefreshGrace, c.RefreshFamilyLifetime)
			}
		}},
		{name: "fleet", args: []string{"--role", "validator", "--region", "eu-west", "--node-id", "n1", "--nats", "nats://127.0.0.1:4222,nats://127.0.0.1:4223",
			"--nats-user", "u", "--stream", "S", "--stream-replicas", "3"}, env: map[string]string{"BLNODE_NATS_PASSWORD": "pw"},
			check: func(t *testing.T, c node.Config) {
				if c.Role != node.RoleValidator || c.Region != "eu-west" || c.NodeID != "n1" || c.NATS.User != "u" || c.NATS.Password != "pw" ||
					!slices.Equal(c.NATS.URLs, []string{"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}) || c.Stream.Name != "S" || c.Stream.Replicas != 3 {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "no nats", args: []string{"--no-nats", "--keep-raw-token", "--leeway", "5s"}, check: func(t *testing.T, c node.Config) {
			if !c.NATS.Disabled || !c.KeepRawToken || c.Token.Leeway != 5*time.Second {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "admin token from env, trimmed", env: map[string]string{"BLNODE_ADMIN_TOKEN": " admin-token-0123456789 "}, check: func(t *testing.T, c node.Config) {
			if c.AdminToken != "admin-token-0123456789" {
				t.Errorf("AdminToken = %q", c.AdminToken)
			}
		}},
		{name: "feed token from env, trimmed", env: map[string]string{"BLNODE_FEED_TOKEN": " feed-token-0123456789 "}, check: func(t *testing.T, c node.Config) {
			if c.FeedToken != "feed-token-0123456789" {
				t.Errorf("FeedToken = %q", c.FeedToken)
			}
		}},
		{name: "feed token from a file", args: []string{"--feed-token-file", secret}, check: func(t *testing.T, c node.Config) {
			if c.FeedToken != "0123456789abcdef0123456789abcdef" {
				t.Errorf("FeedToken = %q", c.FeedToken)
			}
		}},
		{name: "no feed token by default", check: func(t *testing.T, c node.Config) {
			if c.FeedToken != "" {
				t.Errorf("FeedToken = %q, want none", c.FeedToken)
			}
		}},
		{name: "on damaged store", args: []string{"--role", "validator", "--on-damaged-store", "refuse"}, check: func(t *testing.T, c node.Config) {
			if c.OnDamagedStore != node.DamagedRefuse {
				t.Errorf("OnDamagedStore = %q, want refuse", c.OnDamagedStore)
			}
		}},
		{name: "validator mirror default", args: []string{"--role", "validator"}, check: func(t *testing.T, c node.Config) {
			if c.ValidatorMirror != node.MirrorRevocations {
				t.Errorf("ValidatorMirror = %q, want revocations", c.ValidatorMirror)
			}
		}},
		{name: "validator mirror full", args: []string{"--role", "validator", "--validator-mirror", "full"}, check: func(t *testing.T, c node.Config) {
			if c.ValidatorMirror != node.MirrorFull {
				t.Errorf("ValidatorMirror = %q, want full", c.ValidatorMirror)
			}
		}},
		{name: "validator without nats", args: []string{"--role", "validator", "--no-nats"}, wantErr: "validator needs NATS"},
		{name: "nats password from a file", args: []string{"--nats", "nats://127.0.0.1:4222", "--nats-user", "blnode-validator", "--nats-password-file", secret},
			check: func(t *testing.T, c node.Config) {
				if c.NATS.User != "blnode-validator" || c.NATS.Password != "0123456789abcdef0123456789abcdef" {
					t.Errorf("NATS config %+v", c.NATS)
				}
			}},
		{name: "embedded server exposed with credentials by default", args: []string{"--nats-listen", "0.0.0.0:4222"}, check: func(t *testing.T, c node.Config) {
			if c.NATS.Listen != "0.0.0.0:4222" || c.NATS.NoAuth || c.NATS.InsecureListen {
				t.Errorf("NATS config %+v", c.NATS)
			}
		}},
		{name: "no auth on loopback", args: []string{"--nats-listen", "127.0.0.1:4222", "--nats-no-auth"}, check: func(t *testing.T, c node.Config) {
			if !c.NATS.NoAuth || c.NATS.InsecureListen {
				t.Errorf("NATS config %+v", c.NATS)
			}
		}},
		{name: "no auth beyond loopback refused", args: []string{"--nats-listen", "0.0.0.0:4222", "--nats-no-auth"},
			wantErr: "the embedded NATS server would accept anyone who reaches 0.0.0.0:4222, who could then rewrite the fleet's blacklist; listen on loopback, drop --nats-no-auth, or add --nats-insecure-listen"},
		{name: "no auth on every interface refused", args: []string{"--nats-listen", ":4222", "--nats-no-auth"}, wantErr: "--nats-insecure-listen"},
		{name: "no auth beyond loopback when insisted on", args: []string{"--nats-listen", "0.0.0.0:4222", "--nats-no-auth", "--nats-insecure-listen"},
			check: func(t *testing.T, c node.Config) {
				if !c.NATS.NoAuth || !c.NATS.InsecureListen {
					t.Errorf("NATS config %+v", c.NATS)
				}
			}},
		{name: "missing public key", args: []string{"--public-key-file", filepath.Join(data, "nope.pem")}, wantErr: "--public-key-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--data", data, "--hs-secret-file", secret}, tt.args...)
			s, err := resolveServe(t, args, tt.env, "")
			if err != nil {
				t.Fatal(err)
			}
			c, err := NodeConfig(s, log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestNodeConfigDevSecret(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	var logs bytes.Buffer
	s, err := resolveServe(t, []string{"--data", data}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NodeConfig(s, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(data, "dev-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Token.HSSecret)+"\n" != string(b) {
		t.Errorf("HSSecret %q is not the dev-secret file's %q", c.Token.HSSecret, b)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "DEVELOPMENT SECRET") {
		t.Errorf("no loud warning logged: %s", logs.String())
	}
}

// TestNodeConfigClockOffset: --clock-offset shifts the node's clock and
// warns; without it the node keeps the default clock and says nothing.
func TestNodeConfigClockOffset(t *testing.T) {
	for _, tt := range []struct {
		name   string
		args   []string
		offset time.Duration
	}{
		{name: "ahead", args: []string{"--clock-offset", "10m"}, offset: 10 * time.Minute},
		{name: "behind", args: []string{"--clock-offset", "-1h"}, offset: -time.Hour},
		{name: "unset", offset: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := resolveServe(t, append([]string{"--data", t.TempDir(), "--hs-secret-file", writeSecret(t, "clock-offset-secret-0123456789")}, tt.args...), nil, "")
			if err != nil {
				t.Fatal(err)
			}
			c, err := NodeConfig(s, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "--clock-offset is set")
			if tt.offset == 0 {
				if c.Now != nil || warned {
					t.Errorf("no offset: Now set %v, warned %v: %s", c.Now != nil, warned, logs.String())
				}
				return
			}
			before := time.Now()
			got := c.Now()
			if d := got.Sub(before) - tt.offset; d < 0 || d > time.Minute {
				t.Errorf("Now() = %v at %v: want the offset %v added", got, before, tt.offset)
			}
			if !warned || !strings.Contains(logs.String(), "clock_offset="+tt.offset.String()) {
				t.Errorf("no warning naming the offset: %s", logs.String())
			}
		})
	}
}
