package node_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

const (
	invalid     = `{"detail":"Token is invalid","code":"token_not_valid"}`
	expired     = `{"detail":"Token is expired","code":"token_not_valid"}`
	blacklisted = `{"detail":"Token is blacklisted","code":"token_not_valid"}`
	noID        = `{"detail":"Token has no id","code":"token_not_valid"}`
)

// compatLeeway is the leeway of the compat table's server: the rows test
// tokens expired within and beyond it.
const compatLeeway = 10 * time.Second

// compatRow is one row of the compat table: a request and what Simple JWT
// answers it.
type compatRow struct {
	name        string
	url, ct     string
	body        string
	status      int
	want        string // exact body; "" to skip
	wantPrefix  string
	wwwAuth     bool
	method      string
	wantHeaders map[string]string
	// original500: the original answers this with a 500 (an uncaught
	// exception); blnode answers the 4xx above instead (DESIGN.md §7).
	original500 bool
}

// TestSimpleJWTCompat is the table, row by row, with tokens minted
// exactly as Simple JWT mints them.
func TestSimpleJWTCompat(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.Token.Leeway = compatLeeway })
	for _, r := range compatRows(srv.URL) {
		t.Run(r.name, func(t *testing.T) {
			got := r.ask(t)
			if got.status != r.status {
				t.Fatalf("status %d, want %d; body %s", got.status, r.status, got.body)
			}
			if r.want != "" && got.body != r.want {
				t.Errorf("body\n got %s\nwant %s", got.body, r.want)
			}
			r.checkRest(t, got)
		})
	}
}

// ask sends the row's request.
func (r compatRow) ask(t *testing.T) response {
	t.Helper()
	method, ct := r.method, r.ct
	if method == "" {
		method = http.MethodPost
	}
	if ct == "" && r.body != "" {
		ct = "application/json"
	}
	return do(t, method, r.url, ct, r.body)
}

// checkRest checks what the row says beside the status and exact body.
func (r compatRow) checkRest(t *testing.T, got response) {
	t.Helper()
	if r.wantPrefix != "" && !strings.HasPrefix(got.body, r.wantPrefix) {
		t.Errorf("body %s, want prefix %s", got.body, r.wantPrefix)
	}
	if r.wwwAuth || got.status == 401 {
		if h := got.header.Get("WWW-Authenticate"); h != `Bearer realm="api"` {
			t.Errorf("WWW-Authenticate %q", h)
		}
	}
	for k, v := range r.wantHeaders {
		if h := got.header.Get(k); h != v {
			t.Errorf("%s: %q, want %q", k, h, v)
		}
	}
}

// compatRows are the table's rows against the server at base, in order
// (some rows depend on earlier ones: a token blacklisted, then presented
// again). Tokens are minted with the test secret.
func compatRows(base string) []compatRow {
	bl, verify := base+"/api/token/blacklist/", base+"/api/token/verify/"

	mint := func(tk sjwt.Token) string { s, _ := tk.Mint(secret); return s }
	again := mint(sjwt.Token{Type: "refresh", User: 7})
	verifyBlacklisted := mint(sjwt.Token{Type: "refresh", User: 8})
	other := sjwt.Sign(secret, sjwt.Header, sjwt.Claim{Name: "token_type", Value: "refresh"}, sjwt.Claim{Name: "exp", Value: time.Now().Add(time.Hour).Unix()}, sjwt.Claim{Name: "jti", Value: sjwt.JTI()})
	badSig := other[:len(other)-4] + "AAAA"
	hs512 := sjwt.Sign(secret, `{"alg":"HS512","typ":"JWT"}`, sjwt.Claim{Name: "token_type", Value: "refresh"}, sjwt.Claim{Name: "exp", Value: time.Now().Add(time.Hour).Unix()}, sjwt.Claim{Name: "jti", Value: sjwt.JTI()})
	none := strings.Join(strings.Split(sjwt.Sign(nil, `{"alg":"none","typ":"JWT"}`, sjwt.Claim{Name: "token_type", Value: "refresh"}, sjwt.Claim{Name: "exp", Value: time.Now().Add(time.Hour).Unix()}, sjwt.Claim{Name: "jti", Value: sjwt.JTI()}), ".")[:2], ".") + "."

	return []compatRow{
		{name: "blacklist a valid refresh token", url: bl, body: `{"refresh":"` + again + `"}`, status: 200, want: `{}`},
		{name: "blacklist it again", url: bl, body: `{"refresh":"` + again + `"}`, status: 401, want: blacklisted, wwwAuth: true},
		{name: "blacklist an access token", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "access", User: 1}) + `"}`, status: 401, want: `{"detail":"Token has wrong type","code":"token_not_valid"}`, wwwAuth: true},
		{name: "blacklist a sliding token", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "sliding", User: 1}) + `"}`, status: 401, want: `{"detail":"Token has wrong type","code":"token_not_valid"}`},
		{name: "malformed", url: bl, body: `{"refresh":"not.a.jwt"}`, status: 401, want: invalid, wwwAuth: true},
		{name: "garbage", url: bl, body: `{"refresh":"abc"}`, status: 401, want: invalid},
		{name: "bad signature", url: bl, body: `{"refresh":"` + badSig + `"}`, status: 401, want: invalid},
		{name: "wrong secret", url: bl, body: `{"refresh":"` + func() string { s, _ := sjwt.Token{Type: "refresh"}.Mint([]byte("other")); return s }() + `"}`, status: 401, want: invalid},
		{name: "wrong algorithm", url: bl, body: `{"refresh":"` + hs512 + `"}`, status: 401, want: invalid},
		{name: "alg none", url: bl, body: `{"refresh":"` + none + `"}`, status: 401, want: invalid},
		{name: "expired beyond leeway", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh", TTL: -time.Minute}) + `"}`, status: 401, want: expired, wwwAuth: true},
		{name: "expired within leeway", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh", TTL: -2 * time.Second}) + `"}`, status: 200, want: `{}`},
		{name: "no exp claim", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh", NoExp: true}) + `"}`, status: 401, want: `{"detail":"Token has no 'exp' claim","code":"token_not_valid"}`},
		{name: "no token_type claim", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "-", User: 1}) + `"}`, status: 401, want: `{"detail":"Token has no type","code":"token_not_valid"}`},
		{name: "no jti claim", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh", JTI: "-"}) + `"}`, status: 401, want: noID, wwwAuth: true,
			original500: true}, // KeyError: 'jti' in the blacklist check, before the claim check
		{name: "unknown user_id", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh", User: 999999}) + `"}`, status: 200, want: `{}`},
		{name: "missing user_id", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh"}) + `"}`, status: 200, want: `{}`},
		{name: "string user_id", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh", User: "alice"}) + `"}`, status: 200, want: `{}`},
		{name: "extra body fields", url: bl, body: `{"refresh":"` + mint(sjwt.Token{Type: "refresh", User: 3}) + `","access":"x","n":1}`, status: 200, want: `{}`},
		{name: "form body", url: bl, ct: "application/x-www-form-urlencoded", body: "refresh=" + url.QueryEscape(mint(sjwt.Token{Type: "refresh", User: 3})), status: 200, want: `{}`},
		{name: "multipart body", url: bl, ct: "multipart/form-data; boundary=XX", body: "--XX\r\nContent-Disposition: form-data; name=\"refresh\"\r\n\r\n" + mint(sjwt.Token{Type: "refresh", User: 4}) + "\r\n--XX--\r\n", status: 200, want: `{}`},
		{name: "form body, blank", url: bl, ct: "application/x-www-form-urlencoded", body: "refresh=", status: 400, want: `{"refresh":["This field may not be blank."]}`},
		{name: "a number as the token", url: bl, body: `{"refresh":12345}`, status: 401, want: invalid},
		{name: "missing field", url: bl, body: `{"token":"x"}`, status: 400, want: `{"refresh":["This field is required."]}`},
		{name: "empty object", url: bl, body: `{}`, status: 400, want: `{"refresh":["This field is required."]}`},
		{name: "empty body", url: bl, body: ``, status: 400, want: `{"refresh":["This field is required."]}`},
		{name: "empty body, text/plain", url: bl, ct: "text/plain", body: ``, status: 400, want: `{"refresh":["This field is required."]}`},
		{name: "blank string", url: bl, body: `{"refresh":""}`, status: 400, want: `{"refresh":["This field may not be blank."]}`},
		{name: "whitespace string", url: bl, body: `{"refresh":"   "}`, status: 400, want: `{"refresh":["This field may not be blank."]}`},
		{name: "null", url: bl, body: `{"refresh":null}`, status: 400, want: `{"refresh":["This field may not be null."]}`},
		{name: "bool", url: bl, body: `{"refresh":true}`, status: 400, want: `{"refresh":["Not a valid string."]}`},
		{name: "list", url: bl, body: `{"refresh":["a"]}`, status: 400, want: `{"refresh":["Not a valid string."]}`},
		{name: "object", url: bl, body: `{"refresh":{"a":1}}`, status: 400, want: `{"refresh":["Not a valid string."]}`},
		{name: "JSON array as body", url: bl, body: `["x"]`, status: 400, want: `{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}`},
		{name: "JSON null as body", url: bl, body: `null`, status: 400, want: `{"non_field_errors":["No data provided"]}`},
		{name: "JSON number as body", url: bl, body: `5`, status: 400, want: `{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}`},
		{name: "unparseable JSON", url: bl, body: `{"refresh":`, status: 400, wantPrefix: `{"detail":"JSON parse error - `},
		{name: "text/plain", url: bl, ct: "text/plain", body: `refresh=x`, status: 415, want: `{"detail":"Unsupported media type \"text/plain\" in request."}`},
		{name: "GET", url: bl, method: http.MethodGet, status: 405, want: `{"detail":"Method \"GET\" not allowed."}`, wantHeaders: map[string]string{"Allow": "POST, OPTIONS"}},
		{name: "PUT", url: verify, method: http.MethodPut, body: `{}`, status: 405, want: `{"detail":"Method \"PUT\" not allowed."}`},
		{name: "no trailing slash redirects", url: strings.TrimSuffix(bl, "/"), body: `{}`, status: 301, wantHeaders: map[string]string{"Location": "/api/token/blacklist/"}},

		{name: "verify a valid access token", url: verify, body: `{"token":"` + mint(sjwt.Token{Type: "access", User: 1}) + `"}`, status: 200, want: `{}`},
		{name: "verify a valid refresh token", url: verify, body: `{"token":"` + mint(sjwt.Token{Type: "refresh", User: 1}) + `"}`, status: 200, want: `{}`},
		{name: "verify a sliding token", url: verify, body: `{"token":"` + mint(sjwt.Token{Type: "sliding", User: "bob"}) + `"}`, status: 200, want: `{}`},
		{name: "verify a token without token_type", url: verify, body: `{"token":"` + mint(sjwt.Token{Type: "-"}) + `"}`, status: 200, want: `{}`},
		{name: "blacklist for verify", url: bl, body: `{"refresh":"` + verifyBlacklisted + `"}`, status: 200, want: `{}`},
		{name: "verify a blacklisted token", url: verify, body: `{"token":"` + verifyBlacklisted + `"}`, status: 400, want: `{"non_field_errors":["Token is blacklisted"]}`},
		{name: "verify without jti", url: verify, body: `{"token":"` + mint(sjwt.Token{Type: "access", JTI: "-"}) + `"}`, status: 401, want: noID},
		{name: "verify expired", url: verify, body: `{"token":"` + mint(sjwt.Token{Type: "access", TTL: -time.Hour}) + `"}`, status: 401, want: expired, wwwAuth: true},
		{name: "verify invalid", url: verify, body: `{"token":"` + badSig + `"}`, status: 401, want: invalid},
		{name: "verify missing field", url: verify, body: `{}`, status: 400, want: `{"token":["This field is required."]}`},
		{name: "verify form", url: verify, ct: "application/x-www-form-urlencoded", body: "token=" + url.QueryEscape(mint(sjwt.Token{Type: "access"})), status: 200, want: `{}`},
	}
}
