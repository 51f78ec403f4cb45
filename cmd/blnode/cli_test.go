package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/api/client"
	"github.com/blnode/blnode/node/options"
	"github.com/blnode/blnode/node/token"
)

// runCLI runs the binary's run in-process with env as the environment and
// stdin as the standard input; it returns stdout, stderr and the exit
// status main would use.
func runCLI(t testing.TB, environ map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
	err := runEnv(t.Context(), e, args)
	if err != nil {
		code = exitCode(err, &errb)
	}
	return out.String(), errb.String(), code
}

func TestMint(t *testing.T) {
	data := t.TempDir()
	out, stderr, code := runCLI(t, nil, "", "mint", "--data", data, "--type", "refresh", "--user", "42",
		"--claim", "scope=read", "--claim", "n=5", "--audience", "api")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tok := strings.TrimSuffix(out, "\n")
	if strings.Count(out, "\n") != 1 || strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \t") {
		t.Fatalf("stdout %q is not one token and a newline", out)
	}
	if !strings.Contains(stderr, "DEVELOPMENT SECRET") {
		t.Errorf("no development-secret warning on stderr: %s", stderr)
	}
	secret, _, _, err := options.DevSecret(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.New(token.Config{HSSecret: secret, Audience: "api"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok, "refresh")
	if err != nil {
		t.Fatalf("minted token does not verify with the dev secret: %v", err)
	}
	if c.User != "42" || len(c.JTI) != 32 || c.Raw["scope"] != "read" || c.Raw["n"] != json.Number("5") {
		t.Errorf("claims %+v", c)
	}
	if ttl := c.ExpiresAt.Sub(c.IssuedAt); ttl != 24*time.Hour {
		t.Errorf("refresh lifetime %v, want 24h", ttl)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no type", []string{"--user", "1"}, "--type"},
		{"bad type", []string{"--type", "id", "--user", "1"}, "--type"},
		{"no user", []string{"--type", "access"}, "--user"},
		{"bad claim", []string{"--type", "access", "--user", "1", "--claim", "novalue"}, "want k=v"},
		{"public key only", []string{"--type", "access", "--user", "1", "--public-key-file", writeTestPublicKey(t)}, "no signing key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runCLI(t, nil, "", append([]string{"mint", "--data", data}, tt.args...)...)
			if code != 1 || out != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, stderr, tt.want)
			}
		})
	}
}

// TestMintSharesServeConfig gives mint the config file of a serve: the
// keys mint has no use for are known keys, not errors, and the secret is
// the one serve would use.
func TestMintSharesServeConfig(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hs")
	if err := os.WriteFile(secretFile, []byte("shared-secret-0123456789abcdef01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "blnode.yaml")
	yaml := "data: " + filepath.Join(dir, "data") + "\nhttp: 127.0.0.1:9999\nrole: full\nnats: [nats://127.0.0.1:4222]\n" +
		"hs-secret-file: " + secretFile + "\nuser-id-claim: uid\nflush-interval: 1h\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLI(t, map[string]string{"BLNODE_CONFIG": cfg}, "", "mint", "--type", "access", "--user", "u1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr %q, want nothing (no development secret)", stderr)
	}
	v, err := token.New(token.Config{HSSecret: []byte("shared-secret-0123456789abcdef01"), UserIDClaim: "uid"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(strings.TrimSpace(out), "access")
	if err != nil || c.User != "u1" {
		t.Fatalf("claims %+v, err %v", c, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "dev-secret")); err == nil {
		t.Error("mint made a development secret although a key is configured")
	}
}

// writeTestPublicKey writes an Ed25519 public key PEM and returns its path.
func writeTestPublicKey(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pub.pem")
	const pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
	if err := os.WriteFile(path, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testNode starts an in-process node without NATS behind an httptest
// server and returns its URL and the node.
func testNode(t testing.TB, admin string) (string, *node.Node) {
	t.Helper()
	n, err := node.New(node.Config{
		DataDir: t.TempDir(), AdminToken: admin, FlushInterval: -1,
		Token:  token.Config{HSSecret: []byte("0123456789abcdef0123456789abcdef")},
		NATS:   node.NATSConfig{Disabled: true},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	return srv.URL, n
}

func TestClientSubcommands(t *testing.T) {
	const admin = "admin-token-0123456789"
	url, n := testNode(t, admin)
	mint := func(user string) (string, token.Claims) {
		tok, c, err := n.Verifier().Mint(token.MintOptions{Type: "refresh", User: user})
		if err != nil {
			t.Fatal(err)
		}
		return tok, c
	}
	env := map[string]string{"BLNODE_SERVER": url}
	adminEnv := map[string]string{"BLNODE_SERVER": url, "BLNODE_ADMIN_TOKEN": admin}
	adminFile := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(adminFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, c := mint("42")
	tok2, c2 := mint("7")

	steps := []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		want   string // stdout, or a substring of stderr when code is 1
		code   int
		substr bool
	}{
		{name: "check valid", env: env, args: []string{"check", tok}, want: "valid\n"},
		{name: "blacklist", env: env, args: []string{"blacklist", tok, "--reason", "stolen"}, want: "blacklisted " + c.JTI + "\n"},
		{name: "blacklist again", env: env, args: []string{"blacklist", tok}, want: "already blacklisted " + c.JTI + "\n"},
		{name: "check blacklisted", env: env, args: []string{"check", tok}, want: "blacklisted\n", code: 2},
		{name: "check jti blacklisted", env: env, args: []string{"check", "--jti", c.JTI}, want: "blacklisted\n", code: 2},
		{name: "check jti not blacklisted", env: env, args: []string{"check", "--jti", c2.JTI}, want: "not blacklisted\n"},
		{name: "check not valid", env: env, args: []string{"check", "not.a.token"}, want: "not valid: Token is invalid\n", code: 2},
		{name: "check token from stdin", env: env, stdin: tok2 + "\n", args: []string{"check", "-"}, want: "valid\n"},
		{name: "server flag beats env", env: map[string]string{"BLNODE_SERVER": "http://127.0.0.1:1"}, args: []string{"check", tok2, "--server", url}, want: "valid\n"},
		{name: "blacklist json", env: env, args: []string{"blacklist", "--json", tok2}, want: `"already_blacklisted":false`, substr: true},
		{name: "admin form needs admin", env: env, args: []string{"blacklist", "--jti", "j1", "--exp", "2030-01-02T03:04:05Z"},
			want: "blnode: unauthorized: admin token required (HTTP 401)\n", code: 1},
		{name: "admin form", env: adminEnv, args: []string{"blacklist", "--jti", "j1", "--exp", "2030-01-02T03:04:05Z", "--user", "9", "--type", "access"},
			want: "blacklisted j1\n"},
		{name: "admin form unix exp", args: []string{"blacklist", "--server", url, "--admin-token-file", adminFile, "--jti", "j2", "--exp", "1893456000"},
			want: "blacklisted j2\n"},
		{name: "bad exp", env: adminEnv, args: []string{"blacklist", "--jti", "j3", "--exp", "tomorrow"}, want: "--exp", code: 1},
		{name: "token and jti", env: adminEnv, args: []string{"blacklist", tok, "--jti", "j3"}, want: "give a TOKEN, or --jti", code: 1},
		{name: "invalid token", env: env, args: []string{"blacklist", "not.a.token"}, want: "blnode: token_not_valid: Token is invalid (HTTP 401)\n", code: 1},
		{name: "tokens need admin", env: env, args: []string{"tokens"}, want: "blnode: unauthorized: admin token required (HTTP 401)\n", code: 1},
		{name: "status", env: adminEnv, args: []string{"status"}, want: "role:", substr: true},
		{name: "flush", env: adminEnv, args: []string{"flush"}, want: "removed 0 outstanding, 0 blacklisted, 0 user revocations (expired before ", substr: true},
		{name: "unreachable", args: []string{"check", tok, "--server", "http://127.0.0.1:1"}, want: "connection refused", code: 1},
		{name: "bad server URL", args: []string{"check", tok, "--server", "127.0.0.1:8080"}, want: "--server", code: 1},
	}
	for _, s := range steps { // in order: each step builds on the ones before
		out, stderr, code := runCLI(t, s.env, s.stdin, s.args...)
		got := out
		if s.code == 1 {
			got = stderr
		}
		ok := got == s.want
		if s.substr || (s.code == 1 && !strings.HasPrefix(s.want, "blnode:")) {
			ok = strings.Contains(got, s.want)
		}
		if code != s.code || !ok {
			t.Errorf("%s: blnode %q: exit %d, stdout %q, stderr %q; want exit %d and %q", s.name, s.args, code, out, stderr, s.code, s.want)
		}
	}

	t.Run("tokens table", func(t *testing.T) {
		out, stderr, code := runCLI(t, adminEnv, "", "tokens", "--user", "42")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("want a header and one row, got:\n%s", out)
		}
		header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
		if !slices.Equal(header, []string{"JTI", "USER", "TYPE", "CREATED", "EXPIRES", "STATUS"}) {
			t.Errorf("header %q", header)
		}
		if len(row) != 6 || row[0] != c.JTI || row[1] != "42" || row[2] != "refresh" || row[5] != "blacklisted" {
			t.Errorf("row %q", row)
		}
		if strings.Index(lines[0], "STATUS") != strings.Index(lines[1], "blacklisted") {
			t.Errorf("columns not aligned:\n%s", out)
		}
	})
	t.Run("tokens all pages", func(t *testing.T) {
		out, stderr, code := runCLI(t, adminEnv, "", "tokens", "--limit", "1", "--all", "--blacklisted", "true")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, jti := range []string{c.JTI, c2.JTI, "j1", "j2"} {
			if !strings.Contains(out, jti+" ") {
				t.Errorf("%s missing from:\n%s", jti, out)
			}
		}
		if n := strings.Count(out, "\n"); n != 5 {
			t.Errorf("%d lines, want a header and 4 rows:\n%s", n, out)
		}
		out, stderr, _ = runCLI(t, adminEnv, "", "tokens", "--limit", "1")
		if strings.Count(out, "\n") != 2 || !strings.Contains(stderr, "--cursor") {
			t.Errorf("one page: stdout %q, stderr %q; want one row and a cursor hint", out, stderr)
		}
		out, _, _ = runCLI(t, adminEnv, "", "tokens", "--limit", "1", "--all", "--json")
		var page struct {
			Tokens []node.RecordJSON `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Tokens) != 4 {
			t.Errorf("--all --json: %d tokens (%v) from %s", len(page.Tokens), err, out)
		}
	})
	t.Run("status json", func(t *testing.T) {
		out, _, code := runCLI(t, adminEnv, "", "status", "--json")
		var st node.Status
		if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Blacklisted != 4 || st.NodeID != n.ID() {
			t.Errorf("exit %d, status %+v (%v)", code, st, err)
		}
	})
}

func TestUsageAndVersion(t *testing.T) {
	out, _, code := runCLI(t, nil, "", "help")
	for _, sub := range []string{"serve", "mint", "blacklist", "check", "tokens", "flush", "status", "version"} {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("help does not list %s:\n%s", sub, out)
		}
	}
	if code != 0 {
		t.Errorf("help: exit %d", code)
	}
	if out2, _, _ := runCLI(t, nil, "", "-h"); out2 != out {
		t.Error("-h differs from help")
	}
	out, _, code = runCLI(t, nil, "", "help", "serve")
	if code != 0 || !strings.Contains(out, "--hs-secret-file FILE") || !strings.Contains(out, "BLNODE_HS_SECRET") {
		t.Errorf("help serve: exit %d:\n%s", code, out)
	}
	if _, stderr, code := runCLI(t, nil, "", "frobnicate"); code != 1 || !strings.Contains(stderr, `unknown subcommand "frobnicate"`) {
		t.Errorf("unknown subcommand: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runCLI(t, nil, "", "check", "--bogus"); code != 1 || !strings.Contains(stderr, "-bogus") {
		t.Errorf("unknown flag: exit %d, %q", code, stderr)
	}
	out, _, code = runCLI(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "blnode ") || strings.Count(out, "\n") != 1 || len(out) < len("blnode x\n") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestExitCode(t *testing.T) {
	var b bytes.Buffer
	if c := exitCode(checkFailed, &b); c != 2 || b.Len() != 0 {
		t.Errorf("checkFailed: %d %q", c, b.String())
	}
	if c := exitCode(&client.Error{Status: 403, Code: "read_only", Detail: "no"}, &b); c != 1 || b.String() != "blnode: read_only: no (HTTP 403)\n" {
		t.Errorf("client.Error: %d %q", c, b.String())
	}
	b.Reset()
	if c := exitCode(errors.New("boom"), &b); c != 1 || b.String() != "blnode: boom\n" {
		t.Errorf("error: %d %q", c, b.String())
	}
}
