//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node/options"
)

// Access control at the process level: secrets never logged, the files the
// node makes are private even under umask 000, HTTPS with --tls-cert and
// --tls-key, NATS over TLS with a password.

// startServeWith starts "blnode serve" like startServe, but with the
// environment additions env, under umask 000 when umask0, and checks its
// health with client at the URL of its "listening" line (https with
// --tls-cert).
func startServeWith(t *testing.T, bin string, client *http.Client, env []string, umask0 bool, args ...string) *serveProc {
	t.Helper()
	p, err := launchServe(t, bin, client, env, umask0, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launchServe is startServeWith returning an error, with the process's
// log, instead of failing the test when the node does not come up;
// t.Cleanup kills the process if the test has not stopped it.
func launchServe(t *testing.T, bin string, client *http.Client, env []string, umask0 bool, args ...string) (*serveProc, error) {
	path, argv := bin, append([]string{"serve", "--http", "127.0.0.1:0", "--log-format", "json"}, args...)
	if umask0 {
		path, argv = "/bin/sh", append([]string{"-c", `umask 000 && exec "$0" "$@"`, bin}, argv...)
	}
	cp, err := child.Start(context.Background(), child.Config{Name: "serve", Path: path, Args: argv, Env: append(cleanEnv(), env...)})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = cp.Kill() })
	p := &serveProc{Process: cp}
	p.url, err = p.AwaitLine(context.Background(), 30*time.Second, func(line string) string {
		var rec struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" {
			return ""
		}
		return rec.URL
	})
	if err != nil {
		return nil, fmt.Errorf("no listening log line: %v:\n%s", err, p.Output())
	}
	err = poll.Until(context.Background(), 15*time.Second, pollEvery, func() error {
		resp, err := client.Get(p.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("healthz %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("serve listening at %s is not healthy: %v", p.url, err)
	}
	return p, nil
}

// call sends a request and returns the status and body.
func call(t *testing.T, c *http.Client, method, u, ctype, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func jsonBody(field, tok string) string {
	b, _ := json.Marshal(map[string]string{field: tok})
	return string(b)
}

// TestProcessSecretsNeverLogged runs a full node (embedded NATS, JSON logs,
// umask 000) through a realistic session — register, verify, refresh with
// rotation, reuse of a rotated token, forward auth, OAuth revocation and
// introspection, Simple JWT blacklist, the CLI, admin calls, and errors
// with wrong credentials and forged tokens — then scans every log line of
// the node, mint and the CLI for every raw token, the signature of each,
// the HS secret, the admin token, the OAuth client secret and the wrong
// credentials tried. It also checks the modes of what the node created.
func TestProcessSecretsNeverLogged(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	const (
		hsSecret     = "log-scan-hs-secret-7f3a9c1e5b2d4f6a8c0e"
		admin        = "log-scan-admin-token-2b4d6f8a0c1e3a5c"
		clientSecret = "log-scan-client-secret-9e8d7c6b5a4f"
		wrongAdmin   = "log-scan-wrong-admin-1a2b3c4d5e6f"
		wrongClient  = "log-scan-wrong-client-6f5e4d3c2b1a"
	)
	files := map[string]string{"hs": hsSecret, "admin": admin, "clients": "client:" + clientSecret}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	hsFile, adminFile := filepath.Join(dir, "hs"), filepath.Join(dir, "admin")
	c := &http.Client{Timeout: 10 * time.Second}
	p := startServeWith(t, bin, c, nil, true, "--data", data, "--hs-secret-file", hsFile, "--admin-token-file", adminFile,
		"--oauth-clients-file", filepath.Join(dir, "clients"), "--auth-cookie", "jwt")
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(p.url+"/readyz", http.StatusOK) })

	var toks, otherLogs []string
	mint := func(typ string, extra ...string) string {
		t.Helper()
		out, stderr, code := runBin(t, bin, append([]string{"mint", "--hs-secret-file", hsFile, "--type", typ, "--user", "42"}, extra...)...)
		if code != 0 {
			t.Fatalf("mint: %d %s", code, stderr)
		}
		otherLogs = append(otherLogs, stderr) // stdout is the token itself
		tok := strings.TrimSpace(out)
		toks = append(toks, tok)
		return tok
	}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	form := "application/x-www-form-urlencoded"
	js := "application/json"
	want := func(what string, got, status int, body string) {
		t.Helper()
		if got != status {
			t.Errorf("%s: %d %s, want %d", what, got, body, status)
		}
	}

	r1, r2, r3, a1 := mint("refresh"), mint("refresh"), mint("refresh"), mint("access")
	expired := mint("access", "--ttl", "-1h")
	st, body := call(t, c, "POST", p.url+"/v1/outstanding", js, jsonBody("token", r1))
	want("register", st, 200, body)
	st, body = call(t, c, "POST", p.url+"/api/token/verify/", js, jsonBody("token", r1))
	want("verify", st, 200, body)
	st, body = call(t, c, "POST", p.url+"/api/token/refresh/", js, jsonBody("refresh", r1))
	want("refresh", st, 200, body)
	var pair struct{ Access, Refresh string }
	if err := json.Unmarshal([]byte(body), &pair); err != nil || pair.Access == "" || pair.Refresh == "" {
		t.Fatalf("refresh answered %s", body)
	}
	toks = append(toks, pair.Access, pair.Refresh)
	st, body = call(t, c, "POST", p.url+"/api/token/refresh/", js, jsonBody("refresh", r1))
	want("reuse of a rotated token", st, 401, body)
	st, body = call(t, c, "GET", p.url+"/auth", "", "", "Authorization", "Bearer "+a1)
	want("forward auth", st, 200, body)
	st, body = call(t, c, "GET", p.url+"/auth", "", "", "Cookie", "jwt="+pair.Access)
	want("forward auth of the revoked family", st, 401, body)
	st, body = call(t, c, "POST", p.url+"/oauth/introspect", form, "token="+url.QueryEscape(a1), "Authorization", basic("client", clientSecret))
	want("introspect", st, 200, body)
	st, body = call(t, c, "POST", p.url+"/oauth/revoke", form, "token="+url.QueryEscape(r2), "Authorization", basic("client", clientSecret))
	want("oauth revoke", st, 200, body)
	st, body = call(t, c, "POST", p.url+"/api/token/blacklist/", js, jsonBody("refresh", r3))
	want("simple jwt blacklist", st, 200, body)
	st, body = call(t, c, "POST", p.url+"/v1/check", js, jsonBody("token", r3))
	want("check", st, 200, body)
	st, body = call(t, c, "POST", p.url+"/v1/users/42/revoke", "", "", "Authorization", "Bearer "+admin)
	want("revoke user", st, 200, body)
	st, body = call(t, c, "GET", p.url+"/v1/tokens?user=42", "", "", "Authorization", "Bearer "+admin)
	want("list", st, 200, body)
	st, body = call(t, c, "GET", p.url+"/v1/status", "", "", "Authorization", "Bearer "+admin)
	want("status", st, 200, body)

	// Errors: wrong credentials, forged and malformed tokens.
	parts := strings.Split(a1, ".")
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("forged-signature-bytes-0123456789"))
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	toks = append(toks, forged, none)
	st, body = call(t, c, "GET", p.url+"/v1/status", "", "", "Authorization", "Bearer "+wrongAdmin)
	want("wrong admin token", st, 401, body)
	st, body = call(t, c, "POST", p.url+"/oauth/introspect", form, "token="+url.QueryEscape(a1), "Authorization", basic("client", wrongClient))
	want("wrong client secret", st, 401, body)
	for _, tok := range []string{forged, none, expired, a1 + "x"} {
		st, body = call(t, c, "POST", p.url+"/api/token/verify/", js, jsonBody("token", tok))
		want("verify of a bad token", st, 401, body)
		st, body = call(t, c, "GET", p.url+"/auth", "", "", "Authorization", "Bearer "+tok)
		want("forward auth of a bad token", st, 401, body)
		st, body = call(t, c, "POST", p.url+"/api/token/blacklist/", js, jsonBody("refresh", tok))
		want("blacklist of a bad token", st, 401, body)
	}
	st, body = call(t, c, "POST", p.url+"/api/token/verify/", "text/plain", a1)
	want("wrong content type", st, 415, body)

	// The CLI, which gets the token as an argument.
	r4 := mint("refresh")
	out, stderr, code := runBin(t, bin, "blacklist", r4, "--server", p.url)
	if code != 0 {
		t.Errorf("blnode blacklist: %d %s %s", code, out, stderr)
	}
	otherLogs = append(otherLogs, stderr)
	out, stderr, code = runBin(t, bin, "check", r4, "--server", p.url)
	if code != 2 {
		t.Errorf("blnode check of a blacklisted token: %d %s %s", code, out, stderr)
	}
	otherLogs = append(otherLogs, stderr)
	p.stop(t)

	secrets := map[string]string{"HS secret": hsSecret, "admin token": admin, "OAuth client secret": clientSecret,
		"wrong admin token": wrongAdmin, "wrong client secret": wrongClient}
	for i, tok := range toks {
		secrets[fmt.Sprintf("token %d", i)] = tok
		if sig := tok[strings.LastIndexByte(tok, '.')+1:]; len(sig) >= 16 {
			secrets[fmt.Sprintf("signature of token %d", i)] = sig
		}
	}
	for name, text := range map[string]string{"serve": p.Output(), "mint and CLI": strings.Join(otherLogs, "\n")} {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the %s log shows the %s", name, what)
			}
		}
	}
	if lines := strings.Count(p.Output(), "\n"); lines < 10 {
		t.Errorf("only %d log lines: the scan saw too little", lines)
	}
	t.Logf("%d log lines scanned for %d secrets and tokens", strings.Count(p.Output(), "\n"), len(secrets))

	// Under umask 000 the node still made its files private.
	checkMode := func(path string, want fs.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	checkMode(data, 0o700)
	checkMode(filepath.Join(data, "blnode.db"), 0o600)
	filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s: mode %v lets others in", path, fi.Mode().Perm())
		}
		return nil
	})

	// The development secret, made when no key is given, is 0600 too.
	dev := filepath.Join(dir, "devdata")
	p2 := startServeWith(t, bin, c, nil, true, "--data", dev, "--no-nats")
	p2.stop(t)
	checkMode(dev, 0o700)
	checkMode(filepath.Join(dev, options.DevSecretFile), 0o600)
}

// certAuthority is a CA made by the test.
type certAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *certAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "blnode test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certAuthority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a server certificate for 127.0.0.1 signed by ca (self-signed
// when ca is nil) and writes it and its key to dir; it returns the paths
// and the certificate's PEM.
func issue(t *testing.T, ca *certAuthority, dir, name string) (certFile, keyFile string, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	} else {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, certPEM
}

func tlsClient(rootPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestProcessHTTPS serves HTTPS with --tls-cert and --tls-key (a
// self-signed certificate made here); a client that trusts it verifies
// the server, one that does not refuses it, and plain HTTP gets a 400.
func TestProcessHTTPS(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	certFile, keyFile, certPEM := issue(t, nil, dir, "server")
	c := tlsClient(certPEM)
	p := startServeWith(t, bin, c, nil, false, "--data", filepath.Join(dir, "data"), "--no-nats", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(p.url, "https://127.0.0.1:") {
		t.Fatalf("listening URL %q, want https", p.url)
	}
	tok, _, _ := mintBin(t, bin, filepath.Join(dir, "data"))
	if st, body := call(t, c, "POST", p.url+"/api/token/verify/", "application/json", jsonBody("token", tok)); st != 200 || body != "{}" {
		t.Errorf("verify over HTTPS: %d %s", st, body)
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.url + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not trust the certificate: %v, want a certificate error", err)
	}
	plain := "http://" + strings.TrimPrefix(p.url, "https://")
	if st, body := call(t, &http.Client{Timeout: 5 * time.Second}, "GET", plain+"/healthz", "", ""); st != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS port: %d %s, want 400", st, body)
	}
	p.stop(t)

	// A certificate without its key is refused at start, naming the flags.
	_, stderr, code := runBin(t, bin, "serve", "--data", filepath.Join(dir, "data"), "--no-nats", "--http", "127.0.0.1:0", "--tls-cert", certFile)
	if code != 1 || !strings.Contains(stderr, "--tls-cert and --tls-key go together") {
		t.Errorf("--tls-cert alone: exit %d, %s", code, stderr)
	}
	_, stderr, code = runBin(t, bin, "serve", "--data", filepath.Join(dir, "data"), "--no-nats", "--http", "127.0.0.1:0", "--tls-cert", keyFile, "--tls-key", keyFile)
	if code != 1 || !strings.Contains(stderr, "--tls-cert") {
		t.Errorf("a key given as the certificate: exit %d, %s", code, stderr)
	}
}

// TestProcessNATSOverTLSWithPassword runs a NATS server that requires TLS
// (a CA and a server certificate made here) and a user and password;
// blnode connects with --nats-tls-ca, --nats-user and --nats-password and
// its events make the round trip. Without the CA, or with a wrong
// password, a node does not connect. The password never reaches the log.
func TestProcessNATSOverTLSWithPassword(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	ca := newCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, _ := issue(t, ca, dir, "nats")
	const password = "nats-password-5d4c3b2a1f0e"
	s := eventstest.RunServerWithConfig(t, fmt.Sprintf("listen: 127.0.0.1:-1\njetstream: {store_dir: %q}\n"+
		"tls: {cert_file: %q, key_file: %q, timeout: 5}\nauthorization: {user: blnode, password: %q}\n",
		filepath.Join(dir, "js"), certFile, keyFile, password))
	const admin = "nats-tls-admin-token-0123456789"
	adminFile := filepath.Join(dir, "admin")
	if err := os.WriteFile(adminFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	node := func(name string, extra ...string) *serveProc {
		return startServeWith(t, bin, c, nil, false, append([]string{"--data", filepath.Join(dir, name), "--nats", s.ClientURL(),
			"--admin-token-file", adminFile}, extra...)...)
	}
	good := node("good", "--nats-tls-ca", caFile, "--nats-user", "blnode", "--nats-password", password)
	noCA := node("no-ca", "--nats-user", "blnode", "--nats-password", password)
	wrongPW := node("wrong-pw", "--nats-tls-ca", caFile, "--nats-user", "blnode", "--nats-password", "not-"+password)

	st, body := call(t, c, "POST", good.url+"/v1/blacklist", "application/json", `{"jti":"over-tls","exp":4000000000}`, "Authorization", "Bearer "+admin)
	if st != 200 {
		t.Fatalf("blacklist: %d %s", st, body)
	}
	// The event went out through TLS and came back: applied from the stream.
	poll.For(t, 30*time.Second, pollEvery, func() error {
		st, err := getStatus(c, good.url, admin)
		if err != nil {
			return err
		}
		if st.NATS != "connected" || st.LastApplied < 1 || st.OutboxDepth != 0 {
			return fmt.Errorf("status %+v: want connected, the event applied", st)
		}
		return nil
	})
	for name, p := range map[string]*serveProc{"without the CA": noCA, "with a wrong password": wrongPW} {
		st, err := getStatus(c, p.url, admin)
		if err != nil {
			t.Fatal(err)
		}
		if st.NATS != "disconnected" {
			t.Errorf("a node %s: NATS %s, want disconnected", name, st.NATS)
		}
	}
	stopAll(t, map[string]*serveProc{"good": good, "no CA": noCA, "wrong password": wrongPW})
	for name, p := range map[string]*serveProc{"good": good, "no CA": noCA, "wrong password": wrongPW} {
		if strings.Contains(p.Output(), password) {
			t.Errorf("the %s node's log shows the NATS password", name)
		}
	}
	if !bytes.Contains([]byte(good.Output()), []byte(`"msg":"connected to NATS"`)) {
		t.Errorf("no \"connected to NATS\" line in the good node's log:\n%s", good.Output())
	}
}
