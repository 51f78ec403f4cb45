package main

import (
	"testing"

	"github.com/blnode/blnode/node"
)

// revoke-user and flush send --reason; the node records it with the
// credential's name.
func TestClientReasonReachesTheAuditLog(t *testing.T) {
	const admin = "admin-token-0123456789"
	url, n := testNode(t, admin)
	env := map[string]string{"BLNODE_SERVER": url, "BLNODE_ADMIN_TOKEN": admin}
	if out, errOut, code := runCLI(t, env, "", "revoke-user", "42", "--reason", "left the company"); code != 0 {
		t.Fatalf("revoke-user: %d %s %s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, env, "", "flush", "--reason", "weekly"); code != 0 {
		t.Fatalf("flush: %d %s %s", code, out, errOut)
	}
	p, err := n.Audit(t.Context(), node.AuditQuery{})
	if err != nil || len(p.Entries) != 2 {
		t.Fatalf("audit %+v, %v", p.Entries, err)
	}
	if e := p.Entries[1]; e.Actor != "admin" || e.Action != "revoke_user" || e.Subject != "42" || e.Reason != "left the company" {
		t.Errorf("revoke entry %+v", e)
	}
	if e := p.Entries[0]; e.Actor != "admin" || e.Action != "flush" || e.Reason != "weekly" {
		t.Errorf("flush entry %+v", e)
	}
}
