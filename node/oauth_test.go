package node_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

const formType = "application/x-www-form-urlencoded"

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func withClients(c *node.Config) {
	c.OAuthClients = map[string]string{"gateway": "s3cret:with colon", "a b&c": "p@ss+word"}
}

func TestOAuthRevoke7009(t *testing.T) {
	other := []byte("another-secret-entirely-another-secret")
	tests := []struct {
		name        string
		nodeKind    string // "", "clients" or "validator"
		method      string
		ct          string
		body        func(tok string) string
		mint        sjwt.Token
		client      []sjwt.Claim // client_id / azp claims the token carries (RFC 7009 §2.1)
		key         []byte       // default secret
		hdr         []string
		status      int
		errCode     string // "" expects an empty body on 200
		blacklisted bool
	}{
		{name: "valid refresh token", body: tokenForm, mint: sjwt.Token{Type: "refresh", User: 1}, status: 200, blacklisted: true},
		{name: "valid access token", body: tokenForm, mint: sjwt.Token{Type: "access", User: 1}, status: 200, blacklisted: true},
		{name: "sliding token with a hint of another type", body: func(tok string) string {
			return form("token", tok, "token_type_hint", "refresh_token")
		}, mint: sjwt.Token{Type: "sliding"}, status: 200, blacklisted: true},
		{name: "unknown hint", body: func(tok string) string {
			return form("token", tok, "token_type_hint", "id_token")
		}, mint: sjwt.Token{Type: "access"}, status: 200, blacklisted: true},
		{name: "content type with charset", ct: formType + "; charset=utf-8", body: tokenForm, mint: sjwt.Token{Type: "access"}, status: 200, blacklisted: true},
		{name: "invalid token", body: func(string) string { return form("token", "x.y.z") }, status: 200},
		{name: "expired token", body: tokenForm, mint: sjwt.Token{Type: "refresh", TTL: -time.Minute}, status: 200},
		{name: "signed with another key", body: tokenForm, mint: sjwt.Token{Type: "refresh"}, key: other, status: 200},
		{name: "token without jti", body: tokenForm, mint: sjwt.Token{Type: "refresh", JTI: "-"}, status: 200},
		{name: "no token", body: func(string) string { return form("token_type_hint", "access_token") }, status: 400, errCode: "invalid_request"},
		{name: "empty token", body: func(string) string { return "token=" }, status: 400, errCode: "invalid_request"},
		{name: "empty body", body: func(string) string { return "" }, status: 400, errCode: "invalid_request"},
		{name: "repeated token", body: func(tok string) string { return form("token", tok, "token", "x") }, mint: sjwt.Token{Type: "refresh"}, status: 400, errCode: "invalid_request"},
		{name: "JSON body", ct: "application/json", body: func(tok string) string { return `{"token":` + jsonString(tok) + `}` }, mint: sjwt.Token{Type: "refresh"}, status: 400, errCode: "invalid_request"},
		{name: "no content type", ct: "-", body: tokenForm, mint: sjwt.Token{Type: "refresh"}, status: 400, errCode: "invalid_request"},
		{name: "malformed form", body: func(string) string { return "token=%zz" }, status: 400, errCode: "invalid_request"},
		{name: "oversized body", body: func(string) string { return "token=" + strings.Repeat("a", 70<<10) }, status: 413, errCode: "invalid_request"},
		{name: "GET", method: http.MethodGet, body: func(string) string { return "" }, status: 405},
		{name: "clients: no client authentication", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"}, status: 401, errCode: "invalid_client"},
		{name: "clients: wrong secret", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"},
			hdr: []string{"Authorization", basic("gateway", "s3cret")}, status: 401, errCode: "invalid_client"},
		{name: "clients: unknown client", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"},
			hdr: []string{"Authorization", basic("nobody", "s3cret:with colon")}, status: 401, errCode: "invalid_client"},
		{name: "clients: admin bearer is not a client", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"},
			hdr: []string{"Authorization", admin}, status: 401, errCode: "invalid_client"},
		{name: "clients: right credentials", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"},
			hdr: []string{"Authorization", basic("gateway", "s3cret:with colon")}, status: 200, blacklisted: true},
		{name: "clients: form-encoded credentials (RFC 6749 §2.3.1)", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"},
			hdr: []string{"Authorization", basic(url.QueryEscape("a b&c"), url.QueryEscape("p@ss+word"))}, status: 200, blacklisted: true},
		{name: "clients: invalid token still 200", nodeKind: "clients", body: func(string) string { return form("token", "nope") },
			hdr: []string{"Authorization", basic("gateway", "s3cret:with colon")}, status: 200},
		{name: "validator", nodeKind: "validator", body: tokenForm, mint: sjwt.Token{Type: "refresh"}, status: 403},

		// RFC 7009 §2.1: a token issued to another client is refused (400
		// unauthorized_client) and stays valid.
		{name: "clients: client_id of the caller", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: "gateway"}}, hdr: asGateway, status: 200, blacklisted: true},
		{name: "clients: client_id of another client", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: "a b&c"}}, hdr: asGateway, status: 400, errCode: "unauthorized_client"},
		{name: "clients: azp of the caller", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"},
			client: []sjwt.Claim{{Name: "azp", Value: "a b&c"}}, hdr: []string{"Authorization", basic(url.QueryEscape("a b&c"), url.QueryEscape("p@ss+word"))}, status: 200, blacklisted: true},
		{name: "clients: azp of another client", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "refresh"},
			client: []sjwt.Claim{{Name: "azp", Value: "a b&c"}}, hdr: asGateway, status: 400, errCode: "unauthorized_client"},
		{name: "clients: client_id decides over azp", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: "gateway"}, {Name: "azp", Value: "a b&c"}}, hdr: asGateway, status: 200, blacklisted: true},
		{name: "clients: client_id of another client, azp of the caller", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: "a b&c"}, {Name: "azp", Value: "gateway"}}, hdr: asGateway, status: 400, errCode: "unauthorized_client"},
		{name: "clients: client_id that is not a string", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: 7}}, hdr: asGateway, status: 400, errCode: "unauthorized_client"},
		{name: "clients: client_id of an unknown client", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: "mobile-app"}}, hdr: asGateway, status: 400, errCode: "unauthorized_client"},
		{name: "clients: another client's token that does not verify is still 200", nodeKind: "clients", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: "a b&c"}}, key: other, hdr: asGateway, status: 200},
		{name: "open endpoint: a token of some client", body: tokenForm, mint: sjwt.Token{Type: "access"},
			client: []sjwt.Claim{{Name: "client_id", Value: "mobile-app"}}, status: 200, blacklisted: true},
	}
	// One node per kind: every case mints its own tokens.
	type served struct {
		n   *node.Node
		srv *httptest.Server
	}
	nodes := map[string]served{}
	for kind, mod := range map[string]func(*node.Config){
		"":          nil,
		"clients":   withClients,
		"validator": func(c *node.Config) { c.Role = node.RoleValidator },
	} {
		n, srv := newNode(t, mod)
		nodes[kind] = served{n, srv}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, srv := nodes[tc.nodeKind].n, nodes[tc.nodeKind].srv
			var tok, jti string
			if tc.mint.Type != "" {
				key := tc.key
				if key == nil {
					key = secret
				}
				tok, jti = mintWithClaims(key, tc.mint, tc.client...)
			}
			method, ct := tc.method, tc.ct
			if method == "" {
				method = http.MethodPost
			}
			switch ct {
			case "":
				ct = formType
			case "-":
				ct = ""
			}
			got := do(t, method, srv.URL+"/oauth/revoke", ct, tc.body(tok), tc.hdr...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			switch {
			case tc.status == 200 && got.body != "":
				t.Errorf("body %q, want none", got.body)
			case tc.errCode != "":
				if m := got.json(t); m["error"] != tc.errCode {
					t.Errorf("error %v, want %s: %s", m["error"], tc.errCode, got.body)
				}
			case tc.status == 403:
				if m := got.json(t); m["code"] != "read_only" {
					t.Errorf("403 body: %s", got.body)
				}
			case tc.status == 405:
				if got.header.Get("Allow") != "POST" {
					t.Errorf("Allow %q", got.header.Get("Allow"))
				}
			}
			if tc.errCode == "invalid_client" && got.header.Get("WWW-Authenticate") != `Basic realm="blnode"` {
				t.Errorf("WWW-Authenticate %q", got.header.Get("WWW-Authenticate"))
			}
			if jti != "" {
				b, err := n.Check(jti)
				if err != nil || b != tc.blacklisted {
					t.Errorf("Check(jti) = %v, %v; want blacklisted %v", b, err, tc.blacklisted)
				}
			}
		})
	}
}

func tokenForm(tok string) string { return form("token", tok) }

// asGateway authenticates as the client "gateway" of withClients.
var asGateway = []string{"Authorization", basic("gateway", "s3cret:with colon")}

// mintWithClaims mints t as Simple JWT does, with more claims after its
// own (a client_id or azp), and returns it and its jti.
func mintWithClaims(key []byte, t sjwt.Token, more ...sjwt.Claim) (string, string) {
	if len(more) == 0 {
		return t.Mint(key)
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	ttl := t.TTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	jti := sjwt.JTI()
	claims := append([]sjwt.Claim{{Name: "token_type", Value: t.Type}, {Name: "exp", Value: now.Add(ttl).Unix()},
		{Name: "iat", Value: now.Unix()}, {Name: "jti", Value: jti}, {Name: "user_id", Value: t.User}}, more...)
	return sjwt.Sign(key, sjwt.Header, claims...), jti
}

func TestOAuthRevoke7009Twice(t *testing.T) {
	n, srv := newNode(t, nil)
	tok, jti := sjwt.Token{Type: "access", User: 5}.Mint(secret)
	for i := range 2 {
		if got := do(t, http.MethodPost, srv.URL+"/oauth/revoke", formType, tokenForm(tok)); got.status != 200 || got.body != "" {
			t.Fatalf("call %d: %d %q", i, got.status, got.body)
		}
	}
	if b, _ := n.Check(jti); !b {
		t.Fatal("not blacklisted")
	}
	// The revoked access token no longer passes any check path.
	if got := do(t, http.MethodGet, srv.URL+"/auth", "", "", "Authorization", "Bearer "+tok); got.status != 401 {
		t.Errorf("/auth after revoke: %d %s", got.status, got.body)
	}
}

func TestOAuthIntrospect(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	withAll := func(c *node.Config) {
		withClients(c)
		c.Now = func() time.Time { return now }
	}
	n, srv := newNode(t, withAll)

	access, accessJTI := sjwt.Token{Type: "access", User: 42, Now: now}.Mint(secret)
	blacklisted, _ := sjwt.Token{Type: "refresh", User: 42, Now: now}.Mint(secret)
	if got := do(t, http.MethodPost, srv.URL+"/oauth/revoke", formType, tokenForm(blacklisted), "Authorization", basic("gateway", "s3cret:with colon")); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, got.body)
	}
	revokedUser, _ := sjwt.Token{Type: "access", User: 7, Now: now.Add(-time.Minute)}.Mint(secret)
	if _, err := n.RevokeUser(t.Context(), "7", now); err != nil {
		t.Fatal(err)
	}
	expired, _ := sjwt.Token{Type: "access", User: 42, Now: now, TTL: -time.Second}.Mint(secret)
	forged, _ := sjwt.Token{Type: "access", User: 42, Now: now}.Mint([]byte("not-the-secret-not-the-secret-not-the"))
	withIss, issClaims, err := n.Verifier().Mint(token.MintOptions{Type: "access", User: "alice", Extra: map[string]any{"iss": "https://id.example", "aud": []string{"api", "web"}}})
	if err != nil {
		t.Fatal(err)
	}

	asAdmin := []string{"Authorization", admin}
	asClient := asGateway
	activeJSON := fmt.Sprintf(`{"active":true,"exp":%d,"iat":%d,"jti":%q,"sub":"42","token_type":"access","user_id":"42"}`,
		now.Add(5*time.Minute).Unix(), now.Unix(), accessJTI)
	// RFC 7662 §2.2: client_id is the client the token was issued to.
	ofMobile, ofMobileJTI := mintWithClaims(secret, sjwt.Token{Type: "access", User: 42, Now: now}, sjwt.Claim{Name: "client_id", Value: "mobile-app"})
	azpOnly, azpOnlyJTI := mintWithClaims(secret, sjwt.Token{Type: "access", User: 42, Now: now}, sjwt.Claim{Name: "azp", Value: "spa"})
	both, bothJTI := mintWithClaims(secret, sjwt.Token{Type: "access", User: 42, Now: now}, sjwt.Claim{Name: "client_id", Value: "mobile-app"}, sjwt.Claim{Name: "azp", Value: "spa"})
	withClient := func(jti, client string) string {
		return fmt.Sprintf(`{"active":true,"client_id":%q,"exp":%d,"iat":%d,"jti":%q,"sub":"42","token_type":"access","user_id":"42"}`,
			client, now.Add(5*time.Minute).Unix(), now.Unix(), jti)
	}
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
		want   string // exact body; "" checks only errCode
		err    string
	}{
		{"active, admin", tokenForm(access), asAdmin, 200, activeJSON, ""},
		{"active, client: a token without a client has no client_id", tokenForm(access), asClient, 200, activeJSON, ""},
		{"token's client_id, not the caller's", tokenForm(ofMobile), asClient, 200, withClient(ofMobileJTI, "mobile-app"), ""},
		{"token's client_id, admin", tokenForm(ofMobile), asAdmin, 200, withClient(ofMobileJTI, "mobile-app"), ""},
		{"azp when no client_id", tokenForm(azpOnly), asClient, 200, withClient(azpOnlyJTI, "spa"), ""},
		{"client_id over azp", tokenForm(both), asAdmin, 200, withClient(bothJTI, "mobile-app"), ""},
		{"active with a hint", form("token", access, "token_type_hint", "access_token"), asAdmin, 200, activeJSON, ""},
		{"iss and aud", tokenForm(withIss), asAdmin, 200, fmt.Sprintf(`{"active":true,"aud":["api","web"],"exp":%d,"iat":%d,"iss":"https://id.example","jti":%q,"sub":"alice","token_type":"access","user_id":"alice"}`,
			now.Add(5*time.Minute).Unix(), now.Unix(), issClaims.JTI), ""},
		{"blacklisted", tokenForm(blacklisted), asClient, 200, `{"active":false}`, ""},
		{"user revoked", tokenForm(revokedUser), asClient, 200, `{"active":false}`, ""},
		{"expired", tokenForm(expired), asClient, 200, `{"active":false}`, ""},
		{"forged", tokenForm(forged), asClient, 200, `{"active":false}`, ""},
		{"garbage", tokenForm("x.y.z"), asClient, 200, `{"active":false}`, ""},
		{"no token", form("token_type_hint", "access_token"), asClient, 400, "", "invalid_request"},
		{"no authentication", tokenForm(access), nil, 401, "", "invalid_client"},
		{"wrong client secret", tokenForm(access), []string{"Authorization", basic("gateway", "nope")}, 401, "", "invalid_client"},
		{"wrong admin token", tokenForm(access), []string{"Authorization", "Bearer nope"}, 401, "", "invalid_client"},
		{"the token itself as bearer", tokenForm(access), []string{"Authorization", "Bearer " + access}, 401, "", "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, http.MethodPost, srv.URL+"/oauth/introspect", formType, tc.body, tc.hdr...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			if tc.want != "" && got.body != tc.want {
				t.Errorf("body\n got %s\nwant %s", got.body, tc.want)
			}
			if tc.err != "" {
				if m := got.json(t); m["error"] != tc.err {
					t.Errorf("error %v, want %s", m["error"], tc.err)
				}
			}
			if tc.status == 401 {
				if ch := got.header.Values("WWW-Authenticate"); len(ch) != 2 || ch[0] != `Basic realm="blnode"` || ch[1] != `Bearer realm="blnode-admin"` {
					t.Errorf("WWW-Authenticate %q", ch)
				}
			}
		})
	}
}

func TestOAuthIntrospectAuthConfigurations(t *testing.T) {
	tok, _ := sjwt.Token{Type: "access", User: 1}.Mint(secret)
	tests := []struct {
		name   string
		mod    func(*node.Config)
		hdr    []string
		status int
	}{
		{"admin only: admin", nil, []string{"Authorization", admin}, 200},
		{"admin only: basic is refused", nil, []string{"Authorization", basic("gateway", "s3cret:with colon")}, 401},
		{"nothing configured", func(c *node.Config) { c.AdminToken = "" }, []string{"Authorization", "Bearer "}, 401},
		{"clients only: client", func(c *node.Config) { withClients(c); c.AdminToken = "" }, []string{"Authorization", basic("gateway", "s3cret:with colon")}, 200},
		{"clients only: empty bearer", func(c *node.Config) { withClients(c); c.AdminToken = "" }, []string{"Authorization", "Bearer "}, 401},
		{"empty secret never authenticates", func(c *node.Config) { c.OAuthClients = map[string]string{"open": ""}; c.AdminToken = "" },
			[]string{"Authorization", basic("open", "")}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newNode(t, tc.mod)
			got := do(t, http.MethodPost, srv.URL+"/oauth/introspect", formType, tokenForm(tok), tc.hdr...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			if tc.status == 401 && got.json(t)["error"] != "invalid_client" {
				t.Errorf("body %s", got.body)
			}
		})
	}
}

func TestOAuthIntrospectCustomUserClaim(t *testing.T) {
	n, srv := newNode(t, func(c *node.Config) { c.Token.UserIDClaim = "uid" })
	tok, _, err := n.Verifier().Mint(token.MintOptions{Type: "access", User: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	m := do(t, http.MethodPost, srv.URL+"/oauth/introspect", formType, tokenForm(tok), "Authorization", admin).json(t)
	if m["active"] != true || m["uid"] != "u-1" || m["sub"] != "u-1" || m["user_id"] != nil {
		t.Errorf("%v", m)
	}
}

func TestOAuthStoreUnavailable(t *testing.T) {
	n, srv := newNode(t, nil)
	tok, _ := sjwt.Token{Type: "access", User: 1}.Mint(secret)
	if err := n.Store().Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/oauth/revoke", "/oauth/introspect"} {
		got := do(t, http.MethodPost, srv.URL+path, formType, tokenForm(tok), "Authorization", admin)
		if got.status != 503 || got.json(t)["error"] != "temporarily_unavailable" {
			t.Errorf("%s: %d %s", path, got.status, got.body)
		}
	}
}

func TestLoadOAuthClients(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]string
		err     string // substring, after the file name
	}{
		{"clients, comments, blank lines, CRLF", "# gateways\r\n\r\ngateway:s3cret\r\n  nginx : two words:colon  \n#x:y\n",
			map[string]string{"gateway": "s3cret", "nginx": "two words:colon"}, ""},
		{"no colon", "gateway:ok\nhunter2\n", nil, "line 2: want client_id:secret"},
		{"empty id", ":hunter2\n", nil, "line 1: empty client id"},
		{"empty secret", "gateway:  \n", nil, `line 1: client "gateway" has an empty secret`},
		{"space in id", "gate way:hunter2\n", nil, `line 1: client id "gate way" holds a space`},
		{"control character in secret", "gw:hun\x01ter2\n", nil, `line 1: the secret of client "gw" holds a control character`},
		{"duplicate", "gw:hunter2\n\ngw:hunter3\n", nil, `line 3: client "gw" is already defined on line 1`},
		{"only comments", "# nothing\n\n", nil, "no client defined"},
		{"empty", "", nil, "no client defined"},
		{"long line", "gw:" + strings.Repeat("h", 70<<10) + "\n", nil, "line 1: longer than"},
		{"invalid UTF-8", "gw:hunter\xff\n", nil, "line 1: not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "clients")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := node.LoadOAuthClients(path)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tc.err) || strings.Contains(msg, "hunter") {
					t.Fatalf("error %q: want the file name and %q, and no secret", msg, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := node.LoadOAuthClients(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzLoadOAuthClients: any file content gives clients with a non-empty
// id without spaces and a non-empty secret, or an error naming the file.
func FuzzLoadOAuthClients(f *testing.F) {
	for _, s := range []string{"gw:s\n", "# c\n\na:b:c\r\n", ":x", "a:", "a:b\na:c", "\xff:x", "a b:c"} {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "clients")
	f.Fuzz(func(t *testing.T, content string) {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := node.LoadOAuthClients(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "node: oauth clients file "+path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("no clients and no error")
		}
		for id, s := range got {
			if id == "" || s == "" || strings.ContainsAny(id, " \t\r\n") {
				t.Fatalf("client %q:%q", id, s)
			}
		}
	})
}

// FuzzOAuthRequest feeds arbitrary bodies, content types and credentials
// to the OAuth and forward-auth routes: each must answer below 500, with a
// JSON body whenever there is one.
func FuzzOAuthRequest(f *testing.F) {
	n, _ := newNode(f, withClients)
	h := n.Handler()
	tok, _ := sjwt.Token{Type: "access", User: 1}.Mint(secret)
	for i, seed := range []struct{ ct, auth, body string }{
		{formType, basic("gateway", "s3cret:with colon"), "token=" + tok},
		{formType, admin, "token=" + tok + "&token_type_hint=access_token"},
		{formType, "Basic !!!", "token=%"},
		{"application/json", "", `{"token":"x"}`},
		{formType, "Bearer " + tok, "token=a&token=b"},
		{"", "bearer   " + tok + "  ", ""},
		{formType + "; charset=\"", "Basic " + base64.StdEncoding.EncodeToString([]byte("%zz:%zz")), "token=\xff"},
	} {
		f.Add(uint8(i), seed.ct, seed.auth, seed.body)
	}
	paths := []string{"/oauth/revoke", "/oauth/introspect", "/auth"}
	f.Fuzz(func(t *testing.T, route uint8, ct, auth, body string) {
		path := paths[int(route)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q %q %q: status %d %s", path, ct, auth, body, rec.Code, rec.Body)
		}
		if rec.Body.Len() > 0 && rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: content type %q for %q", path, rec.Header().Get("Content-Type"), rec.Body)
		}
	})
}
