package options

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blnode/blnode/node/nodehttp"
)

func TestNodeConfigAdminCredentialsFile(t *testing.T) {
	data := t.TempDir()
	secret := writeSecret(t, "0123456789abcdef0123456789abcdef\n")
	good := filepath.Join(data, "creds")
	if err := os.WriteFile(good, []byte("# ops\nalice:alice-0123456789abcdef:write\ngrafana:grafana-0123456789abc:read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(data, "bad")
	if err := os.WriteFile(bad, []byte("alice:alice-0123456789abcdef:write\nbob:alice-0123456789abcdef:read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, wantErr string
		env                 map[string]string
	}{
		{name: "file", file: good},
		{name: "from the environment", env: map[string]string{"BLNODE_ADMIN_CREDENTIALS_FILE": good}},
		{name: "duplicate token", file: bad, wantErr: "--admin-credentials-file: " + bad + ": nodehttp: admin credentials: line 2: the token of \"bob\" is the token of line 1"},
		{name: "missing file", file: filepath.Join(data, "nope"), wantErr: "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--data", data, "--hs-secret-file", secret}
			if c.file != "" {
				args = append(args, "--admin-credentials-file", c.file)
			}
			s, err := resolveServe(t, args, c.env, "")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := NodeConfig(s, slog.New(slog.DiscardHandler))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.AdminCredentials) != 2 || cfg.AdminCredentials[0].Name != "alice" || cfg.AdminCredentials[1].Scope != nodehttp.ScopeRead {
				t.Fatalf("credentials %+v", cfg.AdminCredentials)
			}
		})
	}
}
