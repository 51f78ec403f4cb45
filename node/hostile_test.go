package node_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// Hostile input: every route gets a table of bad inputs, sent over a real
// TCP connection to the server node.HTTPServer makes. Each must be refused
// with a 4xx and a JSON error (net/http's own 431 for oversized headers is
// plain text), never a 5xx, a panic or a success.

// hostileNode is a full node without NATS that accepts HS256 (the test
// secret) and RS256 (an RSA public key), with an admin token, an OAuth
// client and a forward-auth cookie, served by node.HTTPServer with short
// timeouts.
type hostileNode struct {
	n      *node.Node
	url    string
	rsaPEM []byte // the RSA public key the node trusts, as PEM
}

func rsaPublicPEM(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func startHostileNode(t testing.TB, limits node.HTTPLimits) *hostileNode {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub := rsaPublicPEM(t, key)
	cfg := node.Config{
		DataDir:      t.TempDir(),
		Token:        token.Config{HSSecret: secret, PublicKeyPEMs: [][]byte{pub}},
		AdminToken:   "admin-secret",
		NATS:         node.NATSConfig{Disabled: true},
		OAuthClients: map[string]string{"client": "client-secret"},
		AuthCookie:   "jwt",
		Logger:       slog.New(slog.DiscardHandler),
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := node.HTTPServer(ln.Addr().String(), n.Handler(), limits)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		n.Close()
	})
	return &hostileNode{n: n, url: "http://" + ln.Addr().String(), rsaPEM: pub}
}

// rawJWT signs header.payload with HMAC-SHA256 under key (nil: no
// signature at all, as alg none has).
func rawJWT(header, payload string, key []byte) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	if key == nil {
		return signing + "."
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// payload is a refresh token's claims with a fresh jti, expiring in an hour.
func payload(extra string) (string, string) {
	jti := sjwt.JTI()
	now := time.Now().Unix()
	p := fmt.Sprintf(`{"token_type":"refresh","exp":%d,"iat":%d,"jti":%q,"user_id":42%s}`, now+3600, now, jti, extra)
	return p, jti
}

// hostileToken is a forged or malformed token and the jti it claims.
type hostileToken struct {
	name, raw, jti string
}

// hostileTokens are tokens no route may accept.
func hostileTokens(t testing.TB, rsaPEM []byte) []hostileToken {
	t.Helper()
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var out []hostileToken
	add := func(name, header string, key []byte, extra string) {
		p, jti := payload(extra)
		out = append(out, hostileToken{name, rawJWT(header, p, key), jti})
	}
	add("alg none", `{"alg":"none","typ":"JWT"}`, nil, "")
	add("alg None", `{"alg":"None","typ":"JWT"}`, nil, "")
	add("alg NONE signed", `{"alg":"NONE","typ":"JWT"}`, secret, "")
	add("alg empty", `{"alg":"","typ":"JWT"}`, nil, "")
	add("no alg", `{"typ":"JWT"}`, secret, "")
	add("duplicate alg, none last", `{"alg":"HS256","alg":"none"}`, nil, "")
	add("alg confusion: HS256 keyed with the RSA public key PEM", `{"alg":"HS256","typ":"JWT"}`, rsaPEM, "")
	add("alg confusion: HS256 keyed with the PEM, no trailing newline", `{"alg":"HS256","typ":"JWT"}`, []byte(strings.TrimSpace(string(rsaPEM))), "")
	add("alg confusion: HS384 keyed with the PEM", `{"alg":"HS384","typ":"JWT"}`, rsaPEM, "")
	add("alg confusion: RS256 header, HMAC signature with the PEM", `{"alg":"RS256","typ":"JWT"}`, rsaPEM, "")
	add("kid path traversal, empty key", `{"alg":"HS256","kid":"../../../../../../dev/null"}`, []byte{}, "")
	add("kid path traversal, key of /dev/null", `{"alg":"HS256","kid":"/dev/null"}`, []byte(""), "")
	add("kid SQL injection", `{"alg":"HS256","kid":"x' UNION SELECT 'k' -- "}`, []byte("k"), "")
	add("kid command injection", `{"alg":"HS256","kid":"|/bin/sh -c 'echo k'"}`, []byte("k"), "")
	add("kid huge", `{"alg":"HS256","kid":"`+strings.Repeat("k", 20000)+`"}`, secret, "")
	add("kid an object", `{"alg":"HS256","kid":{"path":"/dev/null"}}`, secret, "")
	add("b64 false", `{"alg":"HS256","b64":false,"crit":["b64"]}`, secret, "")
	add("crit naming a registered claim", `{"alg":"HS256","crit":["exp"],"exp":1}`, secret, "")
	add("crit naming an extension", `{"alg":"HS256","crit":["x-blnode-ext"],"x-blnode-ext":true}`, secret, "")
	add("crit empty", `{"alg":"HS256","crit":[]}`, secret, "")
	add("crit not a list", `{"alg":"HS256","crit":"exp"}`, secret, "")
	add("exp negative", `{"alg":"HS256"}`, secret, `,"exp":-1`)
	add("exp huge", `{"alg":"HS256"}`, secret, `,"exp":1e30`)
	add("exp past year 9999", `{"alg":"HS256"}`, secret, `,"exp":253402300800`)
	add("exp a string", `{"alg":"HS256"}`, secret, `,"exp":"99999999999"`)
	add("exp NaN-like", `{"alg":"HS256"}`, secret, `,"exp":-1e400`)
	add("iat in the future", `{"alg":"HS256"}`, secret, fmt.Sprintf(`,"iat":%d`, time.Now().Add(time.Hour).Unix()))
	add("nbf in the future", `{"alg":"HS256"}`, secret, fmt.Sprintf(`,"nbf":%d`, time.Now().Add(time.Hour).Unix()))
	add("wrong secret", `{"alg":"HS256","typ":"JWT"}`, []byte("guessed"), "")

	// RS256 signed by an attacker's key, which the header points at.
	for _, h := range []struct{ name, header string }{
		{"jku header to the attacker's keys", `{"alg":"RS256","jku":"http://127.0.0.1:1/jwks.json"}`},
		{"x5u header to the attacker's certificate", `{"alg":"RS256","x5u":"http://127.0.0.1:1/cert.pem"}`},
		{"embedded jwk of the attacker", `{"alg":"RS256","jwk":{"kty":"RSA","n":"` +
			base64.RawURLEncoding.EncodeToString(attacker.N.Bytes()) + `","e":"AQAB"}}`},
	} {
		p, jti := payload("")
		enc := base64.RawURLEncoding
		signing := enc.EncodeToString([]byte(h.header)) + "." + enc.EncodeToString([]byte(p))
		sig, err := jwt.SigningMethodRS256.Sign(signing, attacker)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hostileToken{h.name, signing + "." + enc.EncodeToString(sig), jti})
	}

	// Malformed.
	valid, _ := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
	parts := strings.Split(valid, ".")
	out = append(out,
		hostileToken{name: "huge token", raw: strings.Repeat("a", 60<<10)},
		hostileToken{name: "huge valid-looking token", raw: parts[0] + "." + strings.Repeat("A", 40<<10) + "." + parts[2]},
		hostileToken{name: "two parts", raw: parts[0] + "." + parts[1]},
		hostileToken{name: "four parts", raw: valid + ".x"},
		hostileToken{name: "signature stripped", raw: parts[0] + "." + parts[1] + "."},
		hostileToken{name: "bad base64", raw: parts[0] + ".!!!." + parts[2]},
		hostileToken{name: "payload not JSON", raw: rawJWT(`{"alg":"HS256"}`, "not json", secret)},
		hostileToken{name: "payload an array", raw: rawJWT(`{"alg":"HS256"}`, `[1,2]`, secret)},
		hostileToken{name: "payload deeply nested", raw: rawJWT(`{"alg":"HS256"}`, `{"a":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`, secret)},
		hostileToken{name: "invalid UTF-8 payload", raw: rawJWT(`{"alg":"HS256"}`, "{\"jti\":\"\xff\xfe\",\"exp\":99999999999}", secret)},
	)
	return out
}

// reply is an answer read off the wire.
type reply struct {
	status int
	ctype  string
	body   []byte
}

func send(t testing.TB, req *http.Request) reply {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

func newReq(t testing.TB, method, url, ctype, body string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// wantRefused fails unless r is a 4xx with a JSON body.
func wantRefused(t testing.TB, what string, r reply) {
	t.Helper()
	if r.status < 400 || r.status >= 500 {
		t.Errorf("%s: %d %.300s, want a 4xx", what, r.status, r.body)
		return
	}
	if r.status == http.StatusRequestHeaderFieldsTooLarge {
		return // net/http's own answer, before any handler
	}
	if r.ctype != "application/json" || !json.Valid(r.body) {
		t.Errorf("%s: %d with Content-Type %q and body %.300q, want a JSON error", what, r.status, r.ctype, r.body)
	}
}

// tokenRoute is a route that takes a token, and how it tells a refusal.
type tokenRoute struct {
	name   string
	send   func(t testing.TB, url, tok string) reply
	refuse func(r reply) bool // besides a 4xx: the route's documented 200 refusal
}

func jsonField(field string) func(t testing.TB, url, tok string) reply {
	return func(t testing.TB, url, tok string) reply {
		return send(t, newReq(t, http.MethodPost, url, "application/json", `{"`+field+`":`+jsonString(tok)+`}`))
	}
}

func tokenRoutes() []tokenRoute {
	form := func(path string, hdr ...string) func(t testing.TB, base, tok string) reply {
		return func(t testing.TB, base, tok string) reply {
			return send(t, newReq(t, http.MethodPost, base+path, "application/x-www-form-urlencoded", "token="+url.QueryEscape(tok), hdr...))
		}
	}
	path := func(p string, f func(t testing.TB, url, tok string) reply) func(t testing.TB, url, tok string) reply {
		return func(t testing.TB, base, tok string) reply { return f(t, base+p, tok) }
	}
	never := func(reply) bool { return false }
	return []tokenRoute{
		{"POST /api/token/blacklist/", path("/api/token/blacklist/", jsonField("refresh")), never},
		{"POST /api/token/verify/", path("/api/token/verify/", jsonField("token")), never},
		{"POST /api/token/refresh/", path("/api/token/refresh/", jsonField("refresh")), never},
		{"POST /v1/blacklist", path("/v1/blacklist", jsonField("token")), never},
		{"POST /v1/outstanding", path("/v1/outstanding", jsonField("token")), never},
		// /v1/check always answers 200; it refuses with "valid": false.
		{"POST /v1/check", path("/v1/check", jsonField("token")), func(r reply) bool {
			var v struct{ Valid *bool }
			return r.status == 200 && json.Unmarshal(r.body, &v) == nil && v.Valid != nil && !*v.Valid
		}},
		// RFC 7662: an invalid token is {"active": false}.
		{"POST /oauth/introspect", form("/oauth/introspect", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("client:client-secret"))), func(r reply) bool {
			return r.status == 200 && strings.TrimSpace(string(r.body)) == `{"active":false}`
		}},
		// RFC 7009: 200 whatever the token; the test checks nothing was stored.
		{"POST /oauth/revoke", form("/oauth/revoke", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("client:client-secret"))), func(r reply) bool {
			return r.status == 200
		}},
		{"GET /auth (header)", func(t testing.TB, base, tok string) reply {
			return send(t, newReq(t, http.MethodGet, base+"/auth", "", "", "Authorization", "Bearer "+tok))
		}, never},
		{"GET /auth (cookie)", func(t testing.TB, base, tok string) reply {
			return send(t, newReq(t, http.MethodGet, base+"/auth", "", "", "Cookie", "jwt="+tok))
		}, never},
		{"POST /auth/prefix (header)", func(t testing.TB, base, tok string) reply {
			return send(t, newReq(t, http.MethodPost, base+"/auth/some/path", "", "", "Authorization", "Bearer "+tok))
		}, never},
	}
}

func TestHostileTokens(t *testing.T) {
	h := startHostileNode(t, node.HTTPLimits{})
	toks := hostileTokens(t, h.rsaPEM)
	tried := 0
	for _, rt := range tokenRoutes() {
		for _, tok := range toks {
			tried++
			r := rt.send(t, h.url, tok.raw)
			what := rt.name + " with " + tok.name
			if rt.refuse(r) {
				continue
			}
			wantRefused(t, what, r)
		}
	}
	// Nothing any of them sent was stored.
	for _, tok := range toks {
		if tok.jti == "" {
			continue
		}
		if b, err := h.n.Check(tok.jti); err != nil || b {
			t.Errorf("%s: jti %s is blacklisted (%v): a forged token was accepted", tok.name, tok.jti, err)
		}
		if _, err := h.n.Store().Lookup(tok.jti); err == nil {
			t.Errorf("%s: jti %s was stored: a forged token was accepted", tok.name, tok.jti)
		}
	}
	// The RSA key really verifies: a token it signs passes, so the
	// refusals above are not for want of a working RS256 setup.
	t.Logf("%d hostile tokens × %d routes: %d requests", len(toks), len(tokenRoutes()), tried)
}

// TestHostileBodies sends malformed bodies, content types and headers to
// every route.
func TestHostileBodies(t *testing.T) {
	h := startHostileNode(t, node.HTTPLimits{})
	valid, validJTI := sjwt.Token{Type: "refresh", User: 42}.Mint(secret)
	none := rawJWT(`{"alg":"none"}`, `{"token_type":"refresh","exp":99999999999,"jti":"forged-none","user_id":1}`, nil)
	big := strings.Repeat("a", 70<<10)
	nestedArr := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	nestedObj := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	adminHdr := []string{"Authorization", admin}

	type input struct {
		name, ctype, body string
		hdr               []string
	}
	// jsonInputs are bad bodies for a JSON route whose token field is f.
	jsonInputs := func(f string) []input {
		return []input{
			{"oversized body", "application/json", `{"` + f + `":"` + big + `"}`, nil},
			{"oversized body, no content type", "", big, nil},
			{"deeply nested array", "application/json", nestedArr, nil},
			{"deeply nested object", "application/json", nestedObj, nil},
			{"deeply nested field", "application/json", `{"` + f + `":` + nestedArr + `}`, nil},
			{"invalid UTF-8", "application/json", "{\"" + f + "\":\"\xff\xfe\xfd\"}", nil},
			{"invalid UTF-8 outside strings", "application/json", "{\"" + f + "\":\"x\"}\xff", nil},
			{"UTF-16", "application/json", "\xff\xfe{\x00}\x00", nil},
			{"byte order mark", "application/json", "\ufeff{\"" + f + "\":" + jsonString(valid) + "}", nil},
			{"text/plain", "text/plain", `{"` + f + `":` + jsonString(valid) + `}`, nil},
			{"application/xml", "application/xml", `<` + f + `>` + valid + `</` + f + `>`, nil},
			{"malformed content type", "application/json; charset=\"", `{"` + f + `":` + jsonString(valid) + `}`, nil},
			{"multipart without boundary", "multipart/form-data", "--x\r\n", nil},
			{"duplicate key, valid token first", "application/json", `{"` + f + `":` + jsonString(valid) + `,"` + f + `":"junk"}`, nil},
			{"duplicate key, valid token last", "application/json", `{"` + f + `":"junk","` + f + `":` + jsonString(valid) + `}`, nil},
			{"duplicate key, escaped spelling", "application/json", `{"` + f + `":"junk","\u00` + fmt.Sprintf("%x", f[0]) + f[1:] + `":` + jsonString(valid) + `}`, nil},
			{"duplicate key, nested", "application/json", `{"` + f + `":"junk","x":{"a":1,"a":2}}`, nil},
			{"token an object", "application/json", `{"` + f + `":{"$ne":null}}`, nil},
			{"token an array", "application/json", `{"` + f + `":[` + jsonString(valid) + `]}`, nil},
			{"token null", "application/json", `{"` + f + `":null}`, nil},
			{"token with NUL", "application/json", `{"` + f + `":"a\u0000b"}`, nil},
			{"token lone surrogate", "application/json", `{"` + f + `":"\udc00"}`, nil},
			{"token a huge number", "application/json", `{"` + f + `":1e999999}`, nil},
			{"alg none token", "application/json", `{"` + f + `":` + jsonString(none) + `}`, nil},
			{"two objects", "application/json", `{"` + f + `":"x"}{"` + f + `":"y"}`, nil},
			{"truncated", "application/json", `{"` + f + `":"`, nil},
			{"empty object", "application/json", `{}`, nil},
			{"oversized header", "application/json", `{"` + f + `":"x"}`, []string{"X-Big", strings.Repeat("b", 40<<10)}},
		}
	}
	type route struct {
		method, path string
		inputs       []input
	}
	checkRefusal := func(r reply) bool {
		var v struct{ Valid *bool }
		return r.status == 200 && json.Unmarshal(r.body, &v) == nil && v.Valid != nil && !*v.Valid
	}
	routes := []route{
		{"POST", "/api/token/blacklist/", jsonInputs("refresh")},
		{"POST", "/api/token/verify/", jsonInputs("token")},
		{"POST", "/api/token/refresh/", jsonInputs("refresh")},
		{"POST", "/v1/blacklist", append(jsonInputs("token"),
			input{"admin: exp negative", "application/json", `{"jti":"h-1","exp":-1}`, adminHdr},
			input{"admin: exp zero", "application/json", `{"jti":"h-2","exp":0}`, adminHdr},
			input{"admin: exp past year 9999", "application/json", `{"jti":"h-3","exp":253402300800}`, adminHdr},
			input{"admin: exp max int64", "application/json", `{"jti":"h-4","exp":9223372036854775807}`, adminHdr},
			input{"admin: exp overflows int64", "application/json", `{"jti":"h-5","exp":9223372036854775808}`, adminHdr},
			input{"admin: exp a float", "application/json", `{"jti":"h-6","exp":1.5e9}`, adminHdr},
			input{"admin: exp a string", "application/json", `{"jti":"h-7","exp":"2000000000"}`, adminHdr},
			input{"admin: jti too long", "application/json", `{"jti":"` + strings.Repeat("j", 256) + `","exp":2000000000}`, adminHdr},
			input{"admin: jti invalid UTF-8", "application/json", "{\"jti\":\"\xff\",\"exp\":2000000000}", adminHdr},
			input{"admin: user with NUL", "application/json", `{"jti":"h-8","exp":2000000000,"user":"a\u0000b"}`, adminHdr},
			input{"admin: duplicate jti", "application/json", `{"jti":"h-9","jti":"h-10","exp":2000000000}`, adminHdr},
			input{"admin: unknown field", "application/json", `{"jti":"h-11","exp":2000000000,"admin":true}`, adminHdr},
			input{"jti without the admin token", "application/json", `{"jti":"h-12","exp":2000000000}`, nil},
			input{"jti with a wrong admin token", "application/json", `{"jti":"h-13","exp":2000000000}`, []string{"Authorization", "Bearer admin-secreT"}},
		)},
		{"POST", "/v1/check", append(jsonInputs("token"),
			input{"jti too long", "application/json", `{"jti":"` + strings.Repeat("j", 70<<10) + `"}`, nil},
			input{"neither token nor jti", "application/json", `{"x":1}`, nil},
		)},
		{"POST", "/v1/outstanding", jsonInputs("token")},
		{"POST", "/v1/users/u1/revoke", []input{
			{"not_before negative", "application/json", `{"not_before":-1}`, adminHdr},
			{"not_before past year 9999", "application/json", `{"not_before":253402300800}`, adminHdr},
			{"not_before max int64", "application/json", `{"not_before":9223372036854775807}`, adminHdr},
			{"not_before a float", "application/json", `{"not_before":1e300}`, adminHdr},
			{"duplicate not_before", "application/json", `{"not_before":1,"not_before":2}`, adminHdr},
			{"text/plain", "text/plain", `{}`, adminHdr},
			{"oversized body", "application/json", `{"x":"` + big + `"}`, adminHdr},
			{"deeply nested", "application/json", nestedObj, adminHdr},
			{"no admin token", "application/json", `{}`, nil},
			{"admin token in a cookie", "application/json", `{}`, []string{"Cookie", "admin=admin-secret"}},
		}},
		{"POST", "/v1/users/a%00b/revoke", []input{{"user with NUL", "application/json", `{}`, adminHdr}}},
		{"POST", "/v1/sessions/s1/revoke", []input{
			{"not_before negative", "application/json", `{"not_before":-1}`, adminHdr},
			{"not_before max int64", "application/json", `{"not_before":9223372036854775807}`, adminHdr},
			{"issuer on a session", "application/json", `{"issuer":"x"}`, adminHdr},
			{"text/plain", "text/plain", `{}`, adminHdr},
			{"oversized body", "application/json", `{"x":"` + big + `"}`, adminHdr},
			{"deeply nested", "application/json", nestedObj, adminHdr},
			{"no admin token", "application/json", `{}`, nil},
		}},
		{"POST", "/v1/sessions/" + strings.Repeat("s", 256) + "/revoke", []input{{"session too long", "application/json", `{}`, adminHdr}}},
		{"POST", "/v1/clients/c1/revoke", []input{
			{"duplicate not_before", "application/json", `{"not_before":1,"not_before":2}`, adminHdr},
			{"not_before a string", "application/json", `{"not_before":"1"}`, adminHdr},
			{"no admin token", "application/json", `{}`, nil},
		}},
		{"POST", "/v1/issuer/revoke", []input{
			{"no body", "application/json", ``, adminHdr},
			{"issuer missing", "application/json", `{}`, adminHdr},
			{"issuer null", "application/json", `{"issuer":null}`, adminHdr},
			{"issuer a number", "application/json", `{"issuer":1}`, adminHdr},
			{"issuer too long", "application/json", `{"issuer":"` + strings.Repeat("i", 1025) + `"}`, adminHdr},
			{"unknown field", "application/json", `{"issuer":"","all":true}`, adminHdr},
			{"no admin token", "application/json", `{"issuer":""}`, nil},
		}},
		{"GET", "/v1/blacklist/" + strings.Repeat("j", 256), []input{{"jti too long", "", "", nil}}},
		{"GET", "/v1/blacklist/%ff%fe", []input{{"jti invalid UTF-8", "", "", nil}}},
		{"GET", "/v1/tokens?limit=0", []input{{"limit 0", "", "", adminHdr}}},
		{"GET", "/v1/tokens?limit=1001", []input{{"limit too high", "", "", adminHdr}}},
		{"GET", "/v1/tokens?limit=-1", []input{{"limit negative", "", "", adminHdr}}},
		{"GET", "/v1/tokens?limit=99999999999999999999", []input{{"limit overflows", "", "", adminHdr}}},
		{"GET", "/v1/tokens?blacklisted=maybe", []input{{"blacklisted not a bool", "", "", adminHdr}}},
		{"GET", "/v1/tokens?expired=%ff", []input{{"expired invalid UTF-8", "", "", adminHdr}}},
		{"GET", "/v1/tokens", []input{
			{"no admin token", "", "", nil},
			{"basic auth", "", "", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:admin-secret"))}},
			{"bearer without space", "", "", []string{"Authorization", "Beareradmin-secret"}},
			{"admin token with a trailing letter", "", "", []string{"Authorization", admin + "x"}},
			{"admin token lower case scheme", "", "", []string{"Authorization", "bearer admin-secreT"}},
			{"oversized header", "", "", []string{"Authorization", "Bearer " + strings.Repeat("x", 40<<10)}},
		}},
		{"GET", "/v1/status", []input{{"no admin token", "", "", nil}, {"wrong admin token", "", "", []string{"Authorization", "Bearer x"}}}},
		{"POST", "/v1/flush", []input{{"no admin token", "", "", nil}}},
		{"GET", "/v1/flush", []input{{"wrong method", "", "", adminHdr}}},
		{"PROPFIND", "/v1/check", []input{{"unknown method", "", "", nil}}},
		{"DELETE", "/api/token/verify/", []input{{"wrong method", "", "", nil}}},
		{"POST", "/healthz", []input{{"wrong method", "application/json", "{}", nil}}},
		{"POST", "/readyz", []input{{"wrong method", "application/json", "{}", nil}}},
		{"GET", "/healthz", []input{{"oversized header", "", "", []string{"X-Big", strings.Repeat("b", 40<<10)}}}},
		{"GET", "/nope", []input{{"unknown route", "", "", nil}}},
		{"GET", "/v1/blacklist/..%2f..%2fetc%2fpasswd%00", []input{{"path traversal in a jti", "", "", []string{"Authorization", "Bearer x"}}}},
		{"POST", "/oauth/revoke", []input{
			{"oversized body", "application/x-www-form-urlencoded", "token=" + big, nil},
			{"JSON body", "application/json", `{"token":` + jsonString(valid) + `}`, nil},
			{"invalid UTF-8", "application/x-www-form-urlencoded", "token=\xff\xfe", nil},
			{"malformed form", "application/x-www-form-urlencoded", "token=%zz", nil},
			{"repeated token", "application/x-www-form-urlencoded", "token=" + valid + "&token=" + none, nil},
			{"no token", "application/x-www-form-urlencoded", "token_type_hint=refresh_token", nil},
			{"no client credentials", "application/x-www-form-urlencoded", "token=" + valid, []string{"Authorization", ""}},
			{"wrong client secret", "application/x-www-form-urlencoded", "token=" + valid, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("client:wrong"))}},
			{"bad basic base64", "application/x-www-form-urlencoded", "token=" + valid, []string{"Authorization", "Basic !!!"}},
		}},
		{"POST", "/oauth/introspect", []input{
			{"oversized body", "application/x-www-form-urlencoded", "token=" + big, adminHdr},
			{"JSON body", "application/json", `{"token":` + jsonString(valid) + `}`, adminHdr},
			{"repeated token", "application/x-www-form-urlencoded", "token=a&token=b", adminHdr},
			{"no credentials", "application/x-www-form-urlencoded", "token=" + valid, nil},
			{"client id with NUL", "application/x-www-form-urlencoded", "token=" + valid, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("cli\x00ent:client-secret"))}},
		}},
		{"GET", "/auth", []input{
			{"no token", "", "", nil},
			{"basic scheme", "", "", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}},
			{"bearer with nothing", "", "", []string{"Authorization", "Bearer"}},
			{"bearer invalid UTF-8", "", "", []string{"Authorization", "Bearer \xff\xfe.\xfd.\xfc"}},
			{"refresh token (wrong type)", "", "", []string{"Authorization", "Bearer " + valid}},
			{"oversized header", "", "", []string{"Authorization", "Bearer " + strings.Repeat("x", 40<<10)}},
			{"cookie garbage", "", "", []string{"Cookie", "jwt=\"unterminated; jwt=;;; ==; jwt=%00%ff"}},
		}},
	}
	// The routes whose documented refusal is a 200: /v1/check says
	// "valid": false; a jti that cannot be a token is not blacklisted.
	refusals := map[string]func(reply) bool{
		"/v1/check": checkRefusal,
		"/v1/blacklist/..%2f..%2fetc%2fpasswd%00": func(r reply) bool {
			return r.status == 200 && strings.Contains(string(r.body), `"blacklisted":false`)
		},
	}
	tried := 0
	for _, rt := range routes {
		for _, in := range rt.inputs {
			tried++
			r := send(t, newReq(t, rt.method, h.url+rt.path, in.ctype, in.body, in.hdr...))
			what := fmt.Sprintf("%s %.60s: %s", rt.method, rt.path, in.name)
			if refuse := refusals[rt.path]; refuse != nil && refuse(r) {
				continue
			}
			if rt.path == "/oauth/revoke" && r.status == 200 && in.name == "repeated token" {
				t.Errorf("%s: 200, want 400 for a repeated parameter", what)
				continue
			}
			wantRefused(t, what, r)
		}
	}
	if b, _ := h.n.Check(validJTI); b {
		t.Errorf("the valid token was blacklisted by one of the bad requests")
	}
	for i := 1; i <= 13; i++ {
		if _, err := h.n.Store().Lookup(fmt.Sprint("h-", i)); err == nil {
			t.Errorf("h-%d was stored by a request that was refused", i)
		}
	}
	t.Logf("%d bad requests over %d routes", tried, len(routes))
}

// TestHostileAdminAndMetricsNeverFail sends junk to the admin pages and
// the metrics endpoint, whichever exist: whatever they answer, it is never
// a 5xx.
func TestHostileAdminAndMetricsNeverFail(t *testing.T) {
	h := startHostileNode(t, node.HTTPLimits{})
	paths := []string{"/admin", "/admin/", "/admin/login", "/admin/logout", "/admin/tokens", "/admin/tokens/x", "/admin/blacklist",
		"/admin/flush", "/admin/users/u/revoke", "/admin/static/../../etc/passwd", "/metrics"}
	inputs := []struct {
		name, method, ctype, body string
		hdr                       []string
	}{
		{"GET", "GET", "", "", nil},
		{"cookie garbage", "GET", "", "", []string{"Cookie", "blnode_admin=\"%00%ff; blnode_admin=" + strings.Repeat("s", 4000) + ";;; =="}},
		{"session cookie of another node", "GET", "", "", []string{"Cookie", "blnode_admin=" + base64.RawURLEncoding.EncodeToString(make([]byte, 32))}},
		{"POST without CSRF", "POST", "application/x-www-form-urlencoded", "token=admin-secret&jti=x&exp=1", nil},
		{"POST form oversized", "POST", "application/x-www-form-urlencoded", "token=" + strings.Repeat("a", 2<<20), nil},
		{"POST invalid UTF-8", "POST", "application/x-www-form-urlencoded", "token=\xff\xfe", nil},
		{"POST JSON", "POST", "application/json", `{"token":"admin-secret"}`, nil},
		{"POST multipart junk", "POST", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n", nil},
		{"wrong admin token", "GET", "", "", []string{"Authorization", "Bearer nope"}},
		{"huge query", "GET", "", "", nil},
	}
	tried := 0
	for _, p := range paths {
		for _, in := range inputs {
			u := h.url + p
			if in.name == "huge query" {
				u += "?q=" + strings.Repeat("%ff", 2000) + "&limit=-1&cursor=%00"
			}
			tried++
			r := send(t, newReq(t, in.method, u, in.ctype, in.body, in.hdr...))
			if r.status >= 500 {
				t.Errorf("%s %s (%s): %d %.300s", in.method, p, in.name, r.status, r.body)
			}
		}
	}
	t.Logf("%d requests to the admin pages and /metrics", tried)
}

// slowConn dials the server and fails the test if that fails.
func slowConn(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads from c until the server closes it (EOF or reset),
// failing the test if that does not happen within d. It returns what the
// server sent first.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v (read %q)", d, b)
	}
	return string(b)
}

// TestSlowClientsAreCutOff: with short limits, a client that sends its
// headers slowly (slowloris), one that stalls in its body, and an idle
// keep-alive connection are all disconnected by the server.
func TestSlowClientsAreCutOff(t *testing.T) {
	limits := node.HTTPLimits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond,
		WriteTimeout: 2 * time.Second, IdleTimeout: 300 * time.Millisecond}
	h := startHostileNode(t, limits)

	t.Run("headers never finished", func(t *testing.T) {
		c := slowConn(t, h.url)
		if _, err := io.WriteString(c, "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"); err != nil {
			t.Fatal(err)
		}
		closedWithin(t, c, 10*time.Second)
	})

	t.Run("headers dripped", func(t *testing.T) {
		// One header line every 20ms, for at most 500 lines (10s): the
		// server must hang up long before, at its 200ms header deadline,
		// although bytes keep arriving.
		c := slowConn(t, h.url)
		closed := make(chan struct{})
		go func() { defer close(closed); io.Copy(io.Discard, c) }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		sent := 0
	drip:
		for sent < 500 {
			select {
			case <-closed:
				break drip
			case <-tick.C:
				if _, err := fmt.Fprintf(c, "X-Drip-%d: x\r\n", sent); err != nil {
					break drip
				}
				sent++
			}
		}
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("the server never closed a connection whose headers never ended")
		}
		if sent >= 500 {
			t.Fatalf("the server took all %d dripped header lines", sent)
		}
		t.Logf("cut off after %d dripped header lines", sent)
	})

	t.Run("body stalls", func(t *testing.T) {
		c := slowConn(t, h.url)
		if _, err := io.WriteString(c, "POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"tok"); err != nil {
			t.Fatal(err)
		}
		got := closedWithin(t, c, 10*time.Second)
		if got != "" {
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Fatalf("the server answered a stalled body with %q: %v", got, err)
			}
			if resp.StatusCode >= 500 {
				t.Errorf("a stalled body got %d", resp.StatusCode)
			}
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c := slowConn(t, h.url)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("healthz: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("the server sent bytes on an idle connection")
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server kept an idle connection open for 10s")
		}
	})
}

// FuzzForwardAuth feeds arbitrary Authorization and Cookie headers to the
// forward-auth check and the admin pages: each answers below 500, and /auth
// with a JSON body.
func FuzzForwardAuth(f *testing.F) {
	n, _ := newNode(f, func(c *node.Config) { c.AuthCookie = "jwt" })
	h := n.Handler()
	tok, _ := sjwt.Token{Type: "access", User: 1}.Mint(secret)
	for i, seed := range []struct{ auth, cookie string }{
		{"Bearer " + tok, ""},
		{"", "jwt=" + tok},
		{"", "jwt=Bearer " + tok},
		{"bearer   " + tok + "  ", ""},
		{"Basic YTpi", "jwt=\"x\""},
		{"Bearer \xff", "jwt=;;;"},
		{admin, "blnode_admin=abc"},
		{"", "blnode_admin=" + strings.Repeat("A", 43)},
	} {
		f.Add(uint8(i), seed.auth, seed.cookie)
	}
	paths := []string{"/auth", "/auth/x", "/admin/", "/admin/tokens"}
	f.Fuzz(func(t *testing.T, route uint8, auth, cookie string) {
		path := paths[int(route)%len(paths)]
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s auth %q cookie %q: %d %s", path, auth, cookie, rec.Code, rec.Body)
		}
		if strings.HasPrefix(path, "/auth") {
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: content type %q, body %q", path, ct, rec.Body)
			}
		}
	})
}
