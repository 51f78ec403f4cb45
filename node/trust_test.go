package node_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// embeddedPassword reads user's password from the data dir of a node whose
// embedded NATS server listens.
func embeddedPassword(t testing.TB, dataDir, user string) string {
	t.Helper()
	b, err := os.ReadFile(events.EmbeddedPasswordFile(filepath.Join(dataDir, "nats", "auth"), user))
	if err != nil {
		t.Fatalf("password of %s: %v", user, err)
	}
	return strings.TrimSpace(string(b))
}

// boundedEvents returns a node's blnode_events_bounded_total for bound.
func boundedEvents(t testing.TB, n *node.Node, bound string) float64 {
	t.Helper()
	v, ok := value(gather(t, n), "blnode_events_bounded_total", "bound", bound)
	if !ok {
		t.Fatalf("no blnode_events_bounded_total{bound=%q}", bound)
	}
	return v
}

// waitAppliedSeq waits until every node has applied the stream up to seq.
func waitAppliedSeq(t testing.TB, seq uint64, nodes ...*running) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		for i, n := range nodes {
			if st := n.FleetStatus(); st.LastApplied < seq {
				return fmt.Errorf("node %d applied up to %d, want %d", i, st.LastApplied, seq)
			}
		}
		return nil
	})
}

// A fleet of two full nodes, the first running the exposed embedded NATS
// server: a client without credentials cannot connect, and events forged
// with the full user's credentials cannot do more than each receiver's
// own clock allows.
func TestForgedEventsAreBoundedByTheReceiversClock(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	a := startNode(t, node.Config{NATS: node.NATSConfig{Listen: "127.0.0.1:0"}, Logger: quiet})
	url := a.FleetStatus().URL
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("node a's NATS URL %q: want the embedded server on loopback", url)
	}
	fullPW := embeddedPassword(t, a.dir, events.EmbeddedFullUser)
	b := startNode(t, node.Config{NATS: node.NATSConfig{URLs: []string{url}, User: events.EmbeddedFullUser, Password: fullPW}, Logger: quiet})
	nodes := []*running{a, b}
	srvs := make([]string, len(nodes))
	for i, n := range nodes {
		srv := httptest.NewServer(n.Handler())
		t.Cleanup(srv.Close)
		srvs[i] = srv.URL
	}
	verify := func(tok string) []int {
		t.Helper()
		st := make([]int, len(srvs))
		for i, u := range srvs {
			st[i] = postJSON(t, u+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`).status
		}
		return st
	}

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected to the exposed embedded server")
	}
	nc, err := nats.Connect(url, nats.UserInfo(events.EmbeddedFullUser, fullPW))
	if err != nil {
		t.Fatalf("connect with the full user's credentials: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := events.NewPublisher(js, events.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(ev events.Event) {
		t.Helper()
		ev.ID, ev.Origin, ev.Time = events.NewID(), "forger", time.Now()
		seq, err := forger.Publish(t.Context(), ev)
		if err != nil {
			t.Fatalf("publish forged %s: %v", ev.Kind, err)
		}
		waitAppliedSeq(t, seq, nodes...)
	}

	t.Run("flush ten years ahead", func(t *testing.T) {
		tok, jti := refresh(t)
		if got := postJSON(t, srvs[0]+"/api/token/blacklist/", `{"refresh":`+jsonString(tok)+`}`); got.status != 200 {
			t.Fatalf("blacklist: %d %s", got.status, got.body)
		}
		waitHasAll(t, []string{jti}, nodes...)
		before := [2]float64{boundedEvents(t, a.Node, "flush_cutoff"), boundedEvents(t, b.Node, "flush_cutoff")}

		publish(events.Event{Kind: events.KindFlush, Cutoff: time.Now().AddDate(10, 0, 0).Unix()})

		if st := verify(tok); st[0] != 400 || st[1] != 400 {
			t.Errorf("verify of the blacklisted token after the forged flush: %v, want 400 on both nodes", st)
		}
		for i, n := range nodes {
			if ok, err := n.Check(jti); err != nil || !ok {
				t.Errorf("node %d: Check = %v, %v after the forged flush, want blacklisted", i, ok, err)
			}
			if c, err := n.Store().Counts(); err != nil || c.Blacklisted != 1 || c.Outstanding != 1 {
				t.Errorf("node %d counts %+v, %v: want the blacklisted token and its outstanding record kept", i, c, err)
			}
			if got := boundedEvents(t, n.Node, "flush_cutoff"); got != before[i]+1 {
				t.Errorf("node %d: blnode_events_bounded_total{bound=flush_cutoff} = %v, want %v", i, got, before[i]+1)
			}
		}
	})

	t.Run("revoke_user a year ahead", func(t *testing.T) {
		const user = 4711
		old, _ := sjwt.Token{Type: "refresh", User: user, Now: time.Now().Add(-time.Hour)}.Mint(secret)
		publish(events.Event{Kind: events.KindRevokeUser, User: fmt.Sprint(user), NotBefore: time.Now().AddDate(1, 0, 0).Unix()})
		// Issued after every receiver applied the revocation.
		fresh, _ := sjwt.Token{Type: "refresh", User: user}.Mint(secret)
		if st := verify(fresh); st[0] != 200 || st[1] != 200 {
			t.Errorf("verify of a token issued after the revocation: %v, want 200 on both nodes (not locked out)", st)
		}
		if st := verify(old); st[0] != 400 || st[1] != 400 {
			t.Errorf("verify of a token issued an hour before the revocation: %v, want 400 on both nodes (still revoked)", st)
		}
		for i, n := range nodes {
			if got := boundedEvents(t, n.Node, "not_before"); got != 1 {
				t.Errorf("node %d: blnode_events_bounded_total{bound=not_before} = %v, want 1", i, got)
			}
		}
	})
}

// A writer refuses a revocation whose not-before is further ahead than the
// receivers would accept: the writer would lock the user out on its own
// while every other node applied it as now.
func TestRevokeRefusesFarFutureNotBefore(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	n, srv := newNode(t, func(c *node.Config) { c.Now = func() time.Time { return now } })
	for _, tc := range []struct {
		name      string
		notBefore time.Time
		refused   bool
	}{
		{name: "now", notBefore: now},
		{name: "within the skew", notBefore: now.Add(time.Minute)},
		{name: "a year ahead", notBefore: now.AddDate(1, 0, 0), refused: true},
		{name: "just past the skew", notBefore: now.Add(time.Minute + time.Second), refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.RevokeUser(t.Context(), "u-"+tc.name, tc.notBefore)
			if got := errors.Is(err, node.ErrInvalidInput); got != tc.refused {
				t.Fatalf("RevokeUser(not before %v) = %v, want refused %v", tc.notBefore, err, tc.refused)
			}
		})
	}
	got := postJSON(t, srv.URL+"/v1/users/42/revoke", fmt.Sprintf(`{"not_before":%d}`, now.AddDate(1, 0, 0).Unix()), "Authorization", "Bearer admin-secret")
	if got.status != 400 || !strings.Contains(got.body, "not_before") {
		t.Fatalf("POST /v1/users/42/revoke a year ahead: %d %s, want 400 naming not_before", got.status, got.body)
	}
	tok, _ := sjwt.Token{Type: "refresh", User: 42, Now: now}.Mint(secret)
	if got := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`); got.status != 200 {
		t.Fatalf("verify of user 42's token after the refused revocation: %d %s, want 200", got.status, got.body)
	}
}

// An embedded NATS server exposed beyond loopback without credentials is
// refused, with a message that says why and how to allow it.
func TestNewRefusesEmbeddedServerExposedWithoutAuth(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nats    node.NATSConfig
		refused bool
	}{
		{name: "every interface", nats: node.NATSConfig{Listen: ":0", NoAuth: true}, refused: true},
		{name: "unspecified address", nats: node.NATSConfig{Listen: "0.0.0.0:0", NoAuth: true}, refused: true},
		{name: "host name", nats: node.NATSConfig{Listen: "blnode.example:0", NoAuth: true}, refused: true},
		{name: "loopback", nats: node.NATSConfig{Listen: "127.0.0.1:0", NoAuth: true}},
		{name: "localhost", nats: node.NATSConfig{Listen: "localhost:0", NoAuth: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := node.New(node.Config{DataDir: t.TempDir(), Token: token.Config{HSSecret: secret}, NATS: tc.nats,
				Logger: slog.New(slog.DiscardHandler)})
			if n != nil {
				t.Cleanup(func() { n.Close() })
			}
			switch {
			case tc.refused && err == nil:
				t.Fatalf("node.New with NATS %+v: no error, want a refusal", tc.nats)
			case tc.refused && (!strings.Contains(err.Error(), "InsecureListen") || !strings.Contains(err.Error(), tc.nats.Listen)):
				t.Fatalf("node.New: %v, want a message naming the address and InsecureListen", err)
			case !tc.refused && err != nil:
				t.Fatalf("node.New with NATS %+v: %v", tc.nats, err)
			}
		})
	}
}

// A full node whose clock runs ten minutes ahead flushes: the tokens it
// thinks expired, which have not by the NATS server's clock, stay revoked
// on it and on a validator with a right clock. Without the server's clock
// the ahead node would drop them from its own store and accept them again
// once its clock is put right.
func TestFlushOnANodeWhoseClockRunsAhead(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	s := eventstest.RunServer(t)
	ahead := func() time.Time { return time.Now().Add(10 * time.Minute) }
	fullCfg := fleetConfig(node.RoleFull, 1, s)
	fullCfg.Now, fullCfg.Logger = ahead, quiet
	full := startNode(t, fullCfg)
	valCfg := fleetConfig(node.RoleValidator, 1, s)
	valCfg.Logger = quiet
	val := startNode(t, valCfg)
	nodes := []*running{full, val}
	waitAllReady(t, nodes...)

	// Expires in five minutes by the right clock: already expired by the
	// ahead node's, so it is blacklisted by id with the admin route.
	exp := time.Now().Add(5 * time.Minute).Unix()
	const jti = "expires-in-five-minutes"
	if _, err := full.Blacklist(t.Context(), persist.Record{JTI: jti, User: "42", Type: "refresh", ExpiresAt: exp, Reason: "test"}); err != nil {
		t.Fatalf("Blacklist: %v", err)
	}
	waitHasAll(t, []string{jti}, nodes...)
	// Both have applied the blacklisting from the stream, so none can
	// bring it back after the flush by applying it late.
	caughtUp := func() error {
		fs := full.FleetStatus()
		if fs.Lag != 0 || fs.LastApplied < fs.StreamLast || val.FleetStatus().LastApplied < fs.StreamLast {
			return fmt.Errorf("full %+v, validator applied %d", fs, val.FleetStatus().LastApplied)
		}
		return nil
	}
	poll.For(t, waitLong, pollEvery, caughtUp)

	before := boundedEvents(t, full.Node, "flush_cutoff")
	res, err := full.Flush(t.Context())
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := time.Until(res.Cutoff); got > 0 {
		t.Errorf("flush cutoff %v is %v ahead of the right clock, want at or before it", res.Cutoff, got)
	}
	if got := boundedEvents(t, full.Node, "flush_cutoff"); got != before+1 {
		t.Errorf("full node: blnode_events_bounded_total{bound=flush_cutoff} = %v, want %v", got, before+1)
	}
	// The flush event went through the stream to both nodes: wait until
	// both applied everything, then the token is still blacklisted on each.
	poll.For(t, waitLong, pollEvery, caughtUp)
	for i, n := range nodes {
		if ok, err := n.Check(jti); err != nil || !ok {
			t.Errorf("node %d: Check(%s) = %v, %v after the ahead node's flush, want blacklisted", i, jti, ok, err)
		}
	}
}
