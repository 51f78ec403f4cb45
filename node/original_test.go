package node_test

import (
	"testing"

	"github.com/blnode/blnode/internal/original"
	"github.com/blnode/blnode/internal/original/originaltest"
)

// TestSimpleJWTCompatAgainstOriginal asks the compat table's questions of
// the original itself — Simple JWT from Debian's packages, served by
// gunicorn, signing with the same secret — and requires its answers to be
// the table's, which TestSimpleJWTCompat requires of blnode: the two
// servers answer alike. The allowances: Debian's Simple JWT 5.2.2 answers
// "Token is invalid or expired" where current upstream (and so the table
// and blnode) answers "Token is invalid" or "Token is expired"; and where
// the original answers a 500, blnode answers a 4xx (rows marked
// original500; the test requires the original's 500 there, so a row that
// stops differing is noticed).
func TestSimpleJWTCompatAgainstOriginal(t *testing.T) {
	base := originaltest.Start(t, secret, compatLeeway).URL
	for _, r := range compatRows(base) {
		t.Run(r.name, func(t *testing.T) {
			got := r.ask(t)
			if r.original500 {
				if got.status != 500 {
					t.Errorf("the original answers %d %s, the row says it answers 500 (where blnode answers %d)", got.status, got.body, r.status)
				}
				return
			}
			if got.status != r.status {
				t.Fatalf("the original answers %d %s; the table (and blnode) %d %s", got.status, got.body, r.status, r.want)
			}
			if r.want != "" && got.body != r.want && !(got.body == original.InvalidOrExpired && (r.want == invalid || r.want == expired)) {
				t.Errorf("body\nthe original: %s\n   the table: %s", got.body, r.want)
			}
			r.checkRest(t, got)
		})
	}
}
