package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
)

// TestNginxAuthRequest puts a real nginx with auth_request in front of a
// small upstream and checks that it lets through exactly the tokens blnode's
// /auth accepts.
func TestNginxAuthRequest(t *testing.T) {
	bin := findNginx(t)
	n, blnode := newNode(t, nil)

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s user=%s", r.URL.Path, r.Header.Get("X-Blnode-User"))
	}))
	t.Cleanup(upstream.Close)

	proxy := startNginx(t, bin, hostPort(t, blnode.URL), hostPort(t, upstream.URL))

	now := time.Now()
	valid, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	toRevoke, _ := sjwt.Token{Type: "access", User: 42}.Mint(secret)
	refreshTok, _ := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
	revokedUser, _ := sjwt.Token{Type: "access", User: 7, Now: now.Add(-time.Minute)}.Mint(secret)
	afterRevoke, _ := sjwt.Token{Type: "access", User: 7, Now: now}.Mint(secret)

	// Both pass once, so blnode has cached answers for the token and for
	// user 7; then the token is revoked through RFC 7009 and the user is
	// logged out everywhere.
	for _, tok := range []string{toRevoke, revokedUser} {
		if got := do(t, http.MethodGet, proxy+"/orders", "", "", "Authorization", "Bearer "+tok); got.status != 200 {
			t.Fatalf("before the revocation: %d %s", got.status, got.body)
		}
	}
	if got := do(t, http.MethodPost, blnode.URL+"/oauth/revoke", formType, tokenForm(toRevoke)); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if _, err := n.RevokeUser(t.Context(), "7", now); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		auth      string
		status    int
		body      string // on 200: what the upstream answered
		challenge string // on 401: the WWW-Authenticate nginx passes on
	}{
		{"valid access token", "Bearer " + valid, 200, "upstream /orders user=42", ""},
		{"lower-case scheme", "bearer " + valid, 200, "upstream /orders user=42", ""},
		{"blacklisted token", "Bearer " + toRevoke, 401, "", `error_description="Token is blacklisted"`},
		{"token of a revoked user", "Bearer " + revokedUser, 401, "", `error_description="Token is blacklisted"`},
		{"user's token issued after the revoke", "Bearer " + afterRevoke, 200, "upstream /orders user=7", ""},
		{"refresh token", "Bearer " + refreshTok, 401, "", `error_description="Token has wrong type"`},
		{"forged token", "Bearer x.y.z", 401, "", `error_description="Token is invalid"`},
		{"no token", "", 401, "", `Bearer realm="api"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			// A client-sent X-Blnode-User never reaches the upstream as is.
			hdr = append(hdr, "X-Blnode-User", "admin")
			got := do(t, http.MethodGet, proxy+"/orders", "", "", hdr...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			if !strings.HasPrefix(got.header.Get("Server"), "nginx") {
				t.Errorf("Server %q: the answer is not nginx's", got.header.Get("Server"))
			}
			if tc.status == 200 && got.body != tc.body {
				t.Errorf("upstream answered %q, want %q", got.body, tc.body)
			}
			if tc.status == 401 && !strings.Contains(got.header.Get("WWW-Authenticate"), tc.challenge) {
				t.Errorf("WWW-Authenticate %q, want it to hold %q", got.header.Get("WWW-Authenticate"), tc.challenge)
			}
		})
	}
}

// findNginx returns the nginx binary. A missing nginx fails the test:
// scripts/install-test-deps installs it. BLNODE_SKIP_NGINX=1 skips instead.
func findNginx(t *testing.T) string {
	t.Helper()
	if os.Getenv("BLNODE_SKIP_NGINX") == "1" {
		t.Skip("BLNODE_SKIP_NGINX=1: the nginx auth_request test is skipped")
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatal("nginx not found (PATH, /usr/sbin/nginx): run scripts/install-test-deps to install it, or set BLNODE_SKIP_NGINX=1 to skip this test")
	return ""
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	hp, ok := strings.CutPrefix(rawURL, "http://")
	if !ok || !strings.HasPrefix(hp, "127.0.0.1:") {
		t.Fatalf("server URL %q is not on 127.0.0.1", rawURL)
	}
	return hp
}

const nginxConf = `# written by TestNginxAuthRequest
daemon off;
master_process off;
worker_processes 1;
%[1]s
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;

events {
	worker_connections 64;
}

http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;

	server {
		listen %[3]s;

		location / {
			auth_request /_auth;
			auth_request_set $blnode_user $upstream_http_x_blnode_user;
			proxy_set_header X-Blnode-User $blnode_user;
			proxy_pass http://%[5]s;
		}

		location = /_auth {
			internal;
			proxy_pass http://%[4]s/auth;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header Authorization $http_authorization;
		}
	}
}
`

// startNginx runs nginx in front of upstream with auth_request to blnode's
// /auth, on a free loopback port, and returns its base URL. It stops nginx
// in t.Cleanup and waits for it.
func startNginx(t *testing.T, bin, blnode, upstream string) string {
	t.Helper()
	return startNginxConf(t, bin, nginxConf, blnode, upstream)
}

// startNginxConf is startNginx with the configuration conf, a format whose
// verbs are those of nginxConf: 1 the user line, 2 the temp dir (with
// client_body, proxy, … and cache under it), 3 the listen address, 4
// blnode's and 5 the upstream's host:port.
func startNginxConf(t *testing.T, bin, confFormat, blnode, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi", "cache"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the temp dir is root's alone
	}
	const attempts = 3 // a free port can be taken between probe and bind
	var lastErr error
	for range attempts {
		addr := freeLoopbackAddr(t)
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, fmt.Appendf(nil, confFormat, user, dir, addr, blnode, upstream), 0o600); err != nil {
			t.Fatal(err)
		}
		url, err := runNginx(t, bin, dir, conf, addr)
		if err == nil {
			return url
		}
		lastErr = err
	}
	t.Fatalf("nginx did not start in %d attempts: %v", attempts, lastErr)
	return ""
}

// runNginx starts nginx and waits until it answers on addr, or returns why
// it did not (the process exited, or the deadline passed).
func runNginx(t *testing.T, bin, dir, conf, addr string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, "-e", filepath.Join(dir, "error.log"), "-p", dir+"/", "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
	}
	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return fmt.Sprintf("output: %s\nerror.log: %s", out.String(), b)
	}

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("nginx %s", errorLog())
				}
			})
			return "http://" + addr, nil
		}
		select {
		case err := <-exited:
			exited <- err // stop reads it
			stop()
			return "", fmt.Errorf("nginx exited: %v\n%s", err, errorLog())
		case <-deadline:
			stop()
			return "", errors.New("nginx did not listen within 15s\n" + errorLog())
		case <-tick.C:
		}
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
