package djangotest

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/original"
	"github.com/blnode/blnode/internal/poll"
)

//go:embed testdata/project/*.py
var projectFiles embed.FS

const (
	secret     = "djangotest-signing-key-0123456789abcdef"
	adminToken = "djangotest-admin-token-0123456789"
	pollEvery  = 20 * time.Millisecond
)

// TestDjango runs blnode_django in a Django project served by gunicorn
// against a blnode process, as a project migrating from Simple JWT's
// token_blacklist would.
func TestDjango(t *testing.T) {
	in := findDjango(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildBlnode(t, root, dir)
	adminFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(adminFile, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bl := startBlnode(t, bin, filepath.Join(dir, "data"))
	py := installPackage(t, in, root, dir)
	dj := newProject(t, py, dir, bl.url, adminFile)
	users := dj.users(t, "alice", "bob", "carol", "dave", "erin")
	dj.serve(t, 4)

	t.Run("python unit tests", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), py, "-m", "unittest", "-v")
		cmd.Dir = filepath.Join(dir, "src", "tests")
		cmd.Env = baseEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("python -m unittest: %v\n%s", err, out)
		}
	})

	t.Run("obtain registers, blacklist through Django is refused everywhere", func(t *testing.T) {
		pair := dj.obtain(t, "alice")
		refresh := claimsOf(t, pair.Refresh)
		if n := bl.tokens(t, refresh.JTI); n != 1 {
			t.Fatalf("blnode lists %d records of the obtained refresh token's jti, want 1 (outstanding)", n)
		}
		wantJSON(t, dj.get(t, "/api/me/", pair.Access), 200, fmt.Sprintf(`{"id":%d,"username":"alice"}`, users["alice"]))
		wantJSON(t, dj.post(t, "/api/token/verify/", map[string]string{"token": pair.Refresh}), 200, `{}`)

		wantJSON(t, dj.post(t, "/api/token/blacklist/", map[string]string{"refresh": pair.Refresh}), 200, `{}`)
		wantJSON(t, post(t, bl.url+"/api/token/verify/", map[string]string{"token": pair.Refresh}, ""), 400, blacklistedVerify)
		wantJSON(t, dj.post(t, "/api/token/verify/", map[string]string{"token": pair.Refresh}), 400, blacklistedVerify)
		wantJSON(t, dj.post(t, "/api/token/refresh/", map[string]string{"refresh": pair.Refresh}), 401, blacklisted401)
		wantJSON(t, dj.post(t, "/api/token/blacklist/", map[string]string{"refresh": pair.Refresh}), 401, blacklisted401)
	})

	t.Run("revoke-user rejects the user's access tokens in Django", func(t *testing.T) {
		pair := dj.obtain(t, "bob")
		wantJSON(t, dj.get(t, "/api/me/", pair.Access), 200, fmt.Sprintf(`{"id":%d,"username":"bob"}`, users["bob"]))
		afterIssue(t, claimsOf(t, pair.Access).IssuedAt)
		cmd := exec.CommandContext(t.Context(), bin, "revoke-user", "--server", bl.url, "--admin-token-file", adminFile,
			"--reason", "djangotest", strconv.Itoa(users["bob"]))
		cmd.Env = baseEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("blnode revoke-user: %v\n%s", err, out)
		}
		wantJSON(t, dj.get(t, "/api/me/", pair.Access), 401, blacklisted401)
		wantJSON(t, dj.post(t, "/api/token/verify/", map[string]string{"token": pair.Access}), 400, blacklistedVerify)
		wantJSON(t, dj.post(t, "/api/token/refresh/", map[string]string{"refresh": pair.Refresh}), 401, blacklisted401)
		// Logging in again is not refused.
		wantJSON(t, dj.get(t, "/api/me/", dj.obtain(t, "bob").Access), 200, fmt.Sprintf(`{"id":%d,"username":"bob"}`, users["bob"]))
	})

	t.Run("concurrent refresh: exactly one success", func(t *testing.T) {
		pair := dj.obtain(t, "carol")
		const n = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		results := make([]answer, n)
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = dj.postE("/api/token/refresh/", map[string]string{"refresh": pair.Refresh})
			})
		}
		close(start)
		wg.Wait()
		var won []answer
		for _, r := range results {
			switch {
			case r.err != nil:
				t.Fatal(r.err)
			case r.status == 200:
				won = append(won, r)
			case r.status != 401 || !sameJSON(r.body, blacklisted401):
				t.Errorf("a losing refresh answered %d %s, want 401 %s", r.status, r.body, blacklisted401)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d of %d concurrent refreshes of one token succeeded, want exactly 1", len(won), n)
		}
		var rotated tokenPair
		if err := json.Unmarshal([]byte(won[0].body), &rotated); err != nil || rotated.Refresh == "" || rotated.Access == "" {
			t.Fatalf("refresh answered %s: %v", won[0].body, err)
		}
		if n := bl.tokens(t, claimsOf(t, rotated.Refresh).JTI); n != 1 {
			t.Errorf("blnode lists %d records of the rotated refresh token, want 1 (registered)", n)
		}
		wantJSON(t, dj.post(t, "/api/token/verify/", map[string]string{"token": pair.Refresh}), 400, blacklistedVerify)
		wantStatus(t, dj.post(t, "/api/token/refresh/", map[string]string{"refresh": rotated.Refresh}), 200)
	})

	t.Run("password change revokes the user (opt-in hook)", func(t *testing.T) {
		pair := dj.obtain(t, "dave")
		wantStatus(t, dj.get(t, "/api/me/", pair.Access), 200)
		afterIssue(t, claimsOf(t, pair.Access).IssuedAt)
		dj.python(t, "settings", "password.py", "dave")
		wantJSON(t, dj.get(t, "/api/me/", pair.Access), 401, blacklisted401)
	})

	t.Run("blnode_import pushes token_blacklist's rows, idempotently", func(t *testing.T) {
		dj.manage(t, "settings_legacy", "migrate", "--noinput", "-v", "0")
		var legacy struct {
			User        int      `json:"user"`
			Tokens      []string `json:"tokens"`
			Blacklisted string   `json:"blacklisted"`
		}
		if err := json.Unmarshal([]byte(dj.python(t, "settings_legacy", "legacy_rows.py")), &legacy); err != nil {
			t.Fatal(err)
		}
		out := dj.manage(t, "settings_legacy", "blnode_import", "--progress", "1")
		for _, want := range []string{"3 unexpired rows", "1 expired rows skipped", "3/3 done: outstanding new 2, outstanding already 0, blacklisted new 1, blacklisted already 0, refused 0", "blnode_import: 1/3"} {
			if !strings.Contains(out, want) {
				t.Errorf("first import's output lacks %q:\n%s", want, out)
			}
		}
		for i, tok := range legacy.Tokens {
			c := bl.check(t, tok)
			if want := i == 2; c.Blacklisted != want || c.Valid == want {
				t.Errorf("token %d after import: blnode says valid %v, blacklisted %v; want blacklisted %v", i, c.Valid, c.Blacklisted, want)
			}
			if n := bl.tokens(t, claimsOf(t, tok).JTI); n != 1 {
				t.Errorf("token %d after import: blnode lists %d records, want 1", i, n)
			}
		}
		out = dj.manage(t, "settings_legacy", "blnode_import")
		if want := "3/3 done: outstanding new 0, outstanding already 2, blacklisted new 0, blacklisted already 1, refused 0"; !strings.Contains(out, want) {
			t.Errorf("second import's output lacks %q:\n%s", want, out)
		}
	})

	t.Run("blnode down: 503, not a pass", func(t *testing.T) {
		pair := dj.obtain(t, "erin")
		wantStatus(t, dj.get(t, "/api/me/", pair.Access), 200)
		bl.StopT(t)
		wantJSON(t, dj.get(t, "/api/me/", pair.Access), 503, unavailable503)
		wantJSON(t, dj.post(t, "/api/token/verify/", map[string]string{"token": pair.Access}), 503, unavailable503)
		wantJSON(t, dj.post(t, "/api/token/refresh/", map[string]string{"refresh": pair.Refresh}), 503, unavailable503)
		wantJSON(t, dj.post(t, "/api/token/blacklist/", map[string]string{"refresh": pair.Refresh}), 503, unavailable503)
		wantJSON(t, dj.post(t, "/api/token/", map[string]string{"username": "erin", "password": "pw-erin"}), 503, unavailable503)
	})
}

// The bodies Simple JWT answers (blnode_django answers the same).
const (
	blacklistedVerify = `{"non_field_errors":["Token is blacklisted"]}`
	blacklisted401    = `{"detail":"Token is blacklisted","code":"token_not_valid"}`
	unavailable503    = `{"detail":"The token revocation service is unavailable; try again later.","code":"blnode_unavailable"}`
)

// findDjango finds Debian's Django, DRF and Simple JWT as internal/original
// does, failing the test when they are missing.
func findDjango(t *testing.T) original.Install {
	t.Helper()
	if os.Getenv("BLNODE_SKIP_ORIGINAL") == "1" {
		t.Skip("BLNODE_SKIP_ORIGINAL=1: the tests against Simple JWT are skipped")
	}
	in, err := original.Find(t.Context())
	if err != nil {
		t.Fatalf("%v; or set BLNODE_SKIP_ORIGINAL=1 to skip this test", err)
	}
	return in
}

func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}
}

func buildBlnode(t *testing.T, root, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "blnode")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/blnode")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// blnodeProc is a running "blnode serve".
type blnodeProc struct {
	*child.Process
	url string
}

func startBlnode(t *testing.T, bin, data string) *blnodeProc {
	t.Helper()
	env := append(baseEnv(), "BLNODE_HS_SECRET="+secret, "BLNODE_ADMIN_TOKEN="+adminToken)
	p := child.StartT(t, child.Config{Name: "blnode", Path: bin, Env: env,
		Args: []string{"serve", "--http", "127.0.0.1:0", "--log-format", "json", "--flush-interval", "0", "--data", data}})
	addr, err := p.AwaitLine(t.Context(), time.Minute, func(line string) string {
		var rec struct {
			Msg  string `json:"msg"`
			HTTP string `json:"http"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" {
			return ""
		}
		return rec.HTTP
	})
	if err != nil {
		t.Fatal(p.Failed(err.Error()))
	}
	b := &blnodeProc{Process: p, url: "http://" + addr}
	poll.For(t, time.Minute, pollEvery, func() error {
		resp, err := http.Get(b.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/healthz: %d", resp.StatusCode)
		}
		return nil
	})
	return b
}

// tokens is how many records blnode lists with jti.
func (b *blnodeProc) tokens(t *testing.T, jti string) int {
	t.Helper()
	a := get(t, b.url+"/v1/tokens?jti="+jti, adminToken)
	wantStatus(t, a, 200)
	var page struct {
		Tokens []json.RawMessage `json:"tokens"`
	}
	if err := json.Unmarshal([]byte(a.body), &page); err != nil {
		t.Fatal(err)
	}
	return len(page.Tokens)
}

type checkResult struct {
	Valid       bool `json:"valid"`
	Blacklisted bool `json:"blacklisted"`
}

func (b *blnodeProc) check(t *testing.T, tok string) checkResult {
	t.Helper()
	a := post(t, b.url+"/v1/check", map[string]string{"token": tok}, "")
	wantStatus(t, a, 200)
	var c checkResult
	if err := json.Unmarshal([]byte(a.body), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// installPackage installs clients/django with pip into a virtual
// environment in dir that sees Debian's packages (original.Install.Venv,
// which blbench's django scenario uses too) and returns the environment's
// python; dir/src holds the package's source, tests included.
func installPackage(t *testing.T, in original.Install, root, dir string) string {
	t.Helper()
	py, err := in.Venv(t.Context(), dir, filepath.Join(root, "clients", "django"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, baseEnv(), dir, py, "-c", "import blnode_django, sys; assert blnode_django.__file__.startswith(sys.prefix), blnode_django.__file__")
	return py
}

func run(t *testing.T, env []string, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env, cmd.Dir = env, dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// project is the Django project of testdata/project, prepared in a dir.
type project struct {
	py, dir, url string
	env          []string // without DJANGO_SETTINGS_MODULE
}

func newProject(t *testing.T, py, dir, blnodeURL, adminFile string) *project {
	t.Helper()
	code := filepath.Join(dir, "project")
	sub, err := fs.Sub(projectFiles, "testdata/project")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(code, sub); err != nil {
		t.Fatal(err)
	}
	p := &project{py: py, dir: code, env: append(baseEnv(), "PYTHONPATH="+code, "DJANGOTEST_DIR="+dir,
		"DJANGOTEST_SECRET="+secret, "DJANGOTEST_BLNODE_URL="+blnodeURL, "DJANGOTEST_ADMIN_TOKEN_FILE="+adminFile)}
	p.manage(t, "settings", "migrate", "--noinput", "-v", "0")
	return p
}

func (p *project) envFor(settings string) []string {
	return append(p.env[:len(p.env):len(p.env)], "DJANGO_SETTINGS_MODULE="+settings)
}

// manage runs "python -m django ARGS" (manage.py) and returns its output.
func (p *project) manage(t *testing.T, settings string, args ...string) string {
	t.Helper()
	return run(t, p.envFor(settings), p.dir, p.py, append([]string{"-m", "django"}, args...)...)
}

// python runs a script of the project and returns its output.
func (p *project) python(t *testing.T, settings, script string, args ...string) string {
	t.Helper()
	return run(t, p.envFor(settings), p.dir, p.py, append([]string{script}, args...)...)
}

// users creates users (password "pw-NAME") and returns their ids.
func (p *project) users(t *testing.T, names ...string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	if err := json.Unmarshal([]byte(p.python(t, "settings", "users.py", names...)), &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

// serve runs the project under gunicorn with workers sync workers.
func (p *project) serve(t *testing.T, workers int) {
	t.Helper()
	proc := child.StartT(t, child.Config{Name: "gunicorn", Path: p.py, Env: p.envFor("settings"), Dir: p.dir,
		Args: []string{"-m", "gunicorn", "--workers", strconv.Itoa(workers), "--worker-class", "sync",
			"--bind", "127.0.0.1:0", "--graceful-timeout", "5", "wsgi:application"}})
	var err error
	if p.url, err = proc.AwaitLine(t.Context(), time.Minute, original.ListeningAddr); err != nil {
		t.Fatal(proc.Failed(err.Error()))
	}
	// Ready when a worker answers: an empty verify is a 400.
	poll.For(t, time.Minute, pollEvery, func() error {
		a := p.postE("/api/token/verify/", map[string]string{})
		if a.err == nil && a.status != 400 {
			return fmt.Errorf("empty verify: %d %s", a.status, a.body)
		}
		return a.err
	})
}

type tokenPair struct {
	Refresh string `json:"refresh"`
	Access  string `json:"access"`
}

func (p *project) obtain(t *testing.T, user string) tokenPair {
	t.Helper()
	a := p.post(t, "/api/token/", map[string]string{"username": user, "password": "pw-" + user})
	wantStatus(t, a, 200)
	var pair tokenPair
	if err := json.Unmarshal([]byte(a.body), &pair); err != nil || pair.Refresh == "" || pair.Access == "" {
		t.Fatalf("obtain answered %s: %v", a.body, err)
	}
	return pair
}

func (p *project) post(t *testing.T, path string, body any) answer {
	t.Helper()
	return post(t, p.url+path, body, "")
}

func (p *project) postE(path string, body any) answer {
	return do(http.MethodPost, p.url+path, body, "")
}

func (p *project) get(t *testing.T, path, access string) answer {
	t.Helper()
	a := do(http.MethodGet, p.url+path, nil, access)
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a
}

// answer is an HTTP answer, or the error that stood for one.
type answer struct {
	method, url string
	status      int
	body        string
	err         error
}

func do(method, url string, body any, bearer string) answer {
	a := answer{method: method, url: url}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.err = err
			return a
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, r)
	if err != nil {
		a.err = err
		return a
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.err = err
		return a
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a.status, a.body, a.err = resp.StatusCode, strings.TrimSpace(string(b)), err
	return a
}

func post(t *testing.T, url string, body any, bearer string) answer {
	t.Helper()
	a := do(http.MethodPost, url, body, bearer)
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a
}

func get(t *testing.T, url, bearer string) answer {
	t.Helper()
	a := do(http.MethodGet, url, nil, bearer)
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a
}

func wantStatus(t *testing.T, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s %s: %d %s, want %d", a.method, a.url, a.status, a.body, status)
	}
}

func wantJSON(t *testing.T, a answer, status int, body string) {
	t.Helper()
	if a.status != status || !sameJSON(a.body, body) {
		t.Fatalf("%s %s: %d %s, want %d %s", a.method, a.url, a.status, a.body, status, body)
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}

type claims struct {
	JTI      string `json:"jti"`
	IssuedAt int64  `json:"iat"`
}

func claimsOf(t *testing.T, tok string) claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" || c.IssuedAt == 0 {
		t.Fatalf("claims %s: %v", payload, err)
	}
	return c
}

// afterIssue waits until the clock is past the second iat: a user
// revocation rejects tokens issued before the second it is made.
func afterIssue(t *testing.T, iat int64) {
	t.Helper()
	poll.ForTrue(t, 5*time.Second, pollEvery, func() bool { return time.Now().Unix() > iat })
}
