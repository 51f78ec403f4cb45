package node_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// tokenPair is the body of a 200 from POST /api/token/refresh/.
type tokenPair struct{ Access, Refresh string }

// refreshRig is one node serving POST /api/token/refresh/ on a test clock.
type refreshRig struct {
	n   *node.Node
	url string
	clk *clock
}

func newRefreshRig(t *testing.T, mod func(*node.Config)) *refreshRig {
	t.Helper()
	clk := newClock(time.Now().Truncate(time.Second))
	n, srv := newNode(t, func(c *node.Config) {
		c.Now = clk.Now
		if mod != nil {
			mod(c)
		}
	})
	return &refreshRig{n: n, url: srv.URL, clk: clk}
}

// refresh presents tok to POST /api/token/refresh/ at base.
func refreshAt(t *testing.T, base, tok string) (response, tokenPair) {
	t.Helper()
	got := postJSON(t, base+"/api/token/refresh/", `{"refresh":`+jsonString(tok)+`}`)
	var pair tokenPair
	if got.status == 200 {
		if err := json.Unmarshal([]byte(got.body), &pair); err != nil {
			t.Fatalf("refresh answer %s: %v", got.body, err)
		}
	}
	return got, pair
}

// mustRotate refreshes tok and fails the test unless a new pair comes back.
func mustRotate(t *testing.T, base, tok string) tokenPair {
	t.Helper()
	got, pair := refreshAt(t, base, tok)
	if got.status != 200 || pair.Refresh == "" {
		t.Fatalf("rotate: %d %s", got.status, got.body)
	}
	return pair
}

// verifyStatus is the status POST /api/token/verify/ answers for tok: 200
// valid, 400 blacklisted or revoked, 401 invalid or expired.
func verifyStatus(t *testing.T, base, tok string) int {
	t.Helper()
	return postJSON(t, base+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`).status
}

// TestRefreshGraceWindow: with --refresh-grace, the rotated refresh token
// presented again within the window, while its successor is unused, gets
// that same successor; a use after the successor was rotated or revoked,
// or one outside the window, trips reuse detection and revokes the family.
func TestRefreshGraceWindow(t *testing.T) {
	const grace = 30 * time.Second
	type step func(t *testing.T, r *refreshRig, pred string, first tokenPair)
	tests := []struct {
		name  string
		grace time.Duration // default grace; negative: no window
		// between runs between the rotation and the retry.
		between step
		same    bool // the retry gets the first successor; else reuse detection
	}{
		{name: "retry at once", same: true},
		{name: "retry within the window", between: func(_ *testing.T, r *refreshRig, _ string, _ tokenPair) { r.clk.Add(grace - time.Second) }, same: true},
		{name: "retry at the end of the window", between: func(_ *testing.T, r *refreshRig, _ string, _ tokenPair) { r.clk.Add(grace) }, same: true},
		{name: "a second retry within the window", between: func(t *testing.T, r *refreshRig, pred string, first tokenPair) {
			r.clk.Add(time.Second)
			if got, again := refreshAt(t, r.url, pred); got.status != 200 || again.Refresh != first.Refresh {
				t.Fatalf("first retry: %d %s", got.status, got.body)
			}
			r.clk.Add(time.Second)
		}, same: true},
		{name: "retry outside the window", between: func(_ *testing.T, r *refreshRig, _ string, _ tokenPair) { r.clk.Add(grace + time.Second) }},
		{name: "retry after the successor was rotated", between: func(t *testing.T, r *refreshRig, pred string, first tokenPair) {
			r.clk.Add(time.Second)
			mustRotate(t, r.url, first.Refresh)
		}},
		{name: "retry after the successor was blacklisted (logout)", between: func(t *testing.T, r *refreshRig, pred string, first tokenPair) {
			if got := postJSON(t, r.url+"/api/token/blacklist/", `{"refresh":`+jsonString(first.Refresh)+`}`); got.status != 200 {
				t.Fatalf("blacklist the successor: %d %s", got.status, got.body)
			}
		}},
		{name: "retry after the user was revoked", between: func(t *testing.T, r *refreshRig, _ string, _ tokenPair) {
			r.clk.Add(time.Second)
			if _, err := r.n.RevokeUser(t.Context(), "42", r.clk.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "no window (default)", grace: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.grace
			if g == 0 {
				g = grace
			}
			r := newRefreshRig(t, func(c *node.Config) { c.RefreshGrace = max(g, 0) })
			pred, predJTI := sjwt.Token{Type: "refresh", User: 42, Now: r.clk.Now()}.Mint(secret)
			first := mustRotate(t, r.url, pred)
			if tc.between != nil {
				tc.between(t, r, pred, first)
			}
			got, retry := refreshAt(t, r.url, pred)
			if !tc.same {
				if got.status != 401 || !strings.Contains(got.body, `"revoked":"family `+predJTI+`"`) {
					t.Fatalf("retry: %d %s; want reuse detection to revoke family %s", got.status, got.body, predJTI)
				}
				for name, tok := range map[string]string{"first successor": first.Refresh, "first access": first.Access} {
					if s := verifyStatus(t, r.url, tok); s != 400 {
						t.Errorf("%s after reuse detection: verify %d, want 400", name, s)
					}
				}
				return
			}
			if got.status != 200 {
				t.Fatalf("retry: %d %s; want the same successor", got.status, got.body)
			}
			// HS256 is deterministic: the same successor is the same token.
			if retry.Refresh != first.Refresh {
				t.Errorf("retry's refresh token\n got %v\nwant %v", claimsOf(t, retry.Refresh), claimsOf(t, first.Refresh))
			}
			ac := claimsOf(t, retry.Access)
			if ac["fam"] != predJTI || ac["jti"] == claimsOf(t, first.Access)["jti"] || ac["token_type"] != "access" {
				t.Errorf("retry's access token %v", ac)
			}
			for name, tok := range map[string]string{"successor": first.Refresh, "first access": first.Access, "retry's access": retry.Access} {
				if s := verifyStatus(t, r.url, tok); s != 200 {
					t.Errorf("%s after the retry: verify %d, want 200", name, s)
				}
			}
			// The successor rotates as usual, and then the predecessor is
			// reuse even within the window.
			next := mustRotate(t, r.url, first.Refresh)
			if got, _ := refreshAt(t, r.url, pred); got.status != 401 || !strings.Contains(got.body, `"revoked":"family `+predJTI+`"`) {
				t.Fatalf("predecessor after its successor was rotated: %d %s", got.status, got.body)
			}
			if s := verifyStatus(t, r.url, next.Refresh); s != 400 {
				t.Errorf("newest refresh token after reuse detection: verify %d, want 400", s)
			}
		})
	}
}

// TestRefreshSuccessorIsDerived: the successor of a refresh token depends
// on the token and its rotation time alone: its jti is derived from the
// predecessor's under the signing key, its iat is the rotation time, and
// another key derives another jti.
func TestRefreshSuccessorIsDerived(t *testing.T) {
	r := newRefreshRig(t, nil)
	pred, predJTI := sjwt.Token{Type: "refresh", User: 42, Now: r.clk.Now()}.Mint(secret)
	r.clk.Add(7 * time.Second)
	rotatedAt := r.clk.Now()
	first := mustRotate(t, r.url, pred)
	sc := claimsOf(t, first.Refresh)
	jti, _ := sc["jti"].(string)
	if len(jti) != 32 || strings.Trim(jti, "0123456789abcdef") != "" || jti == predJTI {
		t.Errorf("successor jti %q: want 32 lowercase hex characters, not the predecessor's", jti)
	}
	if sc["iat"] != json.Number(fmt.Sprint(rotatedAt.Unix())) || sc["exp"] != json.Number(fmt.Sprint(rotatedAt.Add(24*time.Hour).Unix())) {
		t.Errorf("successor iat %v exp %v: want the rotation time %d and 24h later", sc["iat"], sc["exp"], rotatedAt.Unix())
	}
	rec, err := r.n.Store().Lookup(predJTI)
	if err != nil || rec.Reason != node.ReasonRotated || time.Unix(0, rec.BlacklistedAt).Unix() != rotatedAt.Unix() {
		t.Errorf("predecessor's record %+v, %v: want rotated at %s", rec, err, rotatedAt)
	}

	// Another node with the same key, asked to rotate the same token at
	// the same time, mints the same successor; one with another key a
	// successor with another jti.
	for _, tc := range []struct {
		name string
		key  []byte
		same bool
	}{{"same key", secret, true}, {"other key", []byte("another-secret-another-secret-another"), false}} {
		t.Run(tc.name, func(t *testing.T) {
			o := newRefreshRig(t, func(c *node.Config) { c.Token.HSSecret = tc.key })
			o.clk.Set(r.clk.Now().Add(-7 * time.Second))
			tok := pred
			if !tc.same {
				tok, _ = sjwt.Token{Type: "refresh", User: 42, JTI: predJTI, Now: o.clk.Now()}.Mint(tc.key)
			}
			o.clk.Set(rotatedAt)
			got := mustRotate(t, o.url, tok)
			if other := claimsOf(t, got.Refresh)["jti"]; (other == jti) != tc.same {
				t.Errorf("successor jti %v against %v: same %v, want %v", other, jti, other == jti, tc.same)
			}
			if tc.same && got.Refresh != first.Refresh {
				t.Errorf("same key, same rotation time: another successor")
			}
		})
	}
}

// TestRefreshGraceAcrossFleet: a retry that a load balancer sends to
// another full node of the fleet gets the same successor there, once the
// rotation has reached it; a use of the predecessor after its successor
// was rotated on that other node trips reuse detection on the first, and
// the family is revoked on every node.
func TestRefreshGraceAcrossFleet(t *testing.T) {
	clk := newClock(time.Now().Truncate(time.Second))
	s := eventstest.RunServer(t)
	cfg := func() node.Config {
		c := fleetConfig(node.RoleFull, 1, s)
		c.Now, c.RefreshGrace = clk.Now, 30*time.Second
		return c
	}
	a, b := startNode(t, cfg()), startNode(t, cfg())
	urlA, urlB := newServer(t, a), newServer(t, b)

	pred, predJTI := sjwt.Token{Type: "refresh", User: 42, Now: clk.Now()}.Mint(secret)
	first := mustRotate(t, urlA, pred)
	succJTI := claimsOf(t, first.Refresh)["jti"].(string)
	rotated := func(n *running, jti string) func() error {
		return func() error {
			if rec, err := n.Store().Lookup(jti); err != nil || rec.Reason != node.ReasonRotated {
				return fmt.Errorf("%s: record %+v, %v; want rotated", jti, rec, err)
			}
			return nil
		}
	}
	poll.For(t, waitLong, pollEvery, rotated(b, predJTI))
	clk.Add(5 * time.Second)

	// The retry reaches node B: the same successor.
	got, retry := refreshAt(t, urlB, pred)
	if got.status != 200 || retry.Refresh != first.Refresh {
		t.Fatalf("retry on the other node: %d %s; want the successor node A minted", got.status, got.body)
	}
	if rec, err := b.Store().Lookup(succJTI); err != nil || rec.Blacklisted() {
		t.Errorf("successor on node B: %+v, %v; want it registered", rec, err)
	}

	// The client goes on with the successor, on node B; a replay of the
	// predecessor on node A, once it knows, is reuse.
	next := mustRotate(t, urlB, first.Refresh)
	poll.For(t, waitLong, pollEvery, rotated(a, succJTI))
	if got, _ := refreshAt(t, urlA, pred); got.status != 401 || !strings.Contains(got.body, `"revoked":"family `+predJTI+`"`) {
		t.Fatalf("replay on node A after the successor was rotated on B: %d %s", got.status, got.body)
	}
	for i, n := range []*running{a, b} {
		poll.For(t, waitLong, pollEvery, func() error {
			for name, tok := range map[string]string{"newest refresh": next.Refresh, "newest access": next.Access, "retry's access": retry.Access} {
				if _, err := n.Verify(tok, ""); err == nil {
					return fmt.Errorf("node %d still accepts the family's %s", i, name)
				}
			}
			return nil
		})
	}
}

// TestRefreshCustomClaimNames: with other jti and token type claim names,
// the minted tokens take new ids and their own types, not the presented
// token's, and the grace window finds the successor by its id claim.
func TestRefreshCustomClaimNames(t *testing.T) {
	r := newRefreshRig(t, func(c *node.Config) {
		c.Token.JTIClaim, c.Token.TokenTypeClaim, c.RefreshGrace = "tid", "kind", time.Minute
	})
	pred, pc, err := r.n.Verifier().Mint(token.MintOptions{Type: "refresh", User: "42"})
	if err != nil {
		t.Fatal(err)
	}
	first := mustRotate(t, r.url, pred)
	ac, rc := claimsOf(t, first.Access), claimsOf(t, first.Refresh)
	if ac["kind"] != "access" || rc["kind"] != "refresh" || ac["tid"] == pc.JTI || rc["tid"] == pc.JTI || ac["tid"] == rc["tid"] {
		t.Errorf("access %v, refresh %v: want their own types and new ids (predecessor %s)", ac, rc, pc.JTI)
	}
	if ac["jti"] != nil || ac["token_type"] != nil {
		t.Errorf("access %v holds the default claim names", ac)
	}
	if _, retry := refreshAt(t, r.url, pred); retry.Refresh != first.Refresh {
		t.Errorf("retry within the window: another successor")
	}
}

// TestRefreshGraceConcurrent: with a grace window, N concurrent refreshes
// of one token all get the same successor (one rotation; the others are
// retries within the window), where without one exactly one succeeds.
func TestRefreshGraceConcurrent(t *testing.T) {
	r := newRefreshRig(t, func(c *node.Config) { c.RefreshGrace = time.Minute })
	pred, predJTI := sjwt.Token{Type: "refresh", User: 42, Now: r.clk.Now()}.Mint(secret)
	const n = 20
	results := make(chan response, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			results <- postJSON(t, r.url+"/api/token/refresh/", `{"refresh":`+jsonString(pred)+`}`)
		})
	}
	close(start)
	wg.Wait()
	close(results)
	successors := map[string]int{}
	for got := range results {
		var pair tokenPair
		if got.status != 200 || json.Unmarshal([]byte(got.body), &pair) != nil {
			t.Fatalf("concurrent refresh: %d %s", got.status, got.body)
		}
		successors[pair.Refresh]++
	}
	if len(successors) != 1 {
		t.Fatalf("%d different successors, want 1", len(successors))
	}
	for succ := range successors {
		if s := verifyStatus(t, r.url, succ); s != 200 {
			t.Errorf("the successor: verify %d", s)
		}
		if fam := claimsOf(t, succ)["fam"]; fam != predJTI {
			t.Errorf("successor family %v", fam)
		}
	}
}
