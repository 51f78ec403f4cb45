package node_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

// caddyfile is the README's Caddy configuration on loopback: no admin
// endpoint, no automatic HTTPS. It copies only the headers every pass
// carries: Caddy 2.6 (Debian 12's) sets a copied header that the answer
// lacks to the placeholder's text, "{http.reverse_proxy.header.…}". %[1]s is the listen address, %[2]s
// blnode's and %[3]s the upstream's host:port.
const caddyfile = `# written by TestCaddyForwardAuth
{
	admin off
	auto_https off
}

http://%[1]s {
	bind 127.0.0.1
	route {
		request_header -X-Blnode-User
		request_header -X-Blnode-Jti
		request_header -X-Blnode-Token-Type
		request_header -X-Blnode-Client-Id
		request_header -X-Blnode-Session
		request_header -X-Blnode-Scope
		forward_auth %[2]s {
			uri /auth
			copy_headers X-Blnode-User X-Blnode-Jti X-Blnode-Token-Type
		}
		reverse_proxy %[3]s
	}
}
`

// TestCaddyForwardAuth puts a real Caddy with forward_auth in front of a
// small upstream: a valid token passes with the X-Blnode-* headers copied
// (and none a client sent), every refused token gets blnode's 401 without
// reaching the upstream. Caddy does not cache the check, even with
// --auth-cache-max-age: every request reaches blnode, and a revocation
// counts from the next one.
func TestCaddyForwardAuth(t *testing.T) {
	bin := findCaddy(t)
	n, direct := newNode(t, func(c *node.Config) { c.AuthCacheMaxAge = time.Minute })
	counter := newAuthCounter(n.Handler())
	blnode := httptestServer(t, counter)
	var upstreamHits atomic.Int64
	upstream := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		fmt.Fprintf(w, "upstream %s user=%s jti=%s type=%s client=%s", r.URL.Path,
			r.Header.Get("X-Blnode-User"), r.Header.Get("X-Blnode-Jti"), r.Header.Get("X-Blnode-Token-Type"), r.Header.Get("X-Blnode-Client-Id"))
	}))
	proxy := startCaddy(t, bin, hostPort(t, blnode), hostPort(t, upstream))

	now := time.Now()
	valid, validJTI := sjwt.Token{Type: "access", User: 42, TTL: time.Hour}.Mint(secret)
	sliding, slidingJTI := sjwt.Token{Type: "sliding", User: "bob", TTL: time.Hour}.Mint(secret)
	toRevoke, toRevokeJTI := sjwt.Token{Type: "access", User: 42, TTL: time.Hour}.Mint(secret)
	blacklisted, _ := sjwt.Token{Type: "access", User: 42, TTL: time.Hour}.Mint(secret)
	revokedUser, _ := sjwt.Token{Type: "access", User: 7, TTL: time.Hour, Now: now.Add(-time.Minute)}.Mint(secret)
	refreshTok, _ := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
	if got := do(t, http.MethodPost, direct.URL+"/oauth/revoke", formType, tokenForm(blacklisted)); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if _, err := n.RevokeUser(t.Context(), "7", now); err != nil {
		t.Fatal(err)
	}

	through := func(t *testing.T, auth string) response {
		t.Helper()
		var hdr []string
		if auth != "" {
			hdr = []string{"Authorization", auth}
		}
		// What a client sends as X-Blnode-* never reaches the upstream:
		// request_header strips it before the check, and copy_headers
		// sets the three every pass carries.
		hdr = append(hdr, "X-Blnode-User", "admin", "X-Blnode-Client-Id", "evil")
		got := do(t, http.MethodGet, proxy+"/orders", "", "", hdr...)
		if got.header.Get("Server") != "Caddy" {
			t.Fatalf("Server %q: the answer is not Caddy's (%d %s)", got.header.Get("Server"), got.status, got.body)
		}
		return got
	}

	const tries = 2
	for _, tc := range []struct {
		name      string
		auth      string
		status    int
		body      string // on 200: what the upstream answered
		challenge string // on 401: the WWW-Authenticate Caddy passes on
	}{
		{"valid access token", "Bearer " + valid, 200, "upstream /orders user=42 jti=" + validJTI + " type=access client=", ""},
		{"sliding token", "Bearer " + sliding, 200, "upstream /orders user=bob jti=" + slidingJTI + " type=sliding client=", ""},
		{"to be revoked, before", "Bearer " + toRevoke, 200, "upstream /orders user=42 jti=" + toRevokeJTI + " type=access client=", ""},
		{"blacklisted token", "Bearer " + blacklisted, 401, "", `error_description="Token is blacklisted"`},
		{"token of a revoked user", "Bearer " + revokedUser, 401, "", `error_description="Token is blacklisted"`},
		{"refresh token", "Bearer " + refreshTok, 401, "", `error_description="Token has wrong type"`},
		{"forged token", "Bearer x.y.z", 401, "", `error_description="Token is invalid"`},
		{"no token", "", 401, "", `Bearer realm="api"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hitsBefore := upstreamHits.Load()
			for i := range tries {
				got := through(t, tc.auth)
				if got.status != tc.status {
					t.Fatalf("try %d: status %d, want %d: %s", i, got.status, tc.status, got.body)
				}
				if tc.status == 200 && got.body != tc.body {
					t.Errorf("try %d: upstream answered %q, want %q", i, got.body, tc.body)
				}
				if tc.status == 401 && !strings.Contains(got.header.Get("WWW-Authenticate"), tc.challenge) {
					t.Errorf("try %d: WWW-Authenticate %q, want it to hold %q", i, got.header.Get("WWW-Authenticate"), tc.challenge)
				}
			}
			if c := counter.checks(tc.auth); c != tries {
				t.Errorf("%d checks reached blnode for %d requests, want one each: Caddy does not cache", c, tries)
			}
			wantHits := int64(0)
			if tc.status == 200 {
				wantHits = tries
			}
			if hits := upstreamHits.Load() - hitsBefore; hits != wantHits {
				t.Errorf("the upstream was reached %d times, want %d", hits, wantHits)
			}
		})
	}

	// No cache at Caddy: a revocation counts from the next request.
	if got := do(t, http.MethodPost, direct.URL+"/oauth/revoke", formType, tokenForm(toRevoke)); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if got := through(t, "Bearer "+toRevoke); got.status != 401 || !strings.Contains(got.header.Get("WWW-Authenticate"), "Token is blacklisted") {
		t.Errorf("after the revocation: %d %q, want 401 Token is blacklisted", got.status, got.header.Get("WWW-Authenticate"))
	}
}

// findCaddy returns the caddy binary. A missing caddy fails the test:
// scripts/install-test-deps installs it. BLNODE_SKIP_CADDY=1 skips instead.
func findCaddy(t *testing.T) string {
	t.Helper()
	if os.Getenv("BLNODE_SKIP_CADDY") == "1" {
		t.Skip("BLNODE_SKIP_CADDY=1: the Caddy forward_auth test is skipped")
	}
	if p, err := exec.LookPath("caddy"); err == nil {
		return p
	}
	t.Fatal("caddy not found on PATH: run scripts/install-test-deps to install it (Debian's caddy), or set BLNODE_SKIP_CADDY=1 to skip this test")
	return ""
}

// startCaddy runs caddy with caddyfile on a free loopback port, its data
// and config dirs in a temp dir, and returns its base URL once it answers.
// It stops caddy in t.Cleanup.
func startCaddy(t *testing.T, bin, blnode, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	env := append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	const attempts = 3 // a free port can be taken between probe and bind
	var lastErr error
	for range attempts {
		addr := freeLoopbackAddr(t)
		conf := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(conf, fmt.Appendf(nil, caddyfile, addr, blnode, upstream), 0o600); err != nil {
			t.Fatal(err)
		}
		p := child.StartT(t, child.Config{Path: bin, Args: []string{"run", "--config", conf, "--adapter", "caddyfile"}, Env: env,
			StopTimeout: 10 * time.Second})
		err := poll.Until(t.Context(), 15*time.Second, 20*time.Millisecond, func() error {
			if p.Exited() {
				return nil
			}
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			return conn.Close()
		})
		if err == nil && !p.Exited() {
			return "http://" + addr
		}
		if err == nil {
			err = errors.New("caddy exited")
		}
		lastErr = p.Failed(err.Error())
		p.StopT(t)
	}
	t.Fatalf("caddy did not start in %d attempts: %v", attempts, lastErr)
	return ""
}
