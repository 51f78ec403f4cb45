package node_test

import (
	"errors"
	"testing"
	"time"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// TestUserAndFamilyRevocationsAreApart: the store once keyed a family's
// revocation as NUL + family id, the form of a user id with a leading NUL.
// A token of user "\x00abc" must not be revoked by a revocation of family
// "abc" (it is refused outright: no store could hold its user, so it could
// never be revoked), nor a token of family "abc" by one of user "\x00abc"
// (which the node refuses to write), as the node's check path sees them.
func TestUserAndFamilyRevocationsAreApart(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name        string
		revoke      func(n *node.Node) error
		user, fam   string // of the token checked
		wantRevoke  bool
		wantInvalid bool // refused before any revocation is looked at
	}{
		{name: "family abc revoked, token of user NUL abc", user: "\x00abc", wantInvalid: true,
			revoke: func(n *node.Node) error {
				_, err := n.RevokeFamily(t.Context(), "", "abc", t0.Add(10*time.Second))
				return err
			}},
		{name: "family abc revoked, token of family abc", user: "42", fam: "abc", wantRevoke: true,
			revoke: func(n *node.Node) error {
				_, err := n.RevokeFamily(t.Context(), "", "abc", t0.Add(10*time.Second))
				return err
			}},
		{name: "user NUL abc revoked, token of family abc", user: "42", fam: "abc",
			revoke: func(n *node.Node) error {
				if _, err := n.RevokeUser(t.Context(), "\x00abc", t0.Add(10*time.Second)); !errors.Is(err, node.ErrInvalidInput) {
					return errors.Join(errors.New("RevokeUser of a user id with NUL was not refused"), err)
				}
				return nil
			}},
		{name: "user abc revoked, token of family abc", user: "42", fam: "abc",
			revoke: func(n *node.Node) error {
				_, err := n.RevokeUser(t.Context(), "abc", t0.Add(10*time.Second))
				return err
			}},
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
			if tc.wantInvalid {
				if !errors.Is(err, token.ErrInvalid) {
					t.Fatalf("Verify after the revocation: %v, want token.ErrInvalid", err)
				}
				return
			}
			if tc.wantRevoke != errors.Is(err, node.ErrUserRevoked) || (!tc.wantRevoke && err != nil) {
				t.Fatalf("Verify after the revocation: %v, want revoked %v", err, tc.wantRevoke)
			}
		})
	}
}
