package node_test

import (
	"errors"
	"testing"
	"time"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// TestUserAndFamilyRevocationsAreApart: a user id may hold any character,
// NUL too, and the store keys a family's revocation as NUL + family id. A
// token of user "\x00abc" must not be revoked by a revocation of family
// "abc", nor a token of family "abc" by one of user "\x00abc" (which the
// store refuses to hold), as the node's check path sees them.
func TestUserAndFamilyRevocationsAreApart(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name       string
		revoke     func(n *node.Node) error
		user, fam  string // of the token checked
		wantRevoke bool
	}{
		{name: "family abc revoked, token of user NUL abc", user: "\x00abc",
			revoke: func(n *node.Node) error { _, err := n.RevokeFamily("", "abc", t0.Add(10*time.Second)); return err }},
		{name: "family abc revoked, token of family abc", user: "42", fam: "abc", wantRevoke: true,
			revoke: func(n *node.Node) error { _, err := n.RevokeFamily("", "abc", t0.Add(10*time.Second)); return err }},
		{name: "user NUL abc revoked, token of family abc", user: "42", fam: "abc",
			revoke: func(n *node.Node) error {
				if _, err := n.RevokeUser("\x00abc", t0.Add(10*time.Second)); !errors.Is(err, node.ErrInvalidInput) {
					return errors.Join(errors.New("RevokeUser of a user id with NUL was not refused"), err)
				}
				return nil
			}},
		{name: "user abc revoked, token of family abc", user: "42", fam: "abc",
			revoke: func(n *node.Node) error { _, err := n.RevokeUser("abc", t0.Add(10*time.Second)); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := newNode(t, func(c *node.Config) { c.Now = func() time.Time { return t0 } })
			extra := map[string]any{}
			if tc.fam != "" {
				extra["fam"] = tc.fam
			}
			raw, _, err := n.Verifier().Mint(token.MintOptions{Type: "access", User: tc.user, Extra: extra})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.revoke(n); err != nil {
				t.Fatal(err)
			}
			_, err = n.Verify(raw, "")
			if tc.wantRevoke != errors.Is(err, node.ErrUserRevoked) || (!tc.wantRevoke && err != nil) {
				t.Fatalf("Verify after the revocation: %v, want revoked %v", err, tc.wantRevoke)
			}
		})
	}
}
