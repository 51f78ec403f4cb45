package node_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

const (
	aliceToken = "alice-writes-0123456789"
	bobToken   = "bob-reads-0123456789ab"
	asAlice    = "Bearer " + aliceToken
	asBob      = "Bearer " + bobToken
)

// operators are the named credentials of these tests: alice writes, bob
// reads; the admin token ("admin-secret") is the write credential admin.
func operators() []nodehttp.Credential {
	return []nodehttp.Credential{{Name: "alice", Token: aliceToken, Scope: nodehttp.ScopeWrite},
		{Name: "bob", Token: bobToken, Scope: nodehttp.ScopeRead}}
}

// Every admin route answers by scope: reads take a read or write
// credential, writes only a write one (403 with a JSON error for a read
// one), a wrong token is 401.
func TestAuditScopeOnEveryAdminRoute(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) {
		c.AdminCredentials = operators()
		c.MetricsAdminOnly = true
		c.AuthFailureBurst = -1
	})
	exp := time.Now().Add(time.Hour).Unix()
	n := 0
	routes := []struct {
		method, path string
		body         func() string
		write        bool
	}{
		{"GET", "/v1/tokens", nil, false},
		{"GET", "/v1/status", nil, false},
		{"GET", "/v1/audit", nil, false},
		{"GET", "/metrics", nil, false},
		{"POST", "/v1/blacklist", func() string { n++; return fmt.Sprintf(`{"jti":"j%d","exp":%d,"reason":"r"}`, n, exp) }, true},
		{"POST", "/v1/flush", func() string { return `{"reason":"weekly"}` }, true},
		{"POST", "/v1/users/42/revoke", func() string { return `{"reason":"offboarding"}` }, true},
	}
	for _, rt := range routes {
		for _, who := range []struct {
			name, hdr string
			status    int
			code      string
		}{
			{"writer", asAlice, 200, ""},
			{"admin token", admin, 200, ""},
			{"reader", asBob, map[bool]int{false: 200, true: 403}[rt.write], map[bool]string{true: "insufficient_scope"}[rt.write]},
			{"wrong token", "Bearer not-a-credential-000", 401, "unauthorized"},
			{"no token", "", 401, "unauthorized"},
		} {
			t.Run(rt.method+" "+rt.path+" as "+who.name, func(t *testing.T) {
				body := ""
				if rt.body != nil {
					body = rt.body()
				}
				var hdr []string
				if who.hdr != "" {
					hdr = []string{"Authorization", who.hdr}
				}
				ct := ""
				if body != "" {
					ct = "application/json"
				}
				got := do(t, rt.method, srv.URL+rt.path, ct, body, hdr...)
				if got.status != who.status {
					t.Fatalf("%d %.300s, want %d", got.status, got.body, who.status)
				}
				if who.code != "" && got.json(t)["code"] != who.code {
					t.Fatalf("body %s, want code %s", got.body, who.code)
				}
			})
		}
	}
	// Only the writes that changed something are in the log, each with
	// its actor.
	got := do(t, "GET", srv.URL+"/v1/audit?limit=1000", "", "", "Authorization", asBob).json(t)
	entries := got["entries"].([]any)
	actors := map[string]int{}
	for _, e := range entries {
		actors[e.(map[string]any)["actor"].(string)]++
	}
	// blacklist twice (alice, admin), flush twice, revoke once (the second
	// revocation of user 42 in the same second changes nothing).
	if actors["alice"] != 3 || actors["admin"] != 2 || actors["bob"] != 0 || len(entries) != 5 {
		t.Fatalf("audit actors %v in %d entries, want alice 3, admin 2", actors, len(entries))
	}
}

func TestAuditBadReasonIs400(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.AdminCredentials = operators() })
	for name, c := range map[string]struct{ body, header string }{
		"too long":       {body: `{"reason":"` + strings.Repeat("r", 1025) + `"}`},
		"control":        {body: `{"reason":"a\u0007b"}`},
		"header control": {header: "a\tb"},
	} {
		t.Run(name, func(t *testing.T) {
			hdr := []string{"Authorization", asAlice}
			if c.header != "" {
				hdr = append(hdr, nodehttp.ReasonHeader, c.header)
			}
			got := postJSON(t, srv.URL+"/v1/users/7/revoke", c.body, hdr...)
			if got.status != 400 || got.json(t)["code"] != "invalid" {
				t.Fatalf("%d %s, want 400 invalid", got.status, got.body)
			}
		})
	}
	if got := do(t, "GET", srv.URL+"/v1/audit?before=nonsense", "", "", "Authorization", asBob); got.status != 400 {
		t.Fatalf("bad cursor: %d %s", got.status, got.body)
	}
	if got := do(t, "GET", srv.URL+"/v1/audit?limit=0", "", "", "Authorization", asBob); got.status != 400 {
		t.Fatalf("bad limit: %d %s", got.status, got.body)
	}
}

func TestAuditFailedAuthLimiter(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) {
		c.AdminCredentials = operators()
		c.AuthFailureBurst, c.AuthFailureRefill = 2, time.Hour
	})
	for i, want := range []int{401, 401, 429} {
		if got := do(t, "GET", srv.URL+"/v1/audit", "", "", "Authorization", "Bearer guess-"+fmt.Sprint(i)); got.status != want {
			t.Fatalf("try %d: %d %s, want %d", i, got.status, got.body, want)
		}
	}
	if got := do(t, "GET", srv.URL+"/v1/audit", "", "", "Authorization", asBob); got.status != 429 {
		t.Fatalf("a right credential after the budget: %d, want 429", got.status)
	}
}

// An admin action's actor and reason ride its event to the fleet: the
// published event carries them, and every node's audit log (the writer's
// and the other's) lists the action, keyed by the event id, also after a
// restart.
func TestAuditActorAndReasonAcrossFleet(t *testing.T) {
	s := eventstest.RunServer(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("blnode.ev.>")
	if err != nil {
		t.Fatal(err)
	}
	cfg := func() node.Config {
		c := fleetConfig(node.RoleFull, 1, s)
		c.AdminToken, c.AdminCredentials = "admin-secret", operators()
		return c
	}
	a, b := startNode(t, cfg()), startNode(t, cfg())
	vcfg := cfg()
	vcfg.Role = node.RoleValidator
	v := startNode(t, vcfg)
	srvA, srvB, srvV := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler()), httptest.NewServer(v.Handler())
	defer srvA.Close()
	defer srvB.Close()
	defer srvV.Close()

	exp := time.Now().Add(time.Hour).Unix()
	if got := postJSON(t, srvA.URL+"/v1/blacklist", fmt.Sprintf(`{"jti":"stolen-1","exp":%d,"reason":"laptop stolen"}`, exp),
		"Authorization", asAlice); got.status != 200 {
		t.Fatalf("blacklist: %d %s", got.status, got.body)
	}
	if got := do(t, "POST", srvA.URL+"/v1/users/42/revoke", "", "", "Authorization", asAlice, nodehttp.ReasonHeader, "offboarding"); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	if got := postJSON(t, srvA.URL+"/v1/flush", `{"reason":"weekly cleanup"}`, "Authorization", admin); got.status != 200 {
		t.Fatalf("flush: %d %s", got.status, got.body)
	}
	// A token holder's own logout is no admin action: no entry.
	tok, _ := refresh(t)
	if got := postJSON(t, srvA.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(tok)+`}`); got.status != 200 {
		t.Fatalf("logout: %d %s", got.status, got.body)
	}

	// The published events.
	want := map[events.Kind][2]string{
		events.KindBlacklist:  {"alice", "laptop stolen"},
		events.KindRevokeUser: {"alice", "offboarding"},
		events.KindFlush:      {"admin", "weekly cleanup"},
	}
	ids := map[events.Kind]string{}
	deadline := time.Now().Add(waitLong)
	for len(ids) < len(want)+1 && time.Now().Before(deadline) {
		msg, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for events (have %v): %v", ids, err)
		}
		for _, data := range events.MessageEvents(msg.Data, msg.Header) {
			ev, err := events.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind == events.KindBlacklist && ev.Token.JTI != "stolen-1" {
				if ev.Actor != "" || ev.Reason != "" {
					t.Errorf("logout event carries actor %q reason %q", ev.Actor, ev.Reason)
				}
				ids["logout"] = ev.ID
				continue
			}
			if w, ok := want[ev.Kind]; ok && (ev.Actor != w[0] || ev.Reason != w[1]) {
				t.Errorf("%s event: actor %q reason %q, want %q %q", ev.Kind, ev.Actor, ev.Reason, w[0], w[1])
			}
			ids[ev.Kind] = ev.ID
		}
	}

	// Both audit logs, newest first.
	wantLog := []string{"admin flush weekly cleanup", "alice revoke_user offboarding 42", "alice blacklist laptop stolen stolen-1"}
	auditOf := func(base string) ([]string, []string) {
		got := do(t, "GET", base+"/v1/audit", "", "", "Authorization", asBob)
		if got.status != 200 {
			t.Fatalf("audit: %d %s", got.status, got.body)
		}
		var lines, evIDs []string
		for _, e := range got.json(t)["entries"].([]any) {
			m := e.(map[string]any)
			line := fmt.Sprint(m["actor"], " ", m["action"], " ", m["reason"])
			if m["action"] != "flush" {
				line += fmt.Sprint(" ", m["subject"])
			}
			if m["origin"] != a.ID() {
				t.Errorf("entry %v: origin %v, want %s", m, m["origin"], a.ID())
			}
			lines, evIDs = append(lines, line), append(evIDs, m["event_id"].(string))
		}
		return lines, evIDs
	}
	for name, base := range map[string]string{"writer": srvA.URL, "other node": srvB.URL, "validator": srvV.URL} {
		poll.For(t, waitLong, pollEvery, func() error {
			lines, evIDs := auditOf(base)
			if fmt.Sprint(lines) != fmt.Sprint(wantLog) {
				return fmt.Errorf("%s: audit %q, want %q", name, lines, wantLog)
			}
			if wantIDs := []string{ids[events.KindFlush], ids[events.KindRevokeUser], ids[events.KindBlacklist]}; fmt.Sprint(evIDs) != fmt.Sprint(wantIDs) {
				return fmt.Errorf("%s: event ids %v, want %v", name, evIDs, wantIDs)
			}
			return nil
		})
	}

	// Pages of two.
	first := do(t, "GET", srvB.URL+"/v1/audit?limit=2", "", "", "Authorization", asAlice).json(t)
	next, _ := first["next_cursor"].(string)
	if len(first["entries"].([]any)) != 2 || next == "" {
		t.Fatalf("first page %v", first)
	}
	second := do(t, "GET", srvB.URL+"/v1/audit?limit=2&before="+url.QueryEscape(next), "", "", "Authorization", asAlice).json(t)
	if es := second["entries"].([]any); len(es) != 1 || es[0].(map[string]any)["action"] != "blacklist" || second["next_cursor"] != "" {
		t.Fatalf("second page %v", second)
	}

	// A restart keeps the log: reopen the other node's store file.
	b.stop()
	st, err := persist.Open(b.dir, persist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.Audit(persist.AuditQuery{})
	if err != nil || len(p.Entries) != 3 || p.Entries[0].Actor != "admin" || p.Entries[2].Reason != "laptop stolen" {
		t.Fatalf("after restart: %+v %v", p.Entries, err)
	}
}

func signInAs(t testing.TB, base, token string) *adminClient {
	t.Helper()
	a := newAdminClient(t, base)
	if res := a.post("/admin/login", url.Values{"token": {token}}); res.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %.300s", res.status, res.body)
	}
	a.get("/admin/tokens")
	return a
}

// The admin pages: any named credential signs in and is shown; a write
// credential's action records its name and the form's reason, which the
// audit page lists; a read credential gets no action forms and a 403 for
// an action's POST; a reload that drops a credential ends its sessions.
func TestAuditAdminPages(t *testing.T) {
	n, srv := newNode(t, func(c *node.Config) { c.AdminCredentials = operators() })
	alice := signInAs(t, srv.URL, aliceToken)
	wantHTML(t, alice.get("/admin/tokens?user=42"), 200, "Signed in as <strong>alice</strong> (write)", `action="/admin/users/revoke"`, `href="/admin/audit"`)
	res := alice.post("/admin/users/revoke", url.Values{"user": {"42"}, "reason": {"left the company"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %.300s", res.status, res.body)
	}
	wantHTML(t, alice.get("/admin/audit"), 200, `<td data-label="Actor" class="audit-actor">alice</td>`, "revoke_user", "left the company", "<code>42</code>")
	wantHTML(t, alice.post("/admin/flush", url.Values{"reason": {"x\x01y"}}), 400, "Bad reason")

	bob := signInAs(t, srv.URL, bobToken)
	page := bob.get("/admin/tokens?user=42")
	wantHTML(t, page, 200, "Signed in as <strong>bob</strong> (read)")
	if strings.Contains(page.body, `action="/admin/users/revoke"`) {
		t.Error("a read credential is shown the revoke form")
	}
	wantHTML(t, bob.get("/admin/flush"), 200, "read credential")
	wantHTML(t, bob.get("/admin/audit"), 200, "left the company")
	for path, form := range map[string]url.Values{
		"/admin/users/revoke": {"user": {"7"}},
		"/admin/flush":        {},
		"/admin/blacklist":    {"jti": {"j"}},
	} {
		wantHTML(t, bob.post(path, form), http.StatusForbidden, "Read-only credential")
	}
	if p, _ := n.Audit(t.Context(), node.AuditQuery{}); len(p.Entries) != 1 {
		t.Fatalf("audit after bob's refused actions: %+v", p.Entries)
	}

	if err := n.SetAdminCredentials(operators()[:1]); err != nil {
		t.Fatal(err)
	}
	if res := bob.get("/admin/tokens"); res.status != http.StatusUnauthorized {
		t.Fatalf("bob after the reload dropped him: %d, want 401 (signed out)", res.status)
	}
	wantHTML(t, alice.get("/admin/tokens"), 200, "Signed in as <strong>alice</strong>")
}

func TestAuditCredentialNamedAdminBesideTheAdminToken(t *testing.T) {
	_, err := node.New(node.Config{DataDir: t.TempDir(), Token: token.Config{HSSecret: secret}, AdminToken: "admin-secret",
		AdminCredentials: []nodehttp.Credential{{Name: "admin", Token: aliceToken, Scope: nodehttp.ScopeRead}}, NATS: node.NATSConfig{Disabled: true}})
	if err == nil || !strings.Contains(err.Error(), `the name "admin" is the admin token's`) {
		t.Fatalf("node.New: %v, want the clash refused", err)
	}
}
