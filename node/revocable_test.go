package node_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

// revocationRig is a full node in a fleet (so every write also encodes its
// event) served over HTTP, with the Go middleware on a second server. Every
// check path accepts refresh tokens, so one token can go through all of them.
type revocationRig struct {
	n    *node.Node
	base string // the node's HTTP surface
	mw   string // a handler behind n.Middleware
	now  time.Time
}

func newRevocationRig(t testing.TB) *revocationRig {
	t.Helper()
	cfg := fleetConfig(node.RoleFull, 1, eventstest.RunServer(t))
	cfg.AdminToken = "admin-secret"
	cfg.AuthTokenTypes = []string{"refresh"}
	n := startNode(t, cfg)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := node.ClaimsFromContext(r.Context())
		fmt.Fprint(w, jsonString(c.User))
	})
	return &revocationRig{n: n.Node, base: httptestServer(t, n.Handler()), mw: httptestServer(t, n.Middleware(ok)), now: time.Now()}
}

// mint signs a refresh token with the claims Simple JWT puts in one, and
// extra ones (name, value pairs) appended.
func (r *revocationRig) mint(jti string, user any, extra ...sjwt.Claim) string {
	return sjwt.Sign(secret, sjwt.Header, append([]sjwt.Claim{
		{Name: "token_type", Value: "refresh"},
		{Name: "exp", Value: r.now.Add(time.Hour).Unix()},
		{Name: "iat", Value: r.now.Add(-time.Minute).Unix()},
		{Name: "jti", Value: jti},
		{Name: "user_id", Value: user},
	}, extra...)...)
}

// What a check path answers, in one word.
const (
	accepted       = "accepted"
	refusedInvalid = "invalid" // as any invalid token: Token is invalid
	revoked        = "revoked" // blacklisted, or its user revoked
)

// checkPath asks one check path about tok.
type checkPath struct {
	name string
	ask  func(t *testing.T, r *revocationRig, tok string) string
}

// verdict maps an answer to accepted, refusedInvalid or revoked, or describes it.
func verdict(res response, ok bool, invalidIf, revokedIf string) string {
	switch {
	case ok:
		return accepted
	case strings.Contains(res.body, invalidIf):
		return refusedInvalid
	case strings.Contains(res.body, revokedIf):
		return revoked
	}
	return fmt.Sprintf("%d %s", res.status, res.body)
}

// checkPaths are the ways a token is checked.
func checkPaths() []checkPath {
	return []checkPath{
		{"simplejwt verify", func(t *testing.T, r *revocationRig, tok string) string {
			res := postJSON(t, r.base+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`)
			return verdict(res, res.status == 200, `"Token is invalid"`, `"Token is blacklisted"`)
		}},
		{"v1 check", func(t *testing.T, r *revocationRig, tok string) string {
			res := postJSON(t, r.base+"/v1/check", `{"token":`+jsonString(tok)+`}`)
			return verdict(res, res.status == 200 && strings.Contains(res.body, `"valid":true`), `"code":"token_not_valid","detail":"Token is invalid"`, `"blacklisted":true`)
		}},
		{"oauth introspect", func(t *testing.T, r *revocationRig, tok string) string {
			res := do(t, http.MethodPost, r.base+"/oauth/introspect", formType, tokenForm(tok), "Authorization", "Bearer admin-secret")
			if res.status == 200 && res.body == `{"active":false}` {
				return "inactive" // RFC 7662 tells no more
			}
			return verdict(res, res.status == 200 && strings.Contains(res.body, `"active":true`), "-", "-")
		}},
		{"forward auth", func(t *testing.T, r *revocationRig, tok string) string {
			res := do(t, http.MethodGet, r.base+"/auth", "", "", "Authorization", "Bearer "+tok)
			return verdict(res, res.status == 200, `"code":"token_not_valid","detail":"Token is invalid"`, `"code":"token_blacklisted"`)
		}},
		{"middleware", func(t *testing.T, r *revocationRig, tok string) string {
			res := do(t, http.MethodGet, r.mw, "", "", "Authorization", "Bearer "+tok)
			return verdict(res, res.status == 200, `"code":"token_not_valid","detail":"Token is invalid"`, `"code":"token_blacklisted"`)
		}},
		{"embedded Verify", func(t *testing.T, r *revocationRig, tok string) string {
			_, err := r.n.Verify(tok, "")
			switch {
			case err == nil:
				return accepted
			case errors.Is(err, token.ErrInvalid):
				return refusedInvalid
			case errors.Is(err, node.ErrBlacklisted), errors.Is(err, node.ErrUserRevoked):
				return revoked
			}
			return err.Error()
		}},
	}
}

// want is what a check path should answer for a token in state s: the
// introspection answers every refusal with {"active":false}.
func want(path, s string) string {
	if path == "oauth introspect" && s != accepted {
		return "inactive"
	}
	return s
}

// revokePath writes tok through one write path.
type revokePath struct {
	name string
	// revoke sends tok and returns the answer; ok says whether it is the
	// answer of a done write, refused whether it is that of an invalid
	// token.
	revoke func(t *testing.T, r *revocationRig, tok string) (res response, ok, refused bool)
	// registers: the write registers the token (outstanding) and leaves
	// it valid, rather than revoking it.
	registers bool
}

// revokePaths are the ways a token is written.
func revokePaths() []revokePath {
	return []revokePath{
		{"simplejwt blacklist", func(t *testing.T, r *revocationRig, tok string) (response, bool, bool) {
			res := postJSON(t, r.base+"/api/token/blacklist/", `{"refresh":`+jsonString(tok)+`}`)
			return res, res.status == 200 && res.body == `{}`, res.status == 401 && strings.Contains(res.body, `"Token is invalid"`)
		}, false},
		{"simplejwt refresh (rotation)", func(t *testing.T, r *revocationRig, tok string) (response, bool, bool) {
			res := postJSON(t, r.base+"/api/token/refresh/", `{"refresh":`+jsonString(tok)+`}`)
			return res, res.status == 200 && strings.Contains(res.body, `"refresh":`), res.status == 401 && strings.Contains(res.body, `"Token is invalid"`)
		}, false},
		{"v1 blacklist", func(t *testing.T, r *revocationRig, tok string) (response, bool, bool) {
			res := postJSON(t, r.base+"/v1/blacklist", `{"token":`+jsonString(tok)+`}`)
			return res, res.status == 200 && strings.Contains(res.body, `"already_blacklisted":false`), res.status == 401 && strings.Contains(res.body, `"token_not_valid"`)
		}, false},
		{"oauth revoke", func(t *testing.T, r *revocationRig, tok string) (response, bool, bool) {
			res := do(t, http.MethodPost, r.base+"/oauth/revoke", formType, tokenForm(tok))
			// RFC 7009: 200 both ways; the checks tell which it was.
			return res, res.status == 200, res.status == 200
		}, false},
		{"v1 outstanding", func(t *testing.T, r *revocationRig, tok string) (response, bool, bool) {
			res := postJSON(t, r.base+"/v1/outstanding", `{"token":`+jsonString(tok)+`}`)
			return res, res.status == 200 && strings.Contains(res.body, `"already_registered":false`), res.status == 401 && strings.Contains(res.body, `"token_not_valid"`)
		}, true},
	}
}

// TestEveryPathRefusesATokenThatCannotBeRevoked is issue 17: a token whose
// claims the store or the event stream cannot hold (a jti over 255 bytes,
// a user id over 255 bytes or with a NUL, a family over 255 bytes) was
// accepted by every check yet could never be revoked. Now every check path
// refuses it as it refuses any invalid token, and every write path refuses
// to take it; a token at the limits is accepted and revocable through every
// write path, after which every check path refuses it.
func TestEveryPathRefusesATokenThatCannotBeRevoked(t *testing.T) {
	r := newRevocationRig(t)
	if token.MaxJTILen != persist.MaxJTILen {
		t.Fatalf("token.MaxJTILen %d, persist.MaxJTILen %d: a token could verify and not be storable", token.MaxJTILen, persist.MaxJTILen)
	}
	// id returns a unique jti of n bytes.
	seq := 0
	id := func(n int) string {
		seq++
		s := fmt.Sprintf("%03d-", seq)
		return s + strings.Repeat("j", n-len(s))
	}
	variants := []struct {
		name      string
		mint      func() string
		revocable bool
	}{
		{"jti of 255 bytes", func() string { return r.mint(id(255), 42) }, true},
		{"jti of 256 bytes", func() string { return r.mint(id(256), 42) }, false},
		{"jti of 128 two-byte runes (256 bytes)", func() string { return r.mint(id(4)+strings.Repeat("é", 126), 42) }, false},
		{"user id of 255 bytes", func() string { return r.mint(id(32), strings.Repeat("u", 255)) }, true},
		{"user id of 256 bytes", func() string { return r.mint(id(32), strings.Repeat("u", 256)) }, false},
		{"user id with NUL", func() string { return r.mint(id(32), "4\x002") }, false},
		{"family of 255 bytes", func() string { return r.mint(id(32), 42, sjwt.Claim{Name: "fam", Value: strings.Repeat("f", 255)}) }, true},
		{"family of 256 bytes", func() string { return r.mint(id(32), 42, sjwt.Claim{Name: "fam", Value: strings.Repeat("f", 256)}) }, false},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for _, rp := range revokePaths() {
				t.Run(rp.name, func(t *testing.T) {
					tok := v.mint()
					before := accepted
					if !v.revocable {
						before = refusedInvalid
					}
					for _, cp := range checkPaths() {
						if got := cp.ask(t, r, tok); got != want(cp.name, before) {
							t.Errorf("before: %s answers %s, want %s", cp.name, got, want(cp.name, before))
						}
					}
					res, ok, refused := rp.revoke(t, r, tok)
					if !v.revocable {
						if !refused {
							t.Fatalf("%s answers %d %s, want the answer to an invalid token", rp.name, res.status, res.body)
						}
						if rec, err := r.n.Store().Lookup(tokenJTI(t, tok)); err == nil {
							t.Errorf("%s stored %+v", rp.name, rec)
						}
						return
					}
					if !ok {
						t.Fatalf("%s answers %d %s, want it done", rp.name, res.status, res.body)
					}
					after := revoked
					if rp.registers {
						after = accepted
					}
					for _, cp := range checkPaths() {
						if got := cp.ask(t, r, tok); got != want(cp.name, after) {
							t.Errorf("after %s: %s answers %s, want %s", rp.name, cp.name, got, want(cp.name, after))
						}
					}
				})
			}
		})
	}
}

// tokenJTI reads the jti of tok without verifying it.
func tokenJTI(t testing.TB, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(mustDecode(parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	return claims.JTI
}

// TestUserIDIsOneValueOnEveryPath is issue 17: /auth answered a token
// whose user id is " 42 " with X-Blnode-User: 42 (HTTP drops the spaces),
// while revocation knew the token by " 42 ", so the upstream saw a user
// that revoking could not reach. A user id (or jti, or type) that a header
// cannot carry unchanged is now refused on every path, as any invalid
// token; every other one is the same value on every path — /auth's header
// byte for byte, /v1/check, introspection, the middleware — and revoking
// that user rejects the token everywhere.
func TestUserIDIsOneValueOnEveryPath(t *testing.T) {
	r := newRevocationRig(t)
	seq := 0
	jti := func() string { seq++; return fmt.Sprintf("user-%03d", seq) }

	t.Run("refused", func(t *testing.T) {
		for _, user := range []string{" 42 ", "42 ", " 42", "\t42", "4\n2", "4\r\nX-Admin: yes", "4\x7f2", "4\x012"} {
			t.Run(fmt.Sprintf("%q", user), func(t *testing.T) {
				tok := r.mint(jti(), user)
				for _, cp := range checkPaths() {
					if got := cp.ask(t, r, tok); got != want(cp.name, refusedInvalid) {
						t.Errorf("%s answers %s, want %s", cp.name, got, want(cp.name, refusedInvalid))
					}
				}
				// Revoking that user changes nothing: the token is refused
				// on every path already, as it was.
				if res := postJSON(t, r.base+"/v1/users/"+url.PathEscape(user)+"/revoke", ``, "Authorization", "Bearer admin-secret"); res.status != 200 {
					t.Fatalf("revoke user %q: %d %s", user, res.status, res.body)
				}
				for _, cp := range checkPaths() {
					if got := cp.ask(t, r, tok); got != want(cp.name, refusedInvalid) {
						t.Errorf("after revoking the user: %s answers %s, want %s", cp.name, got, want(cp.name, refusedInvalid))
					}
				}
			})
		}
	})

	t.Run("exact", func(t *testing.T) {
		for _, user := range []string{"42", "4 2", "José Ñ 42", "42\u00a0", `a"b\c`, "x;y=z, w"} {
			t.Run(fmt.Sprintf("%q", user), func(t *testing.T) {
				tok := r.mint(jti(), user)
				for _, cp := range checkPaths() {
					if got := cp.ask(t, r, tok); got != want(cp.name, accepted) {
						t.Errorf("%s answers %s, want %s", cp.name, got, accepted)
					}
				}
				// The same value on every path that shows it.
				res := do(t, http.MethodGet, r.base+"/auth", "", "", "Authorization", "Bearer "+tok)
				if got := res.header.Values(node.HeaderUser); len(got) != 1 || got[0] != user {
					t.Errorf("/auth %s: %q, want %q", node.HeaderUser, got, user)
				}
				if got := res.json(t)["user"]; got != user {
					t.Errorf("/auth body user %q, want %q", got, user)
				}
				if got := postJSON(t, r.base+"/v1/check", `{"token":`+jsonString(tok)+`}`).json(t)["user"]; got != user {
					t.Errorf("/v1/check user %q, want %q", got, user)
				}
				intro := do(t, http.MethodPost, r.base+"/oauth/introspect", formType, tokenForm(tok), "Authorization", "Bearer admin-secret").json(t)
				if intro["sub"] != user || intro["user_id"] != user {
					t.Errorf("introspection sub %q user_id %q, want %q", intro["sub"], intro["user_id"], user)
				}
				if got := do(t, http.MethodGet, r.mw, "", "", "Authorization", "Bearer "+tok).body; got != jsonString(user) {
					t.Errorf("middleware claims user %q, want %q", got, user)
				}
				// Revoking the user by that value rejects the token on every path.
				if res := postJSON(t, r.base+"/v1/users/"+url.PathEscape(user)+"/revoke", ``, "Authorization", "Bearer admin-secret"); res.status != 200 {
					t.Fatalf("revoke user %q: %d %s", user, res.status, res.body)
				}
				for _, cp := range checkPaths() {
					if got := cp.ask(t, r, tok); got != want(cp.name, revoked) {
						t.Errorf("after revoking the user: %s answers %s, want %s", cp.name, got, want(cp.name, revoked))
					}
				}
			})
		}
	})
}
