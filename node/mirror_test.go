package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// addOutstandingN registers count issued tokens (logins) on n.
func addOutstandingN(t testing.TB, n *node.Node, prefix string, count int) {
	t.Helper()
	for i := range count {
		r := persist.Record{JTI: fmt.Sprintf("%s-%06d", prefix, i), ExpiresAt: time.Now().Add(time.Hour).Unix(), User: "u"}
		if _, err := n.AddOutstanding(t.Context(), r); err != nil {
			t.Fatalf("add outstanding %d: %v", i, err)
		}
	}
}

// sentTo returns the messages and bytes s has sent to the node's NATS
// connection.
func sentTo(t testing.TB, s *server.Server, n *node.Node) (msgs, bytes int64) {
	t.Helper()
	cz, err := s.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatalf("connz: %v", err)
	}
	for _, c := range cz.Conns {
		if c.Name == "blnode "+n.ID() {
			return c.OutMsgs, c.OutBytes
		}
	}
	t.Fatalf("no connection of node %s", n.ID())
	return 0, 0
}

// A validator keeps what checks read unless asked for a full mirror: with
// 100 logins per revocation, the default validator is sent the
// revocations only, rejects every blacklisted token, holds no outstanding
// record of a token not revoked, and is ready with no lag although the
// stream ends with logins; a full mirror keeps everything, as before.
func TestFleetValidatorMirror(t *testing.T) {
	s := eventstest.RunServer(t)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	revocations := startNode(t, fleetConfig(node.RoleValidator, 1, s))
	mcfg := fleetConfig(node.RoleValidator, 1, s)
	mcfg.ValidatorMirror = node.MirrorFull
	mirror := startNode(t, mcfg)

	const rounds, logins = 5, 100
	var revoked []string
	for i := range rounds {
		prefix := fmt.Sprint("login", i)
		addOutstandingN(t, full.Node, prefix, logins)
		revoked = append(revoked, blacklistN(t, full.Node, fmt.Sprint("revoked", i), 1)...)
	}
	addOutstandingN(t, full.Node, "tail", logins/2) // the stream ends with logins
	total := rounds*(logins+1) + logins/2

	waitHasAll(t, revoked, revocations, mirror)
	wc, err := full.Store().Counts()
	if err != nil {
		t.Fatal(err)
	}
	var streamLast uint64
	poll.For(t, waitLong, pollEvery, func() error {
		fs := full.FleetStatus()
		if fs.Published != uint64(total) || fs.LastApplied < fs.Published {
			return fmt.Errorf("writer published %d, applied to %d, want %d", fs.Published, fs.LastApplied, total)
		}
		streamLast = fs.LastApplied
		return nil
	})
	ws, _ := full.Status(t.Context())

	for _, tc := range []struct {
		name        string
		v           *running
		applied     uint64 // events handed to the store
		outstanding uint64 // outstanding records
	}{
		{"revocations", revocations, rounds, rounds}, // the blacklisted tokens' records only
		{"full", mirror, uint64(total), wc.Outstanding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Ready with lag 0 once the stream's last sequence is known.
			var st node.Status
			poll.For(t, waitLong, pollEvery, func() error {
				var err error
				if st, err = tc.v.Status(t.Context()); err != nil {
					return err
				}
				if !st.Ready || st.Lag != 0 || st.StreamLast < streamLast || st.EventsApplied != tc.applied {
					return fmt.Errorf("ready %v, lag %d, stream last %d (want %d), %d events applied (want %d)",
						st.Ready, st.Lag, st.StreamLast, streamLast, st.EventsApplied, tc.applied)
				}
				return nil
			})
			if st.Outstanding != tc.outstanding || st.Blacklisted != rounds || st.BlacklistDigest != ws.BlacklistDigest {
				t.Errorf("validator holds %d outstanding and %d blacklisted (digest %s), want %d and %d (digest %s)",
					st.Outstanding, st.Blacklisted, st.BlacklistDigest, tc.outstanding, rounds, ws.BlacklistDigest)
			}
			for _, jti := range revoked {
				if b, err := tc.v.Check(jti); err != nil || !b {
					t.Errorf("Check(%s) = %v, %v; want blacklisted", jti, b, err)
				}
			}
			msgs, bytes := sentTo(t, s, tc.v.Node)
			t.Logf("validator-mirror %s: %d revocations among %d events: %d applied; NATS sent it %d messages, %d bytes",
				tc.name, rounds, total, st.EventsApplied, msgs, bytes)
		})
	}
}
