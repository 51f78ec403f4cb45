package node_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) mint(typ string, user any) string {
	tok, _ := sjwt.Token{Type: typ, User: user, Now: c.Now(), TTL: time.Hour}.Mint(secret)
	return tok
}

func TestRevokeUserAcrossFleet(t *testing.T) {
	// The test clock starts four hours back and moves three hours on: a
	// flush is bounded by the NATS server's clock (and by when the stream
	// stored the event), so the nodes' clock must not pass the real one.
	clk := newClock(time.Now().Add(-4 * time.Hour).Truncate(time.Second))
	s := eventstest.RunServer(t)
	cfg := func(role node.Role) node.Config {
		c := fleetConfig(role, 1, s)
		c.Now, c.AdminToken, c.MaxTokenLifetime = clk.Now, "admin-secret", 2*time.Hour
		return c
	}
	full := startNode(t, cfg(node.RoleFull))
	mirror := cfg(node.RoleValidator)
	mirror.ValidatorMirror = node.MirrorFull
	// The second node keeps revocations only (the validators' default):
	// it rejects the user's tokens but lists none, never having been sent
	// the registered token; the full mirror lists it as revoked.
	nodes := []*running{full, startNode(t, cfg(node.RoleValidator)), startNode(t, mirror)}
	const revocationsOnly = 1

	before := clk.mint("access", 7)
	beforeRefresh := clk.mint("refresh", 7)
	other := clk.mint("access", 8)
	srv := newServer(t, full)
	if got := postJSON(t, srv+"/v1/outstanding", `{"token":`+jsonString(beforeRefresh)+`}`); got.status != 200 {
		t.Fatal(got.body)
	}
	clk.Add(10 * time.Second)
	got := postJSON(t, srv+"/v1/users/7/revoke", ``, "Authorization", admin)
	if got.status != 200 || !strings.Contains(got.body, `"already_revoked":false`) {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if got := postJSON(t, srv+"/v1/users/7/revoke", ``); got.status != 401 {
		t.Errorf("revoke without admin: %d", got.status)
	}
	clk.Add(time.Second)
	after := clk.mint("access", 7)

	for i, n := range nodes {
		poll.For(t, waitLong, pollEvery, func() error {
			if _, err := n.Verify(before, ""); !errors.Is(err, node.ErrUserRevoked) {
				return fmt.Errorf("node %d: token issued before the revoke: %v", i, err)
			}
			return nil
		})
		for name, tok := range map[string]string{"issued after": after, "other user": other} {
			if _, err := n.Verify(tok, ""); err != nil {
				t.Errorf("node %d, %s: %v", i, name, err)
			}
		}
		if i == revocationsOnly {
			if p, err := n.Store().List(persist.Query{User: "7"}); err != nil || len(p.Records) != 0 {
				t.Errorf("node %d (revocations only) lists %+v, %v; want no record", i, p.Records, err)
			}
			continue
		}
		poll.For(t, waitLong, pollEvery, func() error {
			p, err := n.Store().List(persist.Query{User: "7"})
			if err != nil || len(p.Records) != 1 || !p.Records[0].Blacklisted() || p.Records[0].Reason != persist.ReasonUserRevoked {
				return fmt.Errorf("node %d listing: %+v %v", i, p.Records, err)
			}
			return nil
		})
	}

	// The entry lives until every token it could affect has expired.
	clk.Add(time.Hour)
	if got := postJSON(t, srv+"/v1/flush", ``, "Authorization", admin); got.status != 200 || !strings.Contains(got.body, `"user_revocations":0`) {
		t.Fatalf("flush before the horizon: %s", got.body)
	}
	if _, err := full.Verify(before, ""); err == nil {
		t.Error("revocation forgotten before its horizon")
	}
	clk.Add(2 * time.Hour)
	if got := postJSON(t, srv+"/v1/flush", ``, "Authorization", admin); !strings.Contains(got.body, `"user_revocations":1`) {
		t.Fatalf("flush after the horizon: %s", got.body)
	}
	for i, n := range nodes {
		poll.For(t, waitLong, pollEvery, func() error {
			if _, ok, _ := n.Store().UserNotBefore("7"); ok {
				return fmt.Errorf("node %d still holds the revocation", i)
			}
			return nil
		})
	}
}

func newServer(t *testing.T, n *running) string {
	t.Helper()
	srv := httptestServer(t, n.Handler())
	return srv
}

func TestCompatBlacklistTypes(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.CompatBlacklistTypes = []string{"refresh", "access"} })
	for _, typ := range []string{"refresh", "access"} {
		tok, _ := sjwt.Token{Type: typ, User: 1}.Mint(secret)
		if got := postJSON(t, srv.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(tok)+`}`); got.status != 200 {
			t.Errorf("%s: %d %s", typ, got.status, got.body)
		}
		if got := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`); got.status != 400 {
			t.Errorf("%s after blacklist: %d %s", typ, got.status, got.body)
		}
	}
	sliding, _ := sjwt.Token{Type: "sliding"}.Mint(secret)
	if got := postJSON(t, srv.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(sliding)+`}`); got.body != `{"detail":"Token has wrong type","code":"token_not_valid"}` {
		t.Errorf("sliding: %s", got.body)
	}
	untyped, _ := sjwt.Token{Type: "-"}.Mint(secret)
	if got := postJSON(t, srv.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(untyped)+`}`); got.body != `{"detail":"Token has no type","code":"token_not_valid"}` {
		t.Errorf("untyped: %s", got.body)
	}
}

func claimsOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRefreshRotation(t *testing.T) {
	_, srv := newNode(t, nil)
	tok, jti := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
	got := postJSON(t, srv.URL+"/api/token/refresh/", `{"refresh":`+jsonString(tok)+`}`)
	if got.status != 200 {
		t.Fatalf("refresh: %d %s", got.status, got.body)
	}
	var pair struct{ Access, Refresh string }
	json.Unmarshal([]byte(got.body), &pair)
	ac, rc, old := claimsOf(t, pair.Access), claimsOf(t, pair.Refresh), claimsOf(t, tok)
	if ac["token_type"] != "access" || ac["user_id"].(json.Number) != "42" || ac["jti"] == jti || ac["iat"] != old["iat"] || ac["fam"] != jti {
		t.Errorf("access claims %v (refresh %v)", ac, old)
	}
	if rc["token_type"] != "refresh" || rc["jti"] == jti || rc["fam"] != jti || rc["user_id"].(json.Number) != "42" {
		t.Errorf("rotated refresh claims %v", rc)
	}
	if got := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(pair.Access)+`}`); got.status != 200 {
		t.Errorf("new access token: %d %s", got.status, got.body)
	}
	list := do(t, "GET", srv.URL+"/v1/tokens?jti="+rc["jti"].(string), "", "", "Authorization", admin)
	if !strings.Contains(list.body, `"blacklisted":false`) {
		t.Errorf("the rotated refresh token is not registered: %s", list.body)
	}
	// Rotating the new token works; it stays in the family.
	got = postJSON(t, srv.URL+"/api/token/refresh/", `{"refresh":`+jsonString(pair.Refresh)+`}`)
	var pair2 struct{ Access, Refresh string }
	json.Unmarshal([]byte(got.body), &pair2)
	if got.status != 200 || claimsOf(t, pair2.Refresh)["fam"] != jti {
		t.Fatalf("second rotation: %d %s", got.status, got.body)
	}
	// Replaying the first token is reuse: the whole family goes.
	got = postJSON(t, srv.URL+"/api/token/refresh/", `{"refresh":`+jsonString(tok)+`}`)
	if got.status != 401 || !strings.Contains(got.body, `"revoked":"family `+jti+`"`) {
		t.Fatalf("replay: %d %s", got.status, got.body)
	}
	for name, tk := range map[string]string{"first access": pair.Access, "latest access": pair2.Access, "latest refresh": pair2.Refresh} {
		if got := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(tk)+`}`); got.status != 400 {
			t.Errorf("%s after family revocation: %d %s", name, got.status, got.body)
		}
	}
	other, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	if got := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(other)+`}`); got.status != 200 {
		t.Errorf("a token outside the family: %d %s", got.status, got.body)
	}
}

func TestRefreshWithoutRotation(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.NoRotateRefresh = true })
	tok, _ := refresh(t)
	for range 2 {
		got := postJSON(t, srv.URL+"/api/token/refresh/", `{"refresh":`+jsonString(tok)+`}`)
		if got.status != 200 || strings.Contains(got.body, `"refresh"`) || !strings.Contains(got.body, `"access"`) {
			t.Fatalf("%d %s", got.status, got.body)
		}
	}
}

func TestConcurrentRefreshOneWinnerAndFamilyRevokedEverywhere(t *testing.T) {
	s := eventstest.RunServer(t)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	validators := []*running{startNode(t, fleetConfig(node.RoleValidator, 1, s)), startNode(t, fleetConfig(node.RoleValidator, 1, s))}
	srv := newServer(t, full)
	tok, jti := refresh(t)
	const n = 50
	var wg sync.WaitGroup
	results := make(chan response, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			results <- postJSON(t, srv+"/api/token/refresh/", `{"refresh":`+jsonString(tok)+`}`)
		})
	}
	close(start)
	wg.Wait()
	close(results)
	var winners []response
	for r := range results {
		switch r.status {
		case 200:
			winners = append(winners, r)
		case 401:
			if !strings.Contains(r.body, `"detail":"Token is blacklisted"`) {
				t.Errorf("loser body %s", r.body)
			}
		default:
			t.Errorf("status %d %s", r.status, r.body)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", len(winners), n)
	}
	var pair struct{ Access, Refresh string }
	json.Unmarshal([]byte(winners[0].body), &pair)

	// Replaying the rotated token revokes the family on every node.
	if got := postJSON(t, srv+"/api/token/refresh/", `{"refresh":`+jsonString(tok)+`}`); !strings.Contains(got.body, `"revoked":"family `+jti+`"`) {
		t.Fatalf("replay: %d %s", got.status, got.body)
	}
	for i, v := range append(validators, full) {
		poll.For(t, waitLong, pollEvery, func() error {
			for _, tk := range []string{pair.Access, pair.Refresh, tok} {
				if _, err := v.Verify(tk, ""); err == nil {
					return fmt.Errorf("node %d still accepts a token of the family", i)
				}
			}
			return nil
		})
	}
}
