package node_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// accessToken mints an RFC 9068 access token (header typ, no token_type)
// issued at iat, valid for an hour, with the claims given ("-" as typ
// leaves the header's typ out).
func accessToken(t testing.TB, typ string, iat time.Time, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix(), "sub": "user-1"}
	if _, ok := claims["jti"]; !ok {
		c["jti"] = sjwt.JTI()
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	if typ == "-" {
		delete(tok.Header, "typ")
	} else {
		tok.Header["typ"] = typ
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Revocations by session, client and issuer turn away the tokens they
// cover, issued before their not-before, and no other; a user, a session,
// a client and an issuer with the same id never stand for each other.
func TestRevokeByCheck(t *testing.T) {
	clk := newClock(time.Now().Truncate(time.Second))
	n, _ := newNode(t, func(c *node.Config) { c.Now = clk.Now })
	const id = "same-id"
	issued := clk.Now().Add(-time.Minute)
	tok := func(claims jwt.MapClaims) string { return accessToken(t, "at+jwt", issued, claims) }
	bySession := tok(jwt.MapClaims{"sid": id})
	byClient := tok(jwt.MapClaims{"client_id": id})
	byAzp := tok(jwt.MapClaims{"azp": id})
	byIssuer := tok(jwt.MapClaims{"iss": id})
	byUser, _ := sjwt.Token{Type: "access", User: id, Now: issued, TTL: time.Hour}.Mint(secret)
	noIss := tok(jwt.MapClaims{})
	all := []string{bySession, byClient, byAzp, byIssuer, byUser, noIss}
	for i, raw := range all {
		if _, err := n.Verify(raw, "access"); err != nil {
			t.Fatalf("token %d before any revocation: %v", i, err)
		}
	}
	expect := func(step string, revoked ...string) {
		t.Helper()
		for i, raw := range all {
			_, err := n.Verify(raw, "access")
			want := false
			for _, r := range revoked {
				want = want || r == raw
			}
			if want != errors.Is(err, node.ErrUserRevoked) || (!want && err != nil) {
				t.Errorf("%s: token %d: %v, want revoked %v", step, i, err, want)
			}
		}
	}
	ctx := t.Context()
	if _, err := n.RevokeUser(ctx, id, time.Time{}); err != nil {
		t.Fatal(err)
	}
	expect("user", byUser)
	if _, err := n.RevokeSession(ctx, id, time.Time{}); err != nil {
		t.Fatal(err)
	}
	expect("session", byUser, bySession)
	if _, err := n.RevokeClient(ctx, id, time.Time{}); err != nil {
		t.Fatal(err)
	}
	expect("client", byUser, bySession, byClient, byAzp)
	if _, err := n.RevokeIssuer(ctx, id, time.Time{}); err != nil {
		t.Fatal(err)
	}
	expect("issuer", byUser, bySession, byClient, byAzp, byIssuer)

	// Tokens issued after the revocations pass.
	clk.Add(2 * time.Second)
	later := clk.Now()
	for _, claims := range []jwt.MapClaims{{"sid": id}, {"client_id": id}, {"iss": id}} {
		if _, err := n.Verify(accessToken(t, "at+jwt", later, claims), "access"); err != nil {
			t.Errorf("token %v issued after the revocation: %v", claims, err)
		}
	}

	// Every issuer: tokens without iss too, and not those issued after.
	if _, err := n.RevokeIssuer(ctx, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	expect("every issuer", all...)
	clk.Add(2 * time.Second)
	if _, err := n.Verify(accessToken(t, "at+jwt", clk.Now(), jwt.MapClaims{"iss": "other"}), "access"); err != nil {
		t.Errorf("token issued after every issuer was revoked: %v", err)
	}

	// A second revocation with an earlier not-before changes nothing.
	res, err := n.RevokeSession(ctx, id, issued)
	if err != nil || !res.Existed {
		t.Errorf("earlier session revocation: %+v, %v; want Existed", res, err)
	}
	for name, f := range map[string]func() error{
		"empty session": func() error { _, err := n.RevokeSession(ctx, "", time.Time{}); return err },
		"empty client":  func() error { _, err := n.RevokeClient(ctx, "", time.Time{}); return err },
		"long session":  func() error { _, err := n.RevokeSession(ctx, strings.Repeat("s", 256), time.Time{}); return err },
		"future":        func() error { _, err := n.RevokeClient(ctx, "c", clk.Now().Add(time.Hour)); return err },
	} {
		if err := f(); !errors.Is(err, node.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
}

// Each new revocation kind made on one node turns the token away on the
// other, a validator, through the event stream; and a validator that joins
// later from the stream knows them too.
func TestRevokeByAcrossFleet(t *testing.T) {
	s := eventstest.RunServer(t)
	clk := newClock(time.Now().Truncate(time.Second))
	cfg := func(role node.Role) node.Config {
		c := fleetConfig(role, 1, s)
		c.Now, c.AdminToken = clk.Now, "admin-secret"
		return c
	}
	full := startNode(t, cfg(node.RoleFull))
	validator := startNode(t, cfg(node.RoleValidator))
	issued := clk.Now().Add(-time.Minute)
	toks := map[string]string{
		"session": accessToken(t, "at+jwt", issued, jwt.MapClaims{"sid": "s-1", "iss": "https://a/"}),
		"client":  accessToken(t, "at+jwt", issued, jwt.MapClaims{"client_id": "c-1", "iss": "https://a/"}),
		"issuer":  accessToken(t, "at+jwt", issued, jwt.MapClaims{"iss": "https://b/"}),
		"every":   accessToken(t, "at+jwt", issued, jwt.MapClaims{"iss": "https://c/"}),
	}
	for name, raw := range toks {
		if _, err := validator.Verify(raw, "access"); err != nil {
			t.Fatalf("%s before: %v", name, err)
		}
	}
	srv := newServer(t, full)
	for _, step := range []struct{ name, path, body string }{
		{"session", "/v1/sessions/s-1/revoke", ``},
		{"client", "/v1/clients/c-1/revoke", ``},
		{"issuer", "/v1/issuer/revoke", `{"issuer":"https://b/"}`},
		{"every", "/v1/issuer/revoke", `{"issuer":""}`},
	} {
		if got := postJSON(t, srv+step.path, step.body, "Authorization", admin); got.status != 200 || !strings.Contains(got.body, `"already_revoked":false`) {
			t.Fatalf("%s: %d %s", step.name, got.status, got.body)
		}
		for i, n := range []*running{full, validator} {
			poll.For(t, waitLong, pollEvery, func() error {
				if _, err := n.Verify(toks[step.name], "access"); !errors.Is(err, node.ErrUserRevoked) {
					return fmt.Errorf("node %d, %s: %v, want revoked", i, step.name, err)
				}
				return nil
			})
		}
	}
	late := startNode(t, cfg(node.RoleValidator))
	for name, raw := range toks {
		poll.For(t, waitLong, pollEvery, func() error {
			if _, err := late.Verify(raw, "access"); !errors.Is(err, node.ErrUserRevoked) {
				return fmt.Errorf("late validator, %s: %v, want revoked", name, err)
			}
			return nil
		})
	}
}

func TestRevokeByRoutes(t *testing.T) {
	_, srv := newNode(t, nil)
	for _, tc := range []struct {
		name, path, body string
		hdr              []string
		status           int
		code             string
	}{
		{"session", "/v1/sessions/s-1/revoke", ``, []string{"Authorization", admin}, 200, ""},
		{"session again", "/v1/sessions/s-1/revoke", ``, []string{"Authorization", admin}, 200, ""},
		{"session with not_before", "/v1/sessions/s-2/revoke", `{"not_before":1700000000}`, []string{"Authorization", admin}, 200, ""},
		{"client", "/v1/clients/c%2F1/revoke", `{}`, []string{"Authorization", admin}, 200, ""},
		{"issuer", "/v1/issuer/revoke", `{"issuer":"https://i/","not_before":1700000000}`, []string{"Authorization", admin}, 200, ""},
		{"every issuer", "/v1/issuer/revoke", `{"issuer":""}`, []string{"Authorization", admin}, 200, ""},
		{"no admin", "/v1/clients/c/revoke", ``, nil, 401, ""},
		{"wrong admin", "/v1/sessions/s/revoke", ``, []string{"Authorization", "Bearer nope"}, 401, ""},
		{"issuer without body", "/v1/issuer/revoke", ``, []string{"Authorization", admin}, 400, "invalid"},
		{"issuer null", "/v1/issuer/revoke", `{"issuer":null}`, []string{"Authorization", admin}, 400, "invalid"},
		{"issuer on a session", "/v1/sessions/s/revoke", `{"issuer":"x"}`, []string{"Authorization", admin}, 400, "invalid"},
		{"negative not_before", "/v1/sessions/s/revoke", `{"not_before":-1}`, []string{"Authorization", admin}, 400, "invalid"},
		{"not_before too far", "/v1/clients/c/revoke", `{"not_before":99999999999999}`, []string{"Authorization", admin}, 400, "invalid"},
		{"future not_before", "/v1/clients/c/revoke", fmt.Sprintf(`{"not_before":%d}`, time.Now().Add(time.Hour).Unix()), []string{"Authorization", admin}, 400, "invalid"},
		{"unknown field", "/v1/clients/c/revoke", `{"user":"x"}`, []string{"Authorization", admin}, 400, ""},
		{"bad JSON", "/v1/clients/c/revoke", `{`, []string{"Authorization", admin}, 400, ""},
		{"session too long", "/v1/sessions/" + strings.Repeat("s", 256) + "/revoke", ``, []string{"Authorization", admin}, 400, "invalid"},
		{"issuer too long", "/v1/issuer/revoke", `{"issuer":"` + strings.Repeat("i", 1025) + `"}`, []string{"Authorization", admin}, 400, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := postJSON(t, srv.URL+tc.path, tc.body, tc.hdr...)
			if got.status != tc.status {
				t.Fatalf("%d %s, want %d", got.status, got.body, tc.status)
			}
			m := got.json(t)
			if tc.code != "" && m["code"] != tc.code {
				t.Errorf("body %s, want code %q", got.body, tc.code)
			}
			if tc.status == 200 && m["not_before"] == nil {
				t.Errorf("body %s has no not_before", got.body)
			}
		})
	}
	if got := do(t, http.MethodGet, srv.URL+"/v1/issuer/revoke", "", ""); got.status != 405 {
		t.Errorf("GET: %d, want 405", got.status)
	}
}

// A validator refuses the revocations with 403.
func TestRevokeByRoutesOnValidator(t *testing.T) {
	s := eventstest.RunServer(t)
	c := fleetConfig(node.RoleValidator, 1, s)
	c.AdminToken = "admin-secret"
	v := startNode(t, c)
	srv := newServer(t, v)
	for _, path := range []string{"/v1/sessions/s/revoke", "/v1/clients/c/revoke", "/v1/issuer/revoke"} {
		if got := postJSON(t, srv+path, `{"issuer":""}`, "Authorization", admin); got.status != 403 {
			t.Errorf("%s: %d %s, want 403", path, got.status, got.body)
		}
	}
}

// RFC 9068 access tokens pass /auth and the middleware, and answer their
// client, session and scope; what a token without a type claim is depends
// on its typ header and --untyped-tokens-are-access.
func TestAccessTokensAtAuth(t *testing.T) {
	now := time.Now()
	at := accessToken(t, "at+jwt", now, jwt.MapClaims{"client_id": "app", "sid": "sess-1", "scope": "read write", "iss": "https://i/"})
	for _, tc := range []struct {
		name     string
		untyped  bool
		tok      string
		status   int
		hdr, val string
	}{
		{"at+jwt", false, at, 200, node.HeaderClientID, "app"},
		{"at+jwt session", false, at, 200, node.HeaderSession, "sess-1"},
		{"at+jwt scope", false, at, 200, node.HeaderScope, "read write"},
		{"at+jwt type", false, at, 200, node.HeaderTokenType, "access"},
		{"application/at+jwt, azp, scp", false, accessToken(t, "application/AT+JWT", now, jwt.MapClaims{"azp": "web", "scp": []string{"a", "b"}}), 200, node.HeaderScope, "a b"},
		{"azp", false, accessToken(t, "at+jwt", now, jwt.MapClaims{"azp": "web"}), 200, node.HeaderClientID, "web"},
		{"at+jwt with token_type refresh", false, accessToken(t, "at+jwt", now, jwt.MapClaims{"token_type": "refresh"}), 401, "", ""},
		{"typ JWT, Simple JWT rules", false, accessToken(t, "JWT", now, jwt.MapClaims{"client_id": "app"}), 401, "", ""},
		{"no typ, Simple JWT rules", false, accessToken(t, "-", now, nil), 401, "", ""},
		{"typ JWT, untyped are access", true, accessToken(t, "JWT", now, jwt.MapClaims{"client_id": "app"}), 200, node.HeaderClientID, "app"},
		{"no typ, untyped are access", true, accessToken(t, "-", now, jwt.MapClaims{"client_id": "app"}), 200, node.HeaderTokenType, "access"},
		{"no client_id, untyped are access (an ID token)", true, accessToken(t, "JWT", now, nil), 401, "", ""},
		{"azp alone, untyped are access", true, accessToken(t, "JWT", now, jwt.MapClaims{"azp": "app"}), 401, "", ""},
		{"ID token (no client_id nor azp), untyped are access", true, accessToken(t, "JWT", now, jwt.MapClaims{"aud": "app", "nonce": "n"}), 401, "", ""},
		{"other typ, untyped are access", true, accessToken(t, "dpop+jwt", now, nil), 401, "", ""},
		{"scope with a control character", false, accessToken(t, "at+jwt", now, jwt.MapClaims{"scope": "a\nb"}), 200, node.HeaderScope, ""},
		{"client_id with a control character", false, accessToken(t, "at+jwt", now, jwt.MapClaims{"client_id": "a\x01b"}), 401, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, srv := newNode(t, func(c *node.Config) { c.Token.UntypedTokensAreAccess = tc.untyped })
			got := do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+tc.tok)
			if got.status != tc.status {
				t.Fatalf("/auth: %d %s, want %d", got.status, got.body, tc.status)
			}
			if tc.hdr != "" && got.header.Get(tc.hdr) != tc.val {
				t.Errorf("/auth %s = %q, want %q", tc.hdr, got.header.Get(tc.hdr), tc.val)
			}
			// The middleware applies the same rules.
			var seen token.Claims
			h := n.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, _ = node.ClaimsFromContext(r.Context())
			}))
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tc.tok)
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("middleware: %d, want %d", rec.Code, tc.status)
			}
			if tc.status == 200 && seen.Type != "access" {
				t.Errorf("middleware claims type %q, want access", seen.Type)
			}
		})
	}
}

// With --revocation-id sha256 a token without jti is known by the SHA-256
// of its text: it passes, and once blacklisted it is turned away.
func TestRevocationIDSHA256(t *testing.T) {
	tok := accessToken(t, "at+jwt", time.Now(), jwt.MapClaims{"jti": nil, "client_id": "app"})
	_, plain := newNode(t, nil)
	if got := do(t, http.MethodGet, plain.URL+"/auth", "", "", "Authorization", "Bearer "+tok); got.status != 401 {
		t.Fatalf("a token without jti under the default: %d %s, want 401", got.status, got.body)
	}
	n, srv := newNode(t, func(c *node.Config) { c.Token.RevocationID = "sha256" })
	sum := sha256.Sum256([]byte(tok))
	want := hex.EncodeToString(sum[:])
	got := do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+tok)
	if got.status != 200 || got.header.Get(node.HeaderJTI) != want {
		t.Fatalf("/auth: %d %s, jti %q; want 200 with jti %s", got.status, got.body, got.header.Get(node.HeaderJTI), want)
	}
	if got := postJSON(t, srv.URL+"/v1/blacklist", `{"token":`+jsonString(tok)+`}`); got.status != 200 {
		t.Fatalf("blacklist: %d %s", got.status, got.body)
	}
	if _, err := n.Verify(tok, ""); !errors.Is(err, node.ErrBlacklisted) {
		t.Fatalf("after blacklisting: %v, want ErrBlacklisted", err)
	}
	if got := do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+tok); got.status != 401 {
		t.Fatalf("/auth after blacklisting: %d", got.status)
	}
}

// A validator that joins from a snapshot holding session, client and
// issuer revocations (a version 2 snapshot) turns their tokens away, and
// applies only the tail after the snapshot.
func TestValidatorJoinsFromSnapshotWithRevokeBy(t *testing.T) {
	f := newSnapshotFleet(t)
	nb := time.Now().Add(-time.Minute).Unix()
	var revs []events.Event
	for _, e := range []events.Event{
		{Kind: events.KindRevokeSession, Session: "s-1"},
		{Kind: events.KindRevokeClient, Client: "c-1"},
		{Kind: events.KindRevokeIssuer, Issuer: "https://i/"},
	} {
		e.ID, e.Origin, e.Time, e.NotBefore = events.NewID(), "writer", time.Now(), nb
		if _, err := f.w.pub.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		revs = append(revs, e)
	}
	f.base = uint64(len(revs))
	f.publish(t, "snap", 10)
	h, err := f.full.WriteSnapshot(t.Context())
	if err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	if h.Revocations != 3 {
		t.Fatalf("snapshot with %d revocations, want 3", h.Revocations)
	}
	f.publish(t, "tail", 5)
	v := f.join(t)
	if st := v.FleetStatus(); st.Applied != 5 {
		t.Errorf("the validator applied %d events, want the tail's 5", st.Applied)
	}
	issued := time.Unix(nb, 0).Add(-time.Minute)
	for _, claims := range []jwt.MapClaims{{"sid": "s-1"}, {"client_id": "c-1"}, {"iss": "https://i/"}} {
		if _, err := v.Verify(accessToken(t, "at+jwt", issued, claims), "access"); !errors.Is(err, node.ErrUserRevoked) {
			t.Errorf("token %v on the validator joined from the snapshot: %v, want revoked", claims, err)
		}
	}
	if _, err := v.Verify(accessToken(t, "at+jwt", issued, jwt.MapClaims{"sid": "s-2"}), "access"); err != nil {
		t.Errorf("token of another session: %v", err)
	}
}

// /v1/check answers an access token's client, session, scope and issuer,
// and a session revocation as a revocation.
func TestCheckAccessTokenClaims(t *testing.T) {
	n, srv := newNode(t, nil)
	tok := accessToken(t, "at+jwt", time.Now().Add(-time.Minute), jwt.MapClaims{"azp": "web", "sid": "s-9", "scp": []string{"a", "b"}, "iss": "https://i/"})
	m := postJSON(t, srv.URL+"/v1/check", `{"token":`+jsonString(tok)+`}`).json(t)
	for k, want := range map[string]any{"valid": true, "token_type": "access", "client_id": "web", "sid": "s-9", "scope": "a b", "iss": "https://i/"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v (body %v)", k, m[k], want, m)
		}
	}
	if _, err := n.RevokeSession(t.Context(), "s-9", time.Time{}); err != nil {
		t.Fatal(err)
	}
	m = postJSON(t, srv.URL+"/v1/check", `{"token":`+jsonString(tok)+`}`).json(t)
	if m["valid"] != false || m["blacklisted"] != true {
		t.Errorf("after revoking the session: %v", m)
	}
}

// A registered access token's client, session and scope are kept in its
// record, reach the other node through the stream, and are shown by the
// API and the admin.
func TestAccessTokenRecordAcrossFleet(t *testing.T) {
	s := eventstest.RunServer(t)
	cfg := func(role node.Role) node.Config {
		c := fleetConfig(role, 1, s)
		c.AdminToken = "admin-secret"
		return c
	}
	full := startNode(t, cfg(node.RoleFull))
	mirror := cfg(node.RoleValidator)
	mirror.ValidatorMirror = node.MirrorFull
	other := startNode(t, mirror)
	tok := accessToken(t, "at+jwt", time.Now(), jwt.MapClaims{"jti": "at-rec-1", "client_id": "app", "sid": "s-1", "scope": "read write"})
	srv := newServer(t, full)
	if got := postJSON(t, srv+"/v1/outstanding", `{"token":`+jsonString(tok)+`}`); got.status != 200 {
		t.Fatalf("outstanding: %d %s", got.status, got.body)
	}
	for i, n := range []*running{full, other} {
		poll.For(t, waitLong, pollEvery, func() error {
			r, err := n.Store().Lookup("at-rec-1")
			if err != nil || r.ClientID != "app" || r.SessionID != "s-1" || r.Scope != "read write" {
				return fmt.Errorf("node %d: %+v, %v", i, r, err)
			}
			return nil
		})
	}
	m := do(t, http.MethodGet, srv+"/v1/blacklist/at-rec-1", "", "", "Authorization", admin).json(t)
	rec, _ := m["record"].(map[string]any)
	if rec["client_id"] != "app" || rec["sid"] != "s-1" || rec["scope"] != "read write" {
		t.Errorf("GET /v1/blacklist/at-rec-1: %v", m)
	}
	a := adminSignIn(t, srv)
	wantHTML(t, a.get("/admin/tokens/at-rec-1"), http.StatusOK, `id="token-client"><code>app<`, `id="token-session"><code>s-1<`, `id="token-scope">read write<`)
}

// Introspection (RFC 7662) takes an RFC 9068 token as an access token, and
// answers it inactive once its session is revoked.
func TestIntrospectAccessToken(t *testing.T) {
	n, srv := newNode(t, nil)
	tok := accessToken(t, "at+jwt", time.Now().Add(-time.Minute), jwt.MapClaims{"client_id": "app", "sid": "s-1"})
	m := do(t, http.MethodPost, srv.URL+"/oauth/introspect", formType, tokenForm(tok), "Authorization", admin).json(t)
	if m["active"] != true || m["token_type"] != "access" {
		t.Fatalf("introspect: %v, want active access token", m)
	}
	if _, err := n.RevokeSession(t.Context(), "s-1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	m = do(t, http.MethodPost, srv.URL+"/oauth/introspect", formType, tokenForm(tok), "Authorization", admin).json(t)
	if m["active"] != false {
		t.Fatalf("introspect after revoking the session: %v, want inactive", m)
	}
}

// A node meets an event of a kind it does not know, as a node of an
// earlier build meets revoke_session, revoke_client and revoke_issuer: a
// full node (which follows every kind) and a validator keeping every event
// skip it and apply what follows, ready, without stalling; a validator
// that keeps revocations only is never sent it.
func TestNodesSkipUnknownEventKinds(t *testing.T) {
	s := eventstest.RunServer(t)
	w := newStreamWriter(t, s)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	mirror := fleetConfig(node.RoleValidator, 1, s)
	mirror.ValidatorMirror = node.MirrorFull
	nodes := []*running{full, startNode(t, mirror), startNode(t, fleetConfig(node.RoleValidator, 1, s))}

	future := fmt.Sprintf(`{"v":1,"id":%q,"kind":"revoke_tenant","origin":"newer","time":"2026-12-07T00:00:00Z","tenant":"t","not_before":%d}`,
		events.NewID(), time.Now().Unix())
	if _, err := w.js.Publish(t.Context(), "blnode.ev.local.revoke_tenant", []byte(future)); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	seq, err := w.pub.Publish(t.Context(), events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "writer", Time: time.Now(),
		Token: &events.Token{JTI: "after-unknown", ExpiresAt: exp}})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		poll.For(t, waitLong, pollEvery, func() error {
			st := n.FleetStatus()
			if b, _ := n.Check("after-unknown"); !b || !st.Ready || st.LastApplied < seq-1 {
				return fmt.Errorf("node %d: blacklisted %v, status %+v; want the event after the unknown one applied, ready", i, b, st)
			}
			return nil
		})
	}
	for i, n := range nodes[:2] {
		if st := n.FleetStatus(); st.Skipped != 1 {
			t.Errorf("node %d skipped %d events, want the 1 of the unknown kind", i, st.Skipped)
		}
	}
}
