//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/hydratest"
	"github.com/blnode/blnode/internal/natsproc"
	"github.com/blnode/blnode/internal/poll"
)

// End to end against a real issuer (issue 18): Ory Hydra (internal/
// hydratest) issues JWT access tokens, and a fleet of real blnode
// processes — a full node with its embedded NATS server and two
// validators following it — verifies them at /auth through Hydra's JWKS
// (--jwks-url) and turns them away when they are revoked by jti, session,
// client or issuer, through a key rotation in Hydra and against a forged
// key.

// hydraFleet is the fleet of the Hydra test.
type hydraFleet struct {
	hydra     *hydratest.Hydra
	bin       string     // the blnode binary
	admin     string     // the admin token
	adminFile string     // holding it
	full      *serveProc // takes the writes
	nodes     []hydraNode
}

// hydraNode is a node of the fleet by name.
type hydraNode struct {
	name string
	proc *serveProc
}

// hydraVerifyArgs are the serve flags that make a node verify Hydra's
// access tokens: its JWKS (fetched again at least every 2 s, so that a
// removed key stops verifying soon), its issuer, the user in sub, and
// typ "JWT" taken as an access token (Hydra does not write at+jwt).
func hydraVerifyArgs(h *hydratest.Hydra) []string {
	return []string{"--jwks-url", h.JWKSURL, "--issuer", h.PublicURL, "--user-id-claim", "sub",
		"--untyped-tokens-are-access", "--jwks-refresh-min", "1s", "--jwks-refresh-max", "2s"}
}

// startHydraFleet starts Hydra and the fleet, and waits until every node
// is ready (its JWKS fetched, the stream caught up).
func startHydraFleet(t *testing.T) *hydraFleet {
	t.Helper()
	bin := buildBinary(t)
	// Hydra's scope string beside scp: the /auth scope header reads either.
	h := hydratest.Start(t, hydratest.Config{ScopeClaim: "both"})
	dir := t.TempDir()
	f := &hydraFleet{hydra: h, bin: bin, admin: "hydra-fleet-admin-token-0123456789", adminFile: filepath.Join(dir, "admin-token")}
	adminFile := f.adminFile
	if err := os.WriteFile(adminFile, []byte(f.admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fullData := filepath.Join(dir, "full")
	f.full = startServe(t, bin, append([]string{"--data", fullData, "--nats-listen", "127.0.0.1:0", "--admin-token-file", adminFile},
		hydraVerifyArgs(h)...)...)
	f.nodes = append(f.nodes, hydraNode{"full node", f.full})
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range f.nodes {
				t.Logf("%s log:\n%s", n.name, n.proc.Tail(200))
			}
		}
	})
	natsURL, _ := f.full.Record("listening")["nats_listen"].(string)
	if natsURL == "" {
		t.Fatalf("no nats_listen in the full node's listening log line:\n%s", f.full.Output())
	}
	for i := range 2 {
		args := append([]string{"--role", "validator", "--data", filepath.Join(dir, fmt.Sprintf("v%d", i+1)), "--nats", natsURL,
			"--nats-user", "blnode-validator", "--nats-password-file", filepath.Join(fullData, "nats", "auth", "validator.password"),
			"--admin-token-file", adminFile}, hydraVerifyArgs(h)...)
		f.nodes = append(f.nodes, hydraNode{fmt.Sprintf("validator %d", i+1), startServe(t, bin, args...)})
	}
	for _, n := range f.nodes {
		poll.For(t, 30*time.Second, pollEvery, func() error { return wantStatus(n.proc.url+"/readyz", http.StatusOK) })
	}
	return f
}

// authAt asks node url's /auth about tok.
func authAt(url, tok string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodGet, url+"/auth", nil)
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := fleetClient().Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(body)), err
}

// passes requires every node to let tok through at /auth now, with the
// headers want (name → value), and returns nothing: no polling, a token
// that should pass passes at once.
func (f *hydraFleet) passes(t *testing.T, what, tok string, want map[string]string) {
	t.Helper()
	for _, n := range f.nodes {
		status, hdr, body, err := authAt(n.proc.url, tok)
		if err != nil || status != http.StatusOK {
			t.Errorf("%s: /auth of %s: %d %s %v, want 200", n.name, what, status, body, err)
			continue
		}
		for k, v := range want {
			if got := hdr.Get(k); got != v {
				t.Errorf("%s: /auth of %s: header %s = %q, want %q", n.name, what, k, got, v)
			}
		}
	}
}

// refused waits until every node refuses each of toks at /auth with 401;
// any answer but 200 (not yet) or 401 fails the test.
func (f *hydraFleet) refused(t *testing.T, what string, toks ...string) {
	t.Helper()
	poll.For(t, 20*time.Second, pollEvery, func() error {
		for _, n := range f.nodes {
			for i, tok := range toks {
				status, _, body, err := authAt(n.proc.url, tok)
				switch {
				case err != nil:
					return fmt.Errorf("%s: %w", n.name, err)
				case status == http.StatusUnauthorized:
				case status == http.StatusOK:
					return fmt.Errorf("%s still lets %s %d of %d through", n.name, what, i+1, len(toks))
				default:
					t.Fatalf("%s: /auth of %s %d: %d %s, want 401 (or 200 until the revocation arrives)", n.name, what, i+1, status, body)
				}
			}
		}
		return nil
	})
}

// post sends an admin POST of body (nil for none) to the full node and
// requires 200.
func (f *hydraFleet) post(t *testing.T, path string, body any) string {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, f.full.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := fleetClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %v: %d %s, want 200", path, body, resp.StatusCode, bytes.TrimSpace(b))
	}
	return string(b)
}

// claim is the numeric or string claim name of tok.
func claim[T any](t *testing.T, tok, name string) T {
	t.Helper()
	_, claims := hydratest.Decode(t, tok)
	v, ok := claims[name].(T)
	if !ok {
		t.Fatalf("claim %s of the token is %v (%T)", name, claims[name], claims[name])
	}
	return v
}

// after is one second past the latest iat of toks: a not-before that
// revokes them (a token issued in the second of a revocation is not
// before it).
func after(t *testing.T, toks ...string) int64 {
	t.Helper()
	var nb int64
	for _, tok := range toks {
		nb = max(nb, int64(claim[float64](t, tok, "iat"))+1)
	}
	return nb
}

// issuedFrom gets tokens with get until one is issued at or after nb (at
// most a second or two of Hydra's clock), and returns it.
func issuedFrom(t *testing.T, nb int64, get func() string) string {
	t.Helper()
	var tok string
	poll.ForTrue(t, 10*time.Second, 50*time.Millisecond, func() bool {
		tok = get()
		return int64(claim[float64](t, tok, "iat")) >= nb
	})
	return tok
}

func TestProcessHydraFleet(t *testing.T) {
	began := time.Now()
	f := startHydraFleet(t)
	h := f.hydra
	t.Logf("fleet of %d nodes and Hydra ready in %v", len(f.nodes), time.Since(began).Round(time.Millisecond))
	cc := h.CreateClient(t, "read write", "client_credentials")
	web := h.CreateClient(t, "openid read", "authorization_code")
	newCC := func(c hydratest.Client) func() string {
		return func() string { return h.ClientCredentials(t, c, "read").AccessToken }
	}

	t.Run("verify", func(t *testing.T) {
		tok := h.ClientCredentials(t, cc, "read write").AccessToken
		f.passes(t, "a client-credentials token", tok, map[string]string{"X-Blnode-User": cc.ID, "X-Blnode-Token-Type": "access",
			"X-Blnode-Jti": claim[string](t, tok, "jti"), "X-Blnode-Client-Id": cc.ID, "X-Blnode-Scope": "read write", "X-Blnode-Session": ""})
		ac := h.AuthorizationCode(t, web, "alice", "openid read")
		f.passes(t, "an authorization-code token", ac.AccessToken, map[string]string{"X-Blnode-User": "alice", "X-Blnode-Token-Type": "access",
			"X-Blnode-Client-Id": web.ID, "X-Blnode-Session": ac.SessionID, "X-Blnode-Scope": "openid read"})
	})

	// An ID token is no access token (OpenID Connect Core §2): Hydra signs
	// it with a key of the same JWKS, with typ JWT, a jti and the sid, but
	// it names the client in aud only, and has no client_id, which RFC
	// 9068 §2.2 requires of an access token.
	t.Run("ID token", func(t *testing.T) {
		ac := h.AuthorizationCode(t, web, "alice", "openid read")
		for _, n := range f.nodes {
			if status, _, body, err := authAt(n.proc.url, ac.IDToken); err != nil || status != http.StatusUnauthorized {
				t.Errorf("%s: /auth of an ID token (typ JWT, no client_id) with --untyped-tokens-are-access: %d %s %v, want 401", n.name, status, body, err)
			}
		}
	})

	// A resource server that names itself in --audience, as RFC 9068 §4
	// asks, refuses ID tokens by their aud whatever their typ, and Hydra's
	// access tokens for no audience (aud []).
	t.Run("audience", func(t *testing.T) {
		const api = "https://api.example.test"
		node := startServe(t, f.bin, append([]string{"--data", t.TempDir(), "--no-nats", "--audience", api}, hydraVerifyArgs(h)...)...)
		poll.For(t, 30*time.Second, pollEvery, func() error { return wantStatus(node.url+"/readyz", http.StatusOK) })
		ac := h.AuthorizationCode(t, h.CreateClientFor(t, []string{api}, "openid read", "authorization_code"), "dave", "openid read")
		for _, c := range []struct {
			what, tok string
			want      int
		}{
			{"an access token for the API", ac.AccessToken, http.StatusOK},
			{"its ID token", ac.IDToken, http.StatusUnauthorized},
			{"an access token for no audience", newCC(cc)(), http.StatusUnauthorized},
		} {
			if status, _, body, err := authAt(node.url, c.tok); err != nil || status != c.want {
				t.Errorf("/auth of %s with --audience %s: %d %s %v, want %d", c.what, api, status, body, err, c.want)
			}
		}
	})

	t.Run("revoke by jti", func(t *testing.T) {
		tok, own, other := newCC(cc)(), newCC(cc)(), newCC(cc)()
		f.passes(t, "the token", tok, nil)
		// An operator blacklists a jti (with the admin token) …
		f.post(t, "/v1/blacklist", map[string]any{"jti": claim[string](t, tok, "jti"), "exp": int64(claim[float64](t, tok, "exp")), "reason": "hydra e2e"})
		// … and a client its own token (logout), which blnode verifies.
		if status, body := postJSON(t, f.full.url+"/v1/blacklist", map[string]string{"token": own}); status != http.StatusOK {
			t.Fatalf("POST /v1/blacklist of a token: %d %s, want 200", status, body)
		}
		f.refused(t, "the blacklisted tokens", tok, own)
		f.passes(t, "another token of the client", other, nil)
	})

	t.Run("revoke by session", func(t *testing.T) {
		first := h.AuthorizationCode(t, web, "bob", "openid read")
		second := h.AuthorizationCode(t, web, "bob", "openid read")
		f.passes(t, "the first session's token", first.AccessToken, map[string]string{"X-Blnode-Session": first.SessionID})
		// With the CLI, as an operator would: blnode revoke-session SID.
		out, stderr, code := runBin(t, f.bin, "revoke-session", "--server", f.full.url, "--admin-token-file", f.adminFile,
			"--not-before", strconv.FormatInt(after(t, first.AccessToken), 10), first.SessionID)
		if code != 0 {
			t.Fatalf("blnode revoke-session %s: exit %d, stdout %q, stderr %s", first.SessionID, code, out, stderr)
		}
		f.refused(t, "the revoked session's token", first.AccessToken)
		f.passes(t, "another session's token", second.AccessToken, map[string]string{"X-Blnode-Session": second.SessionID})
	})

	t.Run("revoke by client", func(t *testing.T) {
		victim, bystander := h.CreateClient(t, "read", "client_credentials"), h.CreateClient(t, "read", "client_credentials")
		toks := []string{newCC(victim)(), newCC(victim)()}
		spared := newCC(bystander)()
		nb := after(t, toks...)
		f.post(t, "/v1/clients/"+url.PathEscape(victim.ID)+"/revoke", map[string]any{"not_before": nb})
		f.refused(t, "the revoked client's tokens", toks...)
		f.passes(t, "another client's token", spared, map[string]string{"X-Blnode-Client-Id": bystander.ID})
		f.passes(t, "the client's token issued after the revocation", issuedFrom(t, nb, newCC(victim)), nil)
	})

	// Before the forged tokens: their unknown kid makes each node fetch the
	// JWKS, and a second fetch for an unknown kid waits its
	// --jwks-miss-interval (10 s), which the new key's would fall in.
	t.Run("key rotation", func(t *testing.T) { hydraRotation(t, f, newCC(cc)) })

	t.Run("forged", func(t *testing.T) {
		tok := newCC(cc)()
		header, _ := hydratest.Decode(t, tok)
		for _, kid := range []string{header["kid"].(string), "never-published-" + claim[string](t, tok, "jti")} {
			forged, _ := hydratest.Forge(t, tok, kid)
			for _, n := range f.nodes {
				if status, _, body, err := authAt(n.proc.url, forged); err != nil || status != http.StatusUnauthorized {
					t.Errorf("%s: /auth of a token signed by a key Hydra never published, kid %s: %d %s %v, want 401", n.name, kid, status, body, err)
				}
			}
		}
		f.passes(t, "the genuine token", tok, nil)
	})

	t.Run("revoke issuer-wide", func(t *testing.T) {
		toks := []string{newCC(cc)(), h.AuthorizationCode(t, web, "carol", "openid read").AccessToken}
		nb := after(t, toks...)
		f.post(t, "/v1/issuer/revoke", map[string]any{"issuer": h.PublicURL, "not_before": nb})
		f.refused(t, "the issuer's tokens issued before the revocation", toks...)
		f.passes(t, "a token issued after the revocation", issuedFrom(t, nb, newCC(cc)), nil)
	})

	for _, n := range f.nodes {
		if n.proc.Exited() {
			t.Errorf("%s exited: %v", n.name, n.proc.Err())
		}
	}
	t.Logf("Hydra fleet test took %v", time.Since(began).Round(time.Millisecond))
}

// hydraRotation rotates Hydra's access-token key while a goroutine checks
// the tokens in use at every node, without pause: a new key first (Hydra
// signs new tokens with it at once, so a node meets its kid before its
// next scheduled fetch and fetches the JWKS again), the old key removed
// later (its tokens stop verifying after the next fetch). No check of a
// token in use may fail, and no node restarts.
func hydraRotation(t *testing.T, f *hydraFleet, mint func() string) {
	h := f.hydra
	oldTok := mint()
	header, _ := hydratest.Decode(t, oldTok)
	oldKid, _ := header["kid"].(string)
	var (
		inUse    atomic.Pointer[[]string] // the tokens that must pass
		rounds   atomic.Int64             // checks of every token in use at every node
		mu       sync.Mutex
		failures []string
		stop     = make(chan struct{})
		done     = make(chan struct{})
	)
	inUse.Store(&[]string{oldTok})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			toks := *inUse.Load()
			for i, tok := range toks {
				for _, n := range f.nodes {
					if status, _, body, err := authAt(n.proc.url, tok); err != nil || status != http.StatusOK {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s: token %d of %d in use: %d %s %v", n.name, i+1, len(toks), status, body, err))
						mu.Unlock()
					}
				}
			}
			rounds.Add(1)
		}
	}()
	stopChecker := sync.OnceFunc(func() {
		close(stop)
		<-done
	})
	defer stopChecker()
	// waitRounds lets the checker go through every token in use at every
	// node a few more times.
	waitRounds := func() {
		t.Helper()
		from := rounds.Load()
		poll.ForTrue(t, 20*time.Second, pollEvery, func() bool { return rounds.Load() >= from+3 })
	}
	waitRounds()

	newKid := h.AddAccessTokenKey(t)
	newTok := mint()
	if header, _ := hydratest.Decode(t, newTok); header["kid"] != newKid {
		t.Fatalf("Hydra signed a token after the new key with %v, want %s", header["kid"], newKid)
	}
	inUse.Store(&[]string{oldTok, newTok}) // both keys published: both tokens pass
	waitRounds()

	inUse.Store(&[]string{newTok})
	h.DeleteAccessTokenKey(t, oldKid)
	f.refused(t, "the token of the removed key", oldTok)
	waitRounds()
	f.passes(t, "a token after the rotation", mint(), nil)

	stopChecker()
	mu.Lock()
	defer mu.Unlock()
	if len(failures) > 0 {
		t.Errorf("%d checks of tokens in use failed during the rotation (of %d rounds), first: %s", len(failures), rounds.Load(), failures[0])
	}
	if n := rounds.Load(); n < 9 {
		t.Errorf("the checker went through only %d rounds", n)
	}
	for _, n := range f.nodes {
		if n.proc.Exited() {
			t.Errorf("%s exited during the rotation: %v", n.name, n.proc.Err())
		}
	}
}

// A node whose issuer is down when it starts fails closed and says why in
// /readyz; once the issuer is up it fetches the JWKS by itself (no
// restart) and lets the issuer's tokens through.
func TestProcessHydraIssuerDownAtStart(t *testing.T) {
	bin := buildBinary(t)
	hydratest.Binary(t) // built before the node starts: its JWKS retries wait for no build
	ports := natsproc.FreeLoopbackPorts(t, 2)
	public := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	node := startServe(t, bin, "--data", t.TempDir(), "--no-nats", "--jwks-url", public+"/.well-known/jwks.json", "--issuer", public,
		"--user-id-claim", "sub", "--untyped-tokens-are-access", "--jwks-refresh-min", "1s", "--jwks-refresh-max", "2s")
	// Until a fetch succeeds the node is not ready, and says why.
	poll.For(t, 20*time.Second, pollEvery, func() error {
		resp, err := fleetClient().Get(node.url + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(strings.ToLower(string(body)), "jwks") {
			return fmt.Errorf("/readyz with the issuer down: %d %s, want 503 naming the JWKS", resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil
	})
	h := hydratest.Start(t, hydratest.Config{PublicPort: ports[0], AdminPort: ports[1]})
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(node.url+"/readyz", http.StatusOK) })
	tok := h.ClientCredentials(t, h.CreateClient(t, "read", "client_credentials"), "read").AccessToken
	if status, _, body, err := authAt(node.url, tok); err != nil || status != http.StatusOK {
		t.Fatalf("/auth of a Hydra token once Hydra is up: %d %s %v, want 200", status, body, err)
	}
	if node.Exited() {
		t.Fatalf("the node exited: %v", node.Err())
	}
}
