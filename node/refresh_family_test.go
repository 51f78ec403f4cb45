package node_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// TestRefreshFamilyLifetime: with --refresh-family-lifetime a rotation
// family ends at its start (fam_iat, else the presented token's iat) plus
// the lifetime: successors expire no later, and a refresh at or after it
// is refused as expired, leaving the token unrotated. Times are offsets
// from the test clock's start.
func TestRefreshFamilyLifetime(t *testing.T) {
	const famLife = 90 * time.Minute
	const absent = time.Duration(1 << 62) // the claim is left out
	tests := []struct {
		name     string
		lifetime time.Duration // family lifetime; default famLife, negative: unlimited
		noRotate bool
		iat      time.Duration // default 0; absent leaves it out
		famIAT   any           // time.Duration offset, another value, or nil: absent
		fam      string
		now      time.Duration
		status   int
		want     string        // the 401 body
		exp      time.Duration // the successor's exp
		start    time.Duration // the successor's fam_iat
	}{
		{name: "first token: the family starts at its iat", now: 10 * time.Minute, status: 200, exp: 70 * time.Minute, start: 0},
		{name: "the successor's exp is capped at the family's end", now: 60 * time.Minute, status: 200, exp: famLife, start: 0},
		{name: "fam_iat is carried forward", iat: -time.Minute, famIAT: -80 * time.Minute, fam: "f1", now: 0, status: 200, exp: 10 * time.Minute, start: -80 * time.Minute},
		{name: "past the family's end: expired", iat: -5 * time.Minute, famIAT: -100 * time.Minute, fam: "f1", status: 401, want: expired},
		{name: "at the family's end: expired", iat: -5 * time.Minute, famIAT: -famLife, fam: "f1", status: 401, want: expired},
		{name: "a second before the end", iat: -5 * time.Minute, famIAT: -famLife + time.Second, fam: "f1", status: 200, exp: time.Second, start: -famLife + time.Second},
		{name: "rotated before fam_iat existed: the family starts at its iat", iat: -30 * time.Minute, fam: "old", status: 200, exp: time.Hour, start: -30 * time.Minute},
		{name: "rotated before fam_iat existed, iat past the end: expired", iat: -100 * time.Minute, fam: "old", status: 401, want: expired},
		{name: "no iat: the family starts at the rotation", iat: absent, now: time.Minute, status: 200, exp: time.Minute + time.Hour, start: time.Minute},
		{name: "unlimited: exp by the refresh lifetime, fam_iat still minted", lifetime: -1, iat: -time.Minute, famIAT: -1000 * time.Hour, fam: "f1", status: 200, exp: time.Hour, start: -1000 * time.Hour},
		{name: "fam_iat not a number: invalid", famIAT: "yesterday", fam: "f1", status: 401, want: invalid},
		{name: "fam_iat not an integer: invalid", lifetime: -1, famIAT: 1.5, fam: "f1", status: 401, want: invalid},
		{name: "without rotation, past the family's end: expired", noRotate: true, iat: -5 * time.Minute, famIAT: -100 * time.Minute, fam: "f1", status: 401, want: expired},
		{name: "without rotation, within the family", noRotate: true, iat: -5 * time.Minute, famIAT: -10 * time.Minute, fam: "f1", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRefreshRig(t, func(c *node.Config) {
				c.RefreshLifetime, c.NoRotateRefresh = time.Hour, tc.noRotate
				c.RefreshFamilyLifetime = famLife
				if tc.lifetime < 0 {
					c.RefreshFamilyLifetime = 0
				}
			})
			t0 := r.clk.Now()
			at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
			jti := sjwt.JTI()
			claims := []sjwt.Claim{{Name: "token_type", Value: "refresh"}, {Name: "exp", Value: at(tc.iat + 24*time.Hour)}}
			if tc.iat != absent {
				claims = append(claims, sjwt.Claim{Name: "iat", Value: at(tc.iat)})
			} else {
				claims[1].Value = at(24 * time.Hour)
			}
			claims = append(claims, sjwt.Claim{Name: "jti", Value: jti}, sjwt.Claim{Name: "user_id", Value: 42})
			if tc.fam != "" {
				claims = append(claims, sjwt.Claim{Name: "fam", Value: tc.fam})
			}
			switch v := tc.famIAT.(type) {
			case nil:
			case time.Duration:
				claims = append(claims, sjwt.Claim{Name: "fam_iat", Value: at(v)})
			default:
				claims = append(claims, sjwt.Claim{Name: "fam_iat", Value: v})
			}
			tok := sjwt.Sign(secret, sjwt.Header, claims...)
			r.clk.Add(tc.now)

			got, pair := refreshAt(t, r.url, tok)
			if got.status != tc.status {
				t.Fatalf("refresh: %d %s; want %d", got.status, got.body, tc.status)
			}
			if tc.status != 200 {
				if got.body != tc.want {
					t.Errorf("body %s, want %s", got.body, tc.want)
				}
				if b, err := r.n.Check(jti); err != nil || b {
					t.Errorf("the refused token is blacklisted (%v, %v): it was rotated", b, err)
				}
				return
			}
			if tc.noRotate {
				return
			}
			sc := claimsOf(t, pair.Refresh)
			if sc["exp"] != json.Number(fmt.Sprint(at(tc.exp))) || sc["fam_iat"] != json.Number(fmt.Sprint(at(tc.start))) {
				t.Errorf("successor exp %v fam_iat %v; want %d and %d", sc["exp"], sc["fam_iat"], at(tc.exp), at(tc.start))
			}
			wantFam := tc.fam
			if wantFam == "" {
				wantFam = jti
			}
			if sc["fam"] != wantFam {
				t.Errorf("successor fam %v, want %s", sc["fam"], wantFam)
			}
		})
	}
}

// TestRefreshFamilyEnds: a family that keeps refreshing ends at its start
// plus the family lifetime however often it rotates.
func TestRefreshFamilyEnds(t *testing.T) {
	r := newRefreshRig(t, func(c *node.Config) {
		c.RefreshLifetime, c.RefreshFamilyLifetime = time.Hour, 150*time.Minute
	})
	t0 := r.clk.Now()
	tok, _ := sjwt.Token{Type: "refresh", User: 42, Now: t0}.Mint(secret)
	for i := range 4 {
		r.clk.Add(40 * time.Minute)
		if i == 3 { // 160 minutes: the family ended at 150, the token at 160
			got, _ := refreshAt(t, r.url, tok)
			if got.status != 401 || got.body != expired {
				t.Fatalf("rotation %d after the family's end: %d %s", i, got.status, got.body)
			}
			return
		}
		tok = mustRotate(t, r.url, tok).Refresh
		if exp := claimsOf(t, tok)["exp"]; exp != json.Number(fmt.Sprint(min(r.clk.Now().Add(time.Hour).Unix(), t0.Add(150*time.Minute).Unix()))) {
			t.Errorf("rotation %d: exp %v", i, exp)
		}
	}
}

// TestRefreshSettingsValidated: a negative grace window or family lifetime
// is refused by name.
func TestRefreshSettingsValidated(t *testing.T) {
	for name, mod := range map[string]func(*node.Config){
		"RefreshGrace":          func(c *node.Config) { c.RefreshGrace = -time.Second },
		"RefreshFamilyLifetime": func(c *node.Config) { c.RefreshFamilyLifetime = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			c := node.Config{DataDir: t.TempDir(), Token: token.Config{HSSecret: secret}, NATS: node.NATSConfig{Disabled: true}}
			mod(&c)
			n, err := node.New(c)
			if err == nil {
				n.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "Config."+name) {
				t.Errorf("error %q does not name Config.%s", err, name)
			}
		})
	}
}
