package deploytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/poll"
)

// Timeouts. Generous: two shared cores may be busy with other packages'
// tests; every wait polls and returns as soon as its condition holds.
const (
	startTimeout = 60 * time.Second // a process up, a cluster formed
	syncTimeout  = 60 * time.Second // an event across the fleet
	pollEvery    = 25 * time.Millisecond
	stopTimeout  = 20 * time.Second
)

// binDir holds the binaries built once for the package's tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploytest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod two levels above the test: %v", err)
	}
	return root
}

// deployPath is a path under deploy/.
func deployPath(t testing.TB, elem ...string) string {
	return filepath.Join(append([]string{repoRoot(t), "deploy"}, elem...)...)
}

// toolset is the binaries the process tests run.
type toolset struct {
	blnode string // built with deploy/Dockerfile's command
	nats   string // nats-server at the version in go.mod
}

var (
	buildOnce sync.Once
	built     toolset
	buildErr  error
)

// tools builds blnode (with the exact go build command of deploy/Dockerfile)
// and nats-server (from the module in go.mod) once per test binary.
func tools(t testing.TB) toolset {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build blnode and nats-server with")
	}
	buildOnce.Do(func() {
		root := repoRoot(t)
		df, err := parseDockerfile(filepath.Join(root, "deploy", "Dockerfile"))
		if err != nil {
			buildErr = err
			return
		}
		env, args, err := df.goBuild()
		if err != nil {
			buildErr = err
			return
		}
		blnode := filepath.Join(binDir, "blnode")
		args = replaceOutput(args, blnode)
		cmd := exec.Command(goTool, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s (from deploy/Dockerfile): %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		// The same flags: blnode embeds the server, so every package but
		// main comes from the build cache.
		nats := filepath.Join(binDir, "nats-server")
		nargs := replaceOutput(args, nats)
		nargs[slices.Index(nargs, "./cmd/blnode")] = "github.com/nats-io/nats-server/v2"
		cmd = exec.Command(goTool, nargs...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
			return
		}
		built = toolset{blnode: blnode, nats: nats}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// replaceOutput returns go build arguments with the -o value set to out.
func replaceOutput(args []string, out string) []string {
	args = slices.Clone(args)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-o" {
			args[i+1] = out
			return args
		}
	}
	return append([]string{args[0], "-o", out}, args[1:]...)
}

// startProc starts bin with args and exactly env (nothing inherited but
// PATH), and stops it at cleanup; a failed test shows its output.
func startProc(t testing.TB, name, bin string, args, env []string) *child.Process {
	t.Helper()
	return child.StartT(t, child.Config{Name: name, Path: bin, Args: args,
		Env: append([]string{"PATH=" + os.Getenv("PATH")}, env...), StopTimeout: stopTimeout})
}

// freeAddr reserves a loopback port and releases it for a process to bind.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// httpClient bounds every request of the tests.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// call sends a request with an optional JSON body and bearer token and
// returns the status and the trimmed body.
func call(method, url, bearer string, body any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// wantStatus is an error unless GET url answers status.
func wantStatus(url string, status int) error {
	got, body, err := call(http.MethodGet, url, "", nil)
	if err != nil {
		return err
	}
	if got != status {
		return fmt.Errorf("GET %s: %d %s, want %d", url, got, body, status)
	}
	return nil
}

// node is a running blnode serve process.
type node struct {
	*child.Process
	name  string
	url   string
	admin string
}

// waitListening waits for serve's "listening" log line and returns the
// node with its URL.
func waitListening(t testing.TB, p *child.Process, admin string) *node {
	t.Helper()
	url, err := p.AwaitLine(t.Context(), startTimeout, func(line string) string {
		var r struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &r) != nil || r.Msg != "listening" {
			return ""
		}
		if r.URL == "" {
			return "no url: " + line
		}
		return r.URL
	})
	if err != nil {
		t.Fatalf("%s: no listening log line: %v:\n%s", p.Name(), err, p.Output())
	}
	if !strings.HasPrefix(url, "http") {
		t.Fatalf("%s: listening line without url: %s", p.Name(), url)
	}
	return &node{Process: p, name: p.Name(), url: url, admin: admin}
}

// status is the part of GET /v1/status the tests read.
type status struct {
	Role        string `json:"role"`
	Region      string `json:"region"`
	NATS        string `json:"nats"`
	Stream      string `json:"stream"`
	LastApplied uint64 `json:"last_applied_seq"`
	StreamLast  uint64 `json:"stream_last_seq"`
	Ready       bool   `json:"ready"`
	OutboxDepth uint64 `json:"outbox_depth"`
	Blacklisted uint64 `json:"blacklisted"`
	Digest      string `json:"blacklist_digest"` // equal on nodes holding the same blacklist
}

func (n *node) status() (status, error) {
	var st status
	code, body, err := call(http.MethodGet, n.url+"/v1/status", n.admin, nil)
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("GET %s/v1/status: %d %s", n.url, code, body)
	}
	return st, json.Unmarshal([]byte(body), &st)
}

// blacklistedJTI asks the node whether jti is blacklisted.
func (n *node) blacklistedJTI(jti string) (bool, error) {
	code, body, err := call(http.MethodGet, n.url+"/v1/blacklist/"+jti, "", nil)
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("GET /v1/blacklist/%s on %s: %d %s", jti, n.name, code, body)
	}
	var res struct {
		Blacklisted bool `json:"blacklisted"`
	}
	return res.Blacklisted, json.Unmarshal([]byte(body), &res)
}

// blacklist blacklists a refresh token through the Simple JWT endpoint and
// requires 200.
func (n *node) blacklist(t testing.TB, tok string) {
	t.Helper()
	code, body, err := call(http.MethodPost, n.url+"/api/token/blacklist/", "", map[string]string{"refresh": tok})
	if err != nil || code != http.StatusOK {
		t.Fatalf("blacklist on %s: %d %s %v, want 200", n.name, code, body, err)
	}
}

const blacklistedBody = `{"non_field_errors":["Token is blacklisted"]}`

// verifyRejects is nil once the node's verify answers "blacklisted".
func (n *node) verifyRejects(tok string) error {
	code, body, err := call(http.MethodPost, n.url+"/api/token/verify/", "", map[string]string{"token": tok})
	if err != nil {
		return err
	}
	if code != http.StatusBadRequest || body != blacklistedBody {
		return fmt.Errorf("verify on %s: %d %s, want 400 %s", n.name, code, body, blacklistedBody)
	}
	return nil
}

// verifyAccepts is nil when the node's verify answers 200.
func (n *node) verifyAccepts(tok string) error {
	code, body, err := call(http.MethodPost, n.url+"/api/token/verify/", "", map[string]string{"token": tok})
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("verify on %s: %d %s, want 200", n.name, code, body)
	}
	return nil
}

// waitReady waits for /readyz to answer 200.
func (n *node) waitReady(t testing.TB) {
	t.Helper()
	poll.For(t, startTimeout, pollEvery, func() error {
		if n.Exited() {
			t.Fatalf("%s exited (%v):\n%s", n.name, n.Err(), n.Output())
		}
		return wantStatus(n.url+"/readyz", http.StatusOK)
	})
}

// runCmd runs bin to completion with exactly env and returns its output
// and exit code.
func runCmd(t testing.TB, bin string, args, env []string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return string(out), 0
}

// natsHealthy is nil once the server's monitoring /healthz answers 200
// (JetStream up and, in a cluster, a meta leader known).
func natsHealthy(monitor string) error {
	return wantStatus("http://"+monitor+"/healthz", http.StatusOK)
}

// addrPattern finds the HOST:PORT addresses of a shipped file: 0.0.0.0 (a
// listen address) or a service host name.
var addrPattern = regexp.MustCompile(`\b(0\.0\.0\.0|[a-z][a-z0-9]*(?:-[a-z0-9]+)+):([0-9]{2,5})\b`)

// storeDirPattern finds JetStream's store_dir.
var storeDirPattern = regexp.MustCompile(`(?m)^(\s*store_dir:\s*)"/data"\s*$`)

// rewriteAddrs replaces each HOST:PORT in text by what mapAddr says; an
// address it does not know fails the test.
func rewriteAddrs(t testing.TB, text string, mapAddr func(host, port string) (string, bool)) string {
	t.Helper()
	return addrPattern.ReplaceAllStringFunc(text, func(m string) string {
		sub := addrPattern.FindStringSubmatch(m)
		a, ok := mapAddr(sub[1], sub[2])
		if !ok {
			return m // not an address of the topology (e.g. a word with a dash and digits)
		}
		return a
	})
}

// includePattern finds a NATS config's include lines.
var includePattern = regexp.MustCompile(`(?m)^\s*include\s+"?([^"\s]+)"?\s*$`)

// natsConfig copies the shipped NATS config at path into dir for a server
// on loopback, changing only addresses (through mapAddr) and store_dir, and
// copies the files it includes verbatim. It returns the copy's path.
func natsConfig(t testing.TB, path, dir, storeDir string, mapAddr func(host, port string) (string, bool)) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !storeDirPattern.MatchString(text) {
		t.Fatalf("%s: no store_dir: \"/data\" line to move", path)
	}
	out := storeDirPattern.ReplaceAllString(text, `${1}"`+storeDir+`"`)
	out = rewriteAddrs(t, out, mapAddr)
	// Only addresses and store_dir may differ.
	before, after := strings.Split(text, "\n"), strings.Split(out, "\n")
	if len(before) != len(after) {
		t.Fatalf("%s: rewriting changed the number of lines", path)
	}
	for i := range before {
		if before[i] != after[i] && !addrPattern.MatchString(before[i]) && !storeDirPattern.MatchString(before[i]) {
			t.Fatalf("%s line %d: rewritten although it holds no address: %q → %q", path, i+1, before[i], after[i])
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range includePattern.FindAllStringSubmatch(text, -1) {
		inc, err := os.ReadFile(filepath.Join(filepath.Dir(path), m[1]))
		if err != nil {
			t.Fatalf("%s includes %s: %v", path, m[1], err)
		}
		if addrPattern.Match(inc) {
			t.Fatalf("%s (included by %s) holds an address: addresses belong in the main file", m[1], path)
		}
		if err := os.WriteFile(filepath.Join(dir, m[1]), inc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(conf, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// proxy is a TCP proxy the test can cut: while cut it closes every
// connection it has and every new one.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

// startProxy listens on a free loopback port and forwards to target.
func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer p.wg.Done()
	if !p.track(c) {
		c.Close()
		return
	}
	u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil || !p.track(u) {
		if u != nil {
			u.Close()
		}
		p.forget(c)
		c.Close()
		return
	}
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// One direction ended: end both, as a cut link would.
		dst.Close()
		src.Close()
	}
	wg.Add(2)
	go pipe(u, c)
	go pipe(c, u)
	wg.Wait()
	p.forget(c)
	p.forget(u)
}

// track registers c unless the proxy is cut.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// setCut cuts the link (closing every connection) or restores it.
func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// writeFile writes a file the test owns (a secret) with mode 0600.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// scanLines returns the lines of a file.
func scanLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
