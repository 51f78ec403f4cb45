package events

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The embedded server gives its users the permissions the shipped
// deploy/nats/accounts.conf gives the same users: one set of rules, whether
// the fleet runs on a node's embedded server or on a NATS cluster.
func TestEmbeddedPermissionsMatchAccountsConf(t *testing.T) {
	for _, env := range []string{"BLNODE_FULL_NATS_PASSWORD", "BLNODE_VALIDATOR_NATS_PASSWORD", "BLNODE_OPS_NATS_PASSWORD"} {
		t.Setenv(env, "x")
	}
	text, err := os.ReadFile(filepath.Join("..", "deploy", "nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "accounts.conf")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("load deploy/nats/accounts.conf: %v", err)
	}
	shipped := map[string]*server.Permissions{}
	for _, u := range opts.Users {
		shipped[u.Username] = u.Permissions
	}
	for _, user := range []string{EmbeddedFullUser, EmbeddedValidatorUser} {
		t.Run(user, func(t *testing.T) {
			want := shipped[user]
			if want == nil {
				t.Fatalf("deploy/nats/accounts.conf has no user %s", user)
			}
			got := rolePermissions(user, DefaultPrefix, []string{DefaultStreamName})
			for _, p := range []struct {
				what      string
				got, want *server.SubjectPermission
			}{{"publish", got.Publish, want.Publish}, {"subscribe", got.Subscribe, want.Subscribe}} {
				g, w := slices.Sorted(slices.Values(p.got.Allow)), slices.Sorted(slices.Values(p.want.Allow))
				if !slices.Equal(g, w) || len(p.got.Deny) != len(p.want.Deny) {
					t.Errorf("%s allow %q deny %q; accounts.conf allows %q deny %q", p.what, g, p.got.Deny, w, p.want.Deny)
				}
			}
		})
	}
}
