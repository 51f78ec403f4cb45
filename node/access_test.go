package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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
	"github.com/blnode/blnode/persist"
)

// wrongAdminTokens are bearer tokens that are not right: every length
// from empty to a few past the right one, every prefix, the right one
// with each byte changed, with a byte added, in another case.
func wrongAdminTokens(right string) []string {
	var out []string
	for l := 0; l <= len(right)+3; l++ {
		out = append(out, strings.Repeat("x", l))
		if l < len(right) {
			out = append(out, right[:l])
		}
	}
	for i := range len(right) {
		b := []byte(right)
		b[i] ^= 0x01
		out = append(out, string(b))
	}
	out = append(out, right+"x", "x"+right, strings.ToUpper(right), right+right)
	return out
}

// TestAdminTokenRequired: every admin route answers 401 to each wrong
// bearer token (and to the right one under another scheme) and does
// nothing, and 200 to the right one. No timing is measured: the compare
// is constant-time by construction (SHA-256 digests, subtle). The limit on
// failures is off here, so every wrong token is checked; it has its own
// test (TestAuthFailureLimit).
func TestAdminTokenRequired(t *testing.T) {
	const right = "admin-secret"
	n, srv := newNode(t, func(c *node.Config) { c.AuthFailureBurst = -1 })
	tok, _ := sjwt.Token{Type: "access", User: 7}.Mint(secret)
	exp := fmt.Sprint(time.Now().Add(time.Hour).Unix())
	type route struct {
		method, path, ctype, body string
	}
	routes := []route{
		{http.MethodGet, "/v1/tokens", "", ""},
		{http.MethodGet, "/v1/status", "", ""},
		{http.MethodPost, "/v1/flush", "", ""},
		{http.MethodPost, "/v1/users/victim/revoke", "", ""},
		{http.MethodPost, "/v1/blacklist", "application/json", `{"jti":"adm-1","exp":` + exp + `}`},
		{http.MethodPost, "/oauth/introspect", "application/x-www-form-urlencoded", "token=" + url.QueryEscape(tok)},
		{http.MethodPost, "/v1/sessions/victim/revoke", "", ""},
		{http.MethodPost, "/v1/clients/victim/revoke", "", ""},
		{http.MethodPost, "/v1/issuer/revoke", "application/json", `{"issuer":"victim"}`},
	}
	wrong := append(wrongAdminTokens(right), "")
	tried := 0
	for _, rt := range routes {
		for _, w := range wrong {
			for _, hdr := range []string{"Bearer " + w, "Basic " + right, right, "Bearer  " + right, "Token " + right} {
				if w != "" && hdr != "Bearer "+w {
					continue // the other schemes once per route
				}
				tried++
				got := do(t, rt.method, srv.URL+rt.path, rt.ctype, rt.body, "Authorization", hdr)
				if got.status != http.StatusUnauthorized {
					t.Errorf("%s %s with Authorization %q: %d %s, want 401", rt.method, rt.path, hdr, got.status, got.body)
				}
				if ct := got.header.Get("Content-Type"); ct != "application/json" || !json.Valid([]byte(got.body)) {
					t.Errorf("%s %s: 401 with %q %q, want a JSON error", rt.method, rt.path, ct, got.body)
				}
			}
		}
	}
	// Nothing the wrong tokens asked for happened.
	if b, _ := n.Check("adm-1"); b {
		t.Error("a wrong admin token blacklisted adm-1")
	}
	if _, ok, _ := n.Store().UserNotBefore("victim"); ok {
		t.Error("a wrong admin token revoked a user")
	}
	for by := persist.BySession; by <= persist.ByIssuer; by++ {
		if _, ok, _ := n.Store().ScopedNotBefore(by, "victim"); ok {
			t.Errorf("a wrong admin token revoked a %s", by)
		}
	}
	// A non-admin GET of a record does not show it.
	for _, w := range wrong[:5] {
		if got := do(t, http.MethodGet, srv.URL+"/v1/blacklist/adm-1", "", "", "Authorization", "Bearer "+w); strings.Contains(got.body, `"record"`) {
			t.Errorf("GET /v1/blacklist/{jti} with a wrong admin token shows the record: %s", got.body)
		}
	}
	for _, rt := range routes {
		got := do(t, rt.method, srv.URL+rt.path, rt.ctype, rt.body, "Authorization", "Bearer "+right)
		if got.status != http.StatusOK {
			t.Errorf("%s %s with the admin token: %d %s, want 200", rt.method, rt.path, got.status, got.body)
		}
	}
	if b, _ := n.Check("adm-1"); !b {
		t.Error("the admin token did not blacklist adm-1")
	}
	t.Logf("%d requests with wrong admin credentials over %d routes", tried, len(routes))

	// Without an admin token configured, admin routes are off: 403 to all.
	_, off := newNode(t, func(c *node.Config) { c.AdminToken = "" })
	for _, rt := range routes[:5] {
		for _, hdr := range []string{"", "Bearer ", "Bearer x"} {
			if got := do(t, rt.method, off.URL+rt.path, rt.ctype, rt.body, "Authorization", hdr); got.status != http.StatusForbidden {
				t.Errorf("admin disabled: %s %s with %q: %d %s, want 403", rt.method, rt.path, hdr, got.status, got.body)
			}
		}
	}
}

// forgedEvent is a well-formed blacklist event that no node wrote.
func forgedEvent(t testing.TB, jti string) []byte {
	t.Helper()
	ev := events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "forged-origin", Region: "local", Time: time.Now(),
		Token: &events.Token{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix()}}
	b, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// streamLastSeq reads the stream's last sequence through nc.
func streamLastSeq(t testing.TB, nc *nats.Conn) uint64 {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "BLNODE")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestFleetUnauthorisedPublishNeverReachesTheStream: with the accounts of
// fleetConf, neither the validator's credentials nor an anonymous or
// wrong-password connection can put an event on the stream, plainly or
// through the JetStream API, or purge it; the stream's last sequence does
// not move and no node applies the forged token. The writer's credentials
// can: events are not signed, so publish permission is the trust boundary.
func TestFleetUnauthorisedPublishNeverReachesTheStream(t *testing.T) {
	s := eventstest.RunServerWithConfig(t, "listen: 127.0.0.1:-1\njetstream: {store_dir: "+jsonString(t.TempDir())+"}\n"+fleetConf)
	wcfg := fleetConfig(node.RoleFull, 1, s)
	wcfg.NATS.User, wcfg.NATS.Password = "writer", "w"
	full := startNode(t, wcfg)
	vcfg := fleetConfig(node.RoleValidator, 1, s)
	vcfg.NATS.User, vcfg.NATS.Password = "validator", "v"
	v := startNode(t, vcfg)
	waitHasAll(t, blacklistN(t, full.Node, "before", 5), v)

	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	writer, err := nats.Connect(s.ClientURL(), nats.UserInfo("writer", "w"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	before := streamLastSeq(t, writer)

	for _, cred := range []struct {
		name string
		opts []nats.Option
	}{
		{"anonymous", nil},
		{"wrong password", []nats.Option{nats.UserInfo("writer", "nope")}},
		{"unknown user", []nats.Option{nats.UserInfo("mallory", "m")}},
	} {
		if nc, err := nats.Connect(s.ClientURL(), append(cred.opts, quiet, nats.MaxReconnects(0))...); err == nil {
			nc.Close()
			t.Errorf("%s connection accepted", cred.name)
		}
	}

	vc, err := nats.Connect(s.ClientURL(), nats.UserInfo("validator", "v"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	attempts := 0
	// A plain publish: the server drops it (permissions violation).
	for i := range 5 {
		attempts++
		if err := vc.Publish("blnode.ev.local.blacklist", forgedEvent(t, fmt.Sprint("forged-plain-", i))); err != nil {
			t.Logf("plain publish refused at once: %v", err)
		}
	}
	if err := vc.Flush(); err != nil {
		t.Logf("flush after forbidden publishes: %v", err)
	}
	// A JetStream publish waits for an ack that never comes.
	vjs, err := jetstream.New(vc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		attempts++
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		_, err := vjs.Publish(ctx, "blnode.ev.local.blacklist", forgedEvent(t, fmt.Sprint("forged-js-", i)))
		cancel()
		if err == nil {
			t.Errorf("the validator's credentials published to the stream")
		}
	}
	// Nor can they purge or delete the stream.
	for _, api := range []string{"$JS.API.STREAM.PURGE.BLNODE", "$JS.API.STREAM.DELETE.BLNODE", "$JS.API.STREAM.MSG.DELETE.BLNODE"} {
		attempts++
		if msg, err := vc.Request(api, []byte(`{"seq":1}`), 500*time.Millisecond); err == nil {
			t.Errorf("%s answered the validator: %s", api, msg.Data)
		}
	}

	// A legitimate write after the attempts reaches the validator: once
	// it has, anything forged before it would have arrived too.
	after := blacklistN(t, full.Node, "after", 1)
	waitHasAll(t, after, v)
	if got := streamLastSeq(t, writer); got != before+1 {
		t.Errorf("stream last sequence %d, want %d: something besides the writer's one event got in", got, before+1)
	}
	for _, n := range []*running{full, v} {
		for _, p := range []string{"forged-plain-", "forged-js-"} {
			for i := range 5 {
				if b, _ := n.Check(fmt.Sprint(p, i)); b {
					t.Errorf("node %s applied %s%d from an unauthorised publisher", n.ID(), p, i)
				}
			}
		}
	}
	t.Logf("%d unauthorised publish attempts, 3 refused connections; the stream did not move", attempts)

	t.Run("writer credentials are trusted", func(t *testing.T) {
		// Events carry no signature: whoever may publish on blnode.ev.>
		// can blacklist (or register) any token id. This documents it.
		wjs, err := jetstream.New(writer)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := wjs.Publish(ctx, "blnode.ev.local.blacklist", forgedEvent(t, "insider-1")); err != nil {
			t.Fatal(err)
		}
		waitHasAll(t, []string{"insider-1"}, full, v)
		poll.For(t, waitLong, pollEvery, func() error { // the record follows the check (inflight.go)
			if rec, err := v.Store().Lookup("insider-1"); err != nil || rec.Origin != "forged-origin" {
				return fmt.Errorf("record %+v, %v: want the origin the event claimed", rec, err)
			}
			return nil
		})
	})
}
