//go:build unix

package hydratest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// Client is an OAuth 2.0 client registered in Hydra.
type Client struct {
	ID, Secret  string
	RedirectURI string   // of an authorization-code client
	Audience    []string // the audiences its access tokens are for (aud); none when empty
}

// RedirectURI is where an authorization-code client's codes go: it is read
// from the redirect, never fetched.
const RedirectURI = "http://127.0.0.1:9/callback"

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateClient registers a client (POST /admin/clients) with the grant
// types given ("client_credentials", "authorization_code",
// "refresh_token"), allowed the scopes of scope (space separated), with a
// random id and secret, authenticating with HTTP Basic; one allowed the
// authorization code gets RedirectURI.
func (h *Hydra) CreateClient(t testing.TB, scope string, grantTypes ...string) Client {
	t.Helper()
	return h.CreateClientFor(t, nil, scope, grantTypes...)
}

// CreateClientFor is CreateClient for a client whose access tokens are
// for audience: its tokens ask for every one of them, and carry them in
// aud (without one, Hydra's access tokens have an empty aud).
func (h *Hydra) CreateClientFor(t testing.TB, audience []string, scope string, grantTypes ...string) Client {
	t.Helper()
	c := Client{ID: "client-" + randomHex(6), Secret: randomHex(16), Audience: audience}
	body := map[string]any{
		"client_id": c.ID, "client_secret": c.Secret, "grant_types": grantTypes, "scope": scope,
		"token_endpoint_auth_method": "client_secret_basic", "audience": audience,
	}
	if audience == nil {
		body["audience"] = []string{}
	}
	for _, g := range grantTypes {
		if g == "authorization_code" {
			c.RedirectURI = RedirectURI
			body["redirect_uris"] = []string{RedirectURI}
			body["response_types"] = []string{"code"}
		}
	}
	h.call(t, http.MethodPost, h.AdminURL+"/admin/clients", body, nil, http.StatusCreated)
	return c
}

// Token is the answer of Hydra's token endpoint.
type Token struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
}

// token posts form to the token endpoint as client c.
func (h *Hydra) token(t testing.TB, c Client, form url.Values) Token {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.PublicURL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("hydratest: token endpoint: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("hydratest: token endpoint (%s): %d %s", form.Get("grant_type"), resp.StatusCode, b)
	}
	var tok Token
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("hydratest: token endpoint answered %s (%v)", b, err)
	}
	return tok
}

// ClientCredentials gets an access token for client c with the
// client-credentials grant, asking for scope (space separated; "" for
// none).
func (h *Hydra) ClientCredentials(t testing.TB, c Client, scope string) Token {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if len(c.Audience) > 0 {
		form.Set("audience", strings.Join(c.Audience, " "))
	}
	return h.token(t, c, form)
}

// AuthCode is the outcome of an authorization-code flow.
type AuthCode struct {
	Token
	Subject   string
	SessionID string // the login session's id, Hydra's sid (also in the id token)
}

// AuthorizationCode runs the authorization-code flow headlessly for
// client c and user subject, asking for scope (space separated) and the
// client's audience: the
// authorization request, whose redirect to the login app carries the
// login challenge; the test, as the login app, accepts it through the
// admin API; its redirect leads to the consent app's challenge, which the
// test accepts with the scopes asked for and the access-token claim sid =
// the consent request's login_session_id (top-level in the token, as the
// Start configures); the last redirect carries the code, exchanged at the
// token endpoint. Cookies go through a jar, as in a browser.
func (h *Hydra) AuthorizationCode(t testing.TB, c Client, subject, scope string) AuthCode {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: h.client.Timeout, CheckRedirect: h.client.CheckRedirect}
	state := randomHex(16)
	q := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURI},
		"scope": {scope}, "state": {state}, "nonce": {randomHex(16)}}
	if len(c.Audience) > 0 {
		q.Set("audience", strings.Join(c.Audience, " "))
	}
	loc := h.redirect(t, browser, h.PublicURL+"/oauth2/auth?"+q.Encode())
	challenge := param(t, loc, loginURL, "login_challenge")

	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	h.call(t, http.MethodPut, h.AdminURL+"/admin/oauth2/auth/requests/login/accept?login_challenge="+url.QueryEscape(challenge),
		map[string]any{"subject": subject, "remember": false}, &accepted, http.StatusOK)
	loc = h.redirect(t, browser, accepted.RedirectTo)
	challenge = param(t, loc, consentURL, "consent_challenge")

	var consent struct {
		RequestedScope    []string `json:"requested_scope"`
		RequestedAudience []string `json:"requested_access_token_audience"`
		LoginSessionID    string   `json:"login_session_id"`
		Subject           string   `json:"subject"`
	}
	h.call(t, http.MethodGet, h.AdminURL+"/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(challenge), nil, &consent, http.StatusOK)
	if consent.Subject != subject || consent.LoginSessionID == "" {
		t.Fatalf("hydratest: consent request for subject %q, login session %q: want subject %q and a session", consent.Subject, consent.LoginSessionID, subject)
	}
	h.call(t, http.MethodPut, h.AdminURL+"/admin/oauth2/auth/requests/consent/accept?consent_challenge="+url.QueryEscape(challenge),
		map[string]any{
			"grant_scope": consent.RequestedScope, "grant_access_token_audience": consent.RequestedAudience, "remember": false,
			"session": map[string]any{"access_token": map[string]any{"sid": consent.LoginSessionID}},
		}, &accepted, http.StatusOK)
	loc = h.redirect(t, browser, accepted.RedirectTo)
	if got := param(t, loc, c.RedirectURI, "state"); got != state {
		t.Fatalf("hydratest: state %q came back as %q", state, got)
	}
	code := param(t, loc, c.RedirectURI, "code")
	tok := h.token(t, c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURI}})
	return AuthCode{Token: tok, Subject: subject, SessionID: consent.LoginSessionID}
}

// redirect GETs u with browser and returns the Location of its redirect.
func (h *Hydra) redirect(t testing.TB, browser *http.Client, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatalf("hydratest: GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || loc == "" {
		t.Fatalf("hydratest: GET %s: %d %s, want a redirect", u, resp.StatusCode, b)
	}
	return loc
}

// param is query parameter name of loc, which must lead to prefix; an
// error parameter there fails the test with Hydra's description.
func param(t testing.TB, loc, prefix, name string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("hydratest: redirected to %s, want %s?%s=…", loc, prefix, name)
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("hydratest: redirected with error %s: %s %s", e, q.Get("error_description"), q.Get("error_hint"))
	}
	v := q.Get(name)
	if v == "" {
		t.Fatalf("hydratest: redirected to %s without %s", loc, name)
	}
	return v
}
