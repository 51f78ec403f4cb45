//go:build unix

package hydratest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/natsproc"
	"github.com/blnode/blnode/internal/poll"
)

// AccessTokenKeySet is the JWK set Hydra signs JWT access tokens with.
const AccessTokenKeySet = "hydra.jwt.access-token"

// startTimeout bounds how long Hydra may take to answer its readiness
// check (it runs its SQL migrations at every start with DSN=memory).
const startTimeout = 60 * time.Second

// Config adjusts the Hydra that Start runs; the zero value is the default.
type Config struct {
	// ScopeClaim is Hydra's strategies.jwt.scope_claim: "list" (its
	// default: scp, an array), "string" (scope, space separated) or
	// "both".
	ScopeClaim string
	// Env is more environment variables for Hydra (KEY=VALUE), which
	// override Start's.
	Env []string
	// PublicPort and AdminPort are the loopback ports of the public and
	// admin APIs (a test that points a node at Hydra before it runs picks
	// them with natsproc.FreeLoopbackPorts); free ports when zero.
	PublicPort, AdminPort int
}

// Hydra is a running Ory Hydra: its public (OAuth 2.0) and admin APIs on
// loopback.
type Hydra struct {
	PublicURL string // the public API, also the issuer (iss)
	AdminURL  string // the admin API
	JWKSURL   string // the public JWKS: PublicURL + /.well-known/jwks.json
	Proc      *child.Process

	client *http.Client // never follows redirects; the flows read them
}

// Start runs "hydra serve all --dev" with an in-memory database, JWT
// access tokens and "sid" allowed as a top-level access-token claim, on
// free loopback ports, and waits until it is ready. t.Cleanup stops it;
// a failed test logs its output.
func Start(t testing.TB, cfg Config) *Hydra {
	t.Helper()
	bin := Binary(t)
	ports := []int{cfg.PublicPort, cfg.AdminPort}
	if cfg.PublicPort == 0 || cfg.AdminPort == 0 {
		free := natsproc.FreeLoopbackPorts(t, 2)
		ports = []int{cmp.Or(cfg.PublicPort, free[0]), cmp.Or(cfg.AdminPort, free[1])}
	}
	public := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	admin := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DSN=memory",
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + strconv.Itoa(ports[0]),
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + strconv.Itoa(ports[1]),
		"URLS_SELF_ISSUER=" + public,
		// The login and consent apps are the test itself, through the
		// admin API: these URLs are read from redirects, never fetched.
		"URLS_LOGIN=" + loginURL, "URLS_CONSENT=" + consentURL,
		"SECRETS_SYSTEM=" + hex.EncodeToString(secret),
		"STRATEGIES_ACCESS_TOKEN=jwt",
		"OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS=sid",
		"LOG_LEVEL=info",
	}
	if cfg.ScopeClaim != "" {
		env = append(env, "STRATEGIES_JWT_SCOPE_CLAIM="+cfg.ScopeClaim)
	}
	env = append(env, cfg.Env...)
	proc := child.StartT(t, child.Config{Name: "hydra", Path: bin, Args: []string{"serve", "all", "--dev", "--sqa-opt-out"},
		Env: env, Dir: t.TempDir(), KeepLines: 2000, StopTimeout: 10 * time.Second})
	h := &Hydra{PublicURL: public, AdminURL: admin, JWKSURL: public + "/.well-known/jwks.json", Proc: proc,
		client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	poll.For(t, startTimeout, 50*time.Millisecond, func() error {
		if proc.Exited() {
			t.Fatal(proc.Failed("exited before it was ready"))
		}
		for _, u := range []string{admin + "/health/ready", public + "/health/ready"} {
			resp, err := h.client.Get(u)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", u, resp.StatusCode)
			}
		}
		return nil
	})
	// Hydra makes its signing keys on first use, and concurrent first
	// requests (a fleet's first JWKS fetches) each make their own: ask
	// once, so that each set starts with one key.
	if keys := h.JWKS(t); len(keys) != 2 {
		t.Fatalf("hydratest: Hydra's first JWKS has keys %v, want one access-token and one ID-token key", Kids(keys))
	}
	return h
}

// The login and consent URLs Hydra redirects to; nothing listens there.
const (
	loginURL   = "http://127.0.0.1:9/login"
	consentURL = "http://127.0.0.1:9/consent"
)

// call sends a JSON request (body nil for none), requires the status want
// and decodes the answer into out (nil to ignore it).
func (h *Hydra) call(t testing.TB, method, url string, body, out any, want int) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("hydratest: %s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("hydratest: %s %s: %d %s, want %d", method, url, resp.StatusCode, bytes.TrimSpace(b), want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("hydratest: %s %s: %v in %s", method, url, err, b)
		}
	}
}
