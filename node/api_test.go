package node_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

const admin = "Bearer admin-secret"

func TestAPIBlacklistIsIdempotent(t *testing.T) {
	_, srv := newNode(t, nil)
	tok, jti := refresh(t)
	for i, wantAlready := range []bool{false, true} {
		got := postJSON(t, srv.URL+"/v1/blacklist", `{"token":`+jsonString(tok)+`,"reason":"stolen laptop"}`)
		if got.status != 200 {
			t.Fatalf("call %d: %d %s", i, got.status, got.body)
		}
		m := got.json(t)
		rec := m["record"].(map[string]any)
		if m["already_blacklisted"] != wantAlready || rec["jti"] != jti || rec["user"] != "42" || rec["reason"] != "stolen laptop" || rec["blacklisted"] != true {
			t.Errorf("call %d: %s", i, got.body)
		}
	}
	if strings.Contains(postJSON(t, srv.URL+"/v1/blacklist", `{"token":`+jsonString(tok)+`}`).body, tok) {
		t.Error("the raw token is echoed back though KeepRawToken is off")
	}
	got := postJSON(t, srv.URL+"/v1/check", `{"token":`+jsonString(tok)+`}`)
	if m := got.json(t); m["valid"] != false || m["blacklisted"] != true || m["code"] != "token_blacklisted" {
		t.Errorf("check: %s", got.body)
	}
	got = do(t, http.MethodGet, srv.URL+"/v1/blacklist/"+jti, "", "")
	if got.status != 200 || got.body != `{"blacklisted":true,"jti":"`+jti+`"}` {
		t.Errorf("GET blacklist/jti: %d %s", got.status, got.body)
	}
	got = do(t, http.MethodGet, srv.URL+"/v1/blacklist/"+jti, "", "", "Authorization", admin)
	if rec, ok := got.json(t)["record"].(map[string]any); !ok || rec["reason"] != "stolen laptop" {
		t.Errorf("GET blacklist/jti as admin: %s", got.body)
	}
	got = do(t, http.MethodGet, srv.URL+"/v1/blacklist/nope", "", "")
	if got.body != `{"blacklisted":false,"jti":"nope"}` {
		t.Errorf("unknown jti: %s", got.body)
	}
}

func TestAPIAdminBlacklistByJTI(t *testing.T) {
	_, srv := newNode(t, nil)
	exp := time.Now().Add(time.Hour).Unix()
	body := fmt.Sprintf(`{"jti":"abc","exp":%d,"user":"9","token_type":"access","reason":"manual"}`, exp)
	tests := []struct {
		name   string
		hdr    []string
		status int
		code   string
	}{
		{"no admin token", nil, 401, "unauthorized"},
		{"wrong admin token", []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		{"admin", []string{"Authorization", admin}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := postJSON(t, srv.URL+"/v1/blacklist", body, tc.hdr...)
			if got.status != tc.status || (tc.code != "" && got.json(t)["code"] != tc.code) {
				t.Fatalf("%d %s", got.status, got.body)
			}
		})
	}
	if got := postJSON(t, srv.URL+"/v1/check", `{"jti":"abc"}`); got.body != `{"blacklisted":true,"jti":"abc"}` {
		t.Errorf("check jti: %s", got.body)
	}
	got := postJSON(t, srv.URL+"/v1/blacklist", `{"jti":"x","exp":-1}`, "Authorization", admin)
	if got.status != 400 {
		t.Errorf("negative exp: %d %s", got.status, got.body)
	}
}

func TestAPIAdminDisabledAnswers403(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.AdminToken = "" })
	for _, path := range []string{"/v1/tokens", "/v1/status"} {
		got := do(t, http.MethodGet, srv.URL+path, "", "", "Authorization", "Bearer ")
		if got.status != 403 || got.json(t)["code"] != "admin_disabled" {
			t.Errorf("%s: %d %s", path, got.status, got.body)
		}
	}
	if got := postJSON(t, srv.URL+"/v1/flush", `{}`); got.status != 403 {
		t.Errorf("flush: %d %s", got.status, got.body)
	}
}

func TestAPITokensListWithCursor(t *testing.T) {
	_, srv := newNode(t, nil)
	var blacklistedJTI string
	for i := range 7 {
		tok, jti := sjwt.Token{Type: "refresh", User: i % 2}.Mint(secret)
		if got := postJSON(t, srv.URL+"/v1/outstanding", `{"token":`+jsonString(tok)+`}`); got.status != 200 {
			t.Fatalf("outstanding: %d %s", got.status, got.body)
		}
		if i == 3 {
			blacklistedJTI = jti
			postJSON(t, srv.URL+"/v1/blacklist", `{"token":`+jsonString(tok)+`}`)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		got := do(t, http.MethodGet, srv.URL+"/v1/tokens?limit=3&cursor="+cursor, "", "", "Authorization", admin)
		if got.status != 200 || pages > 5 {
			t.Fatalf("%d %s", got.status, got.body)
		}
		m := got.json(t)
		for _, r := range m["tokens"].([]any) {
			seen[r.(map[string]any)["jti"].(string)] = true
		}
		if cursor = m["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if len(seen) != 7 {
		t.Errorf("listed %d tokens, want 7", len(seen))
	}
	got := do(t, http.MethodGet, srv.URL+"/v1/tokens?blacklisted=true", "", "", "Authorization", admin)
	if toks := got.json(t)["tokens"].([]any); len(toks) != 1 || toks[0].(map[string]any)["jti"] != blacklistedJTI {
		t.Errorf("blacklisted=true: %s", got.body)
	}
	got = do(t, http.MethodGet, srv.URL+"/v1/tokens?user=1", "", "", "Authorization", admin)
	if toks := got.json(t)["tokens"].([]any); len(toks) != 3 {
		t.Errorf("user=1: %d tokens", len(toks))
	}
	for _, q := range []string{"limit=0", "limit=abc", "limit=5000", "blacklisted=maybe", "expired=2"} {
		if got := do(t, http.MethodGet, srv.URL+"/v1/tokens?"+q, "", "", "Authorization", admin); got.status != 400 {
			t.Errorf("%s: %d", q, got.status)
		}
	}
}

func TestAPIFlush(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	n, srv := newNode(t, func(c *node.Config) { c.Now = clock })
	live, _ := sjwt.Token{Type: "refresh", Now: now}.Mint(secret)
	postJSON(t, srv.URL+"/v1/blacklist", `{"token":`+jsonString(live)+`}`)
	body := fmt.Sprintf(`{"jti":"old","exp":%d}`, now.Add(-2*time.Hour).Unix())
	if got := postJSON(t, srv.URL+"/v1/blacklist", body, "Authorization", admin); got.status != 200 {
		t.Fatal(got.body)
	}
	got := postJSON(t, srv.URL+"/v1/flush", ``, "Authorization", admin)
	if got.status != 200 || !strings.Contains(got.body, `"removed":{"blacklisted":1,"outstanding":1,"user_revocations":0}`) {
		t.Fatalf("flush: %d %s", got.status, got.body)
	}
	if b, _ := n.Check("old"); b {
		t.Error("flushed jti still blacklisted")
	}
	if got := postJSON(t, srv.URL+"/v1/check", `{"token":`+jsonString(live)+`}`); !strings.Contains(got.body, `"blacklisted":true`) {
		t.Errorf("live token lost by flush: %s", got.body)
	}
}

func TestAPIBadInputs(t *testing.T) {
	_, srv := newNode(t, nil)
	big := `{"token":"` + strings.Repeat("a", 70<<10) + `"}`
	tests := []struct {
		name, method, path, ct, body string
		status                       int
		code                         string
	}{
		{"oversized body", "POST", "/v1/blacklist", "application/json", big, 413, "body_too_large"},
		{"oversized compat body", "POST", "/api/token/verify/", "application/json", big, 413, ""},
		{"wrong content type", "POST", "/v1/check", "text/plain", `{}`, 415, "unsupported_media_type"},
		{"unknown field", "POST", "/v1/check", "application/json", `{"tok":"x"}`, 400, "invalid_json"},
		{"not JSON", "POST", "/v1/check", "application/json", `{`, 400, "invalid_json"},
		{"trailing data", "POST", "/v1/check", "application/json", `{"token":"a"} x`, 400, "invalid_json"},
		{"invalid UTF-8", "POST", "/v1/check", "application/json", "{\"token\":\"\xff\"}", 400, "invalid_json"},
		{"array body", "POST", "/v1/blacklist", "application/json", `[1]`, 400, "invalid_json"},
		{"nothing to blacklist", "POST", "/v1/blacklist", "application/json", `{}`, 400, "invalid"},
		{"invalid token", "POST", "/v1/blacklist", "application/json", `{"token":"x.y.z"}`, 401, "token_not_valid"},
		{"check without token", "POST", "/v1/check", "application/json", `{}`, 400, "invalid"},
		{"wrong method", "GET", "/v1/check", "", ``, 405, "method_not_allowed"},
		{"unknown route", "GET", "/v2/nothing", "", ``, 404, "not_found"},
		{"deep JSON", "POST", "/v1/check", "application/json", strings.Repeat("[", 20000), 400, "invalid_json"},
		{"huge jti path", "GET", "/v1/blacklist/" + strings.Repeat("j", 300), "", ``, 400, "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, tc.method, srv.URL+tc.path, tc.ct, tc.body)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			m := got.json(t)
			if tc.code != "" && m["code"] != tc.code {
				t.Errorf("code %v, want %s", m["code"], tc.code)
			}
		})
	}
}

func TestValidatorRefusesWrites(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.Role = node.RoleValidator })
	tok, _ := refresh(t)
	for _, path := range []string{"/v1/blacklist", "/v1/outstanding", "/v1/flush", "/api/token/blacklist/"} {
		got := postJSON(t, srv.URL+path, `{"token":`+jsonString(tok)+`,"refresh":`+jsonString(tok)+`}`)
		if path != "/v1/blacklist" && path != "/v1/outstanding" && path != "/v1/flush" {
			got = postJSON(t, srv.URL+path, `{"refresh":`+jsonString(tok)+`}`)
		}
		if got.status != 403 || got.json(t)["role"] != "validator" {
			t.Errorf("%s: %d %s", path, got.status, got.body)
		}
	}
	if got := postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`); got.status != 200 {
		t.Errorf("validator verify: %d %s", got.status, got.body)
	}
}

func TestHealth(t *testing.T) {
	_, srv := newNode(t, nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		if got := do(t, http.MethodGet, srv.URL+p, "", ""); got.status != 200 {
			t.Errorf("%s: %d %s", p, got.status, got.body)
		}
	}
}

func TestConcurrentCompatBlacklistOneWinner(t *testing.T) {
	_, srv := newNode(t, nil)
	tok, _ := refresh(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 20 {
		wg.Go(func() {
			got := postJSON(t, srv.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(tok)+`}`)
			mu.Lock()
			codes[got.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[200] != 1 || codes[401] != 19 {
		t.Errorf("status counts %v, want one 200 and 19 401", codes)
	}
}
