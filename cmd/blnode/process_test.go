//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/poll"
)

// Process tests: the built binary, run as a user runs it.

// buildBinary builds blnode into a temporary dir and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "blnode")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cleanEnv is the test's environment without BLNODE_ variables, so that
// the processes see only what a test gives them.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BLNODE_") {
			env = append(env, kv)
		}
	}
	return env
}

// runBin runs the binary to completion and returns its output and exit status.
func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBinWithin(t, 0, bin, args...)
}

// runBinWithin is runBin for a process that should exit by itself: one
// still running after timeout (0 for none) is killed, and its exit status
// is then -1.
func runBinWithin(t *testing.T, timeout time.Duration, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx := t.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = cleanEnv(), &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("blnode %q: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// serveProc is a running "blnode serve".
type serveProc struct {
	*child.Process
	url string
}

// startServe starts "blnode serve" on a free loopback port with JSON logs,
// finds the address in its "listening" log line and waits for /healthz.
func startServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	return startServeWith(t, bin, http.DefaultClient, nil, false, args...)
}

// stop sends SIGTERM and requires a clean exit within the deadline.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("serve had exited before SIGTERM (%v):\n%s", p.Err(), p.Output())
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("%v:\n%s", err, p.Output())
	}
	if err := p.Err(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, p.Output())
	}
	if p.Record("stopped") == nil {
		t.Errorf("no \"stopped\" log line:\n%s", p.Output())
	}
}

// pollEvery is how often the tests poll for what they wait for.
const pollEvery = 20 * time.Millisecond

func wantStatus(url string, status int) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		return fmt.Errorf("GET %s: %d %s, want %d", url, resp.StatusCode, bytes.TrimSpace(body), status)
	}
	return nil
}

// postJSON posts v and returns the status and the body.
func postJSON(t *testing.T, url string, v any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// mintBin mints a refresh token for user 42 with the binary.
func mintBin(t *testing.T, bin, data string) (tok, jti, stderr string) {
	t.Helper()
	out, stderr, code := runBin(t, bin, "mint", "--data", data, "--type", "refresh", "--user", "42")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("mint: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	tok = strings.TrimSuffix(out, "\n")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("mint printed %q, not a JWT", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.JTI == "" {
		t.Fatalf("minted payload %s: %v", payload, err)
	}
	return tok, claims.JTI, stderr
}

const blacklistedBody = `{"non_field_errors":["Token is blacklisted"]}`

func TestProcessServeMintBlacklistRestart(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	adminFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(adminFile, []byte("process-admin-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data", data, "--no-nats", "--admin-token-file", adminFile}

	// A write's log line is DEBUG (--log-level debug shows it).
	first := startServe(t, bin, append([]string{"--log-level", "debug"}, args...)...)
	if r := first.Record("listening"); r["nats"] != "disabled" || r["role"] != "full" || r["region"] != "local" || r["data"] != data || r["node_id"] == "" {
		t.Errorf("listening log line %v", r)
	}
	if r := first.Record("NO KEY CONFIGURED: USING A DEVELOPMENT SECRET. Tokens signed with it are for development only; " +
		"give --hs-secret-file, BLNODE_HS_SECRET or --public-key-file in production"); r == nil || r["level"] != "WARN" {
		t.Errorf("no development-secret warning:\n%s", first.Output())
	}

	tok, jti, mintLog := mintBin(t, bin, data)
	if status, body := postJSON(t, first.url+"/api/token/blacklist/", map[string]string{"refresh": tok}); status != 200 || body != "{}" {
		t.Fatalf("blacklist: %d %s, want 200 {}", status, body)
	}
	if status, body := postJSON(t, first.url+"/api/token/verify/", map[string]string{"token": tok}); status != 400 || body != blacklistedBody {
		t.Fatalf("verify: %d %s, want 400 %s", status, body, blacklistedBody)
	}
	if out, stderr, code := runBin(t, bin, "check", tok, "--server", first.url); code != 2 || out != "blacklisted\n" {
		t.Errorf("check: exit %d, stdout %q, stderr %q; want exit 2 and blacklisted", code, out, stderr)
	}
	listed := func(url string) {
		t.Helper()
		out, stderr, code := runBin(t, bin, "tokens", "--admin-token-file", adminFile, "--server", url)
		if code != 0 {
			t.Fatalf("tokens: exit %d: %s", code, stderr)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 6 && f[0] == jti && f[1] == "42" && f[2] == "refresh" && f[5] == "blacklisted" {
				return
			}
		}
		t.Errorf("tokens does not list %s as blacklisted:\n%s", jti, out)
	}
	listed(first.url)
	first.stop(t)

	second := startServe(t, bin, args...)
	if status, body := postJSON(t, second.url+"/api/token/verify/", map[string]string{"token": tok}); status != 400 || body != blacklistedBody {
		t.Fatalf("verify after restart: %d %s, want 400 %s", status, body, blacklistedBody)
	}
	listed(second.url)
	if r := second.Record("NO KEY CONFIGURED: USING A DEVELOPMENT SECRET. Tokens signed with it are for development only; " +
		"give --hs-secret-file, BLNODE_HS_SECRET or --public-key-file in production"); r == nil || r["created"] != false {
		t.Errorf("restart did not reuse the development secret: %v", r)
	}
	second.stop(t)

	for name, logs := range map[string]string{"first serve": first.Output(), "second serve": second.Output(), "mint": mintLog} {
		if strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[2]) {
			t.Errorf("the %s log shows the raw token:\n%s", name, logs)
		}
	}
	if !strings.Contains(first.Output(), jti) {
		t.Errorf("the blacklisting is not logged by jti at --log-level debug:\n%s", first.Output())
	}
	if strings.Contains(second.Output(), "level=DEBUG") || strings.Contains(second.Output(), `"level":"DEBUG"`) {
		t.Errorf("a DEBUG line at the default level (info):\n%s", second.Output())
	}
}

func TestProcessServeEmbeddedNATS(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, bin, "--data", data)
	if r := p.Record("listening"); r["nats"] != "embedded, in-process" {
		t.Errorf("listening log line %v, want nats embedded", r)
	}
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(p.url+"/readyz", http.StatusOK) })

	tok, _, _ := mintBin(t, bin, data)
	if status, body := postJSON(t, p.url+"/api/token/blacklist/", map[string]string{"refresh": tok}); status != 200 || body != "{}" {
		t.Fatalf("blacklist: %d %s, want 200 {}", status, body)
	}
	if status, body := postJSON(t, p.url+"/api/token/verify/", map[string]string{"token": tok}); status != 400 || body != blacklistedBody {
		t.Fatalf("verify: %d %s, want 400 %s", status, body, blacklistedBody)
	}
	// The node applies its own event from the stream: the write went
	// through the outbox and the embedded JetStream.
	poll.For(t, 10*time.Second, pollEvery, func() error {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var st struct {
			LastApplied uint64 `json:"last_applied"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		if st.LastApplied < 1 {
			return fmt.Errorf("last applied stream sequence %d, want ≥ 1", st.LastApplied)
		}
		return nil
	})
	p.stop(t)
	if _, err := os.Stat(filepath.Join(data, "nats")); err != nil {
		t.Errorf("no embedded NATS store in the data dir: %v", err)
	}
}

// TestProcessServePprof: --pprof serves Go's profiler on its own listener,
// and the API's address does not.
func TestProcessServePprof(t *testing.T) {
	bin := buildBinary(t)
	p := startServe(t, bin, "--data", filepath.Join(t.TempDir(), "data"), "--no-nats", "--pprof", "127.0.0.1:0")
	r := p.Record("profiler listening")
	if r == nil {
		t.Fatalf("no \"profiler listening\" log line:\n%s", p.Output())
	}
	prof, _ := r["url"].(string)
	if !strings.HasPrefix(prof, "http://127.0.0.1:") {
		t.Fatalf("profiler url %q, want a loopback URL", prof)
	}
	if err := wantStatus(prof+"cmdline", http.StatusOK); err != nil {
		t.Error(err)
	}
	if err := wantStatus(p.url+"/debug/pprof/cmdline", http.StatusNotFound); err != nil {
		t.Errorf("the API address serves the profiler: %v", err)
	}
	p.stop(t)

	// A non-loopback address stops serve from starting, unless allowed. (A
	// serve that starts instead is stopped at the deadline: only a failing
	// test waits for it.)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "serve", "--data", filepath.Join(t.TempDir(), "data"), "--no-nats", "--http", "127.0.0.1:0", "--pprof", "0.0.0.0:0")
	cmd.Env, cmd.Stderr = cleanEnv(), &stderr
	if err := cmd.Run(); ctx.Err() != nil || err == nil || !strings.Contains(stderr.String(), "--pprof-allow-remote") {
		t.Errorf("serve --pprof 0.0.0.0:0: %v (deadline: %v), stderr %q; want a failure naming --pprof-allow-remote", err, ctx.Err(), stderr.String())
	}
	p = startServe(t, bin, "--data", filepath.Join(t.TempDir(), "data"), "--no-nats", "--pprof", "0.0.0.0:0", "--pprof-allow-remote")
	if r := p.Record("profiler listening"); r == nil {
		t.Errorf("--pprof-allow-remote: no \"profiler listening\" log line:\n%s", p.Output())
	}
	if !strings.Contains(p.Output(), `"level":"WARN","msg":"profiler on a non-loopback address`) {
		t.Errorf("--pprof-allow-remote: no WARN log line:\n%s", p.Output())
	}
	p.stop(t)
}
