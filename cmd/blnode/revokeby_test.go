package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/blnode/blnode/node"
)

func TestRevokeByCommands(t *testing.T) {
	const admin = "admin-token-0123456789"
	url, n := testNode(t, admin)
	secret := []byte("0123456789abcdef0123456789abcdef")
	issued := time.Now().Add(-time.Minute)
	tok := func(claims jwt.MapClaims) string {
		claims["jti"], claims["iat"], claims["exp"] = fmt.Sprint(time.Now().UnixNano()), issued.Unix(), issued.Add(time.Hour).Unix()
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		t.Header["typ"] = "at+jwt"
		s, _ := t.SignedString(secret)
		return s
	}
	env := map[string]string{"BLNODE_SERVER": url}
	adminEnv := map[string]string{"BLNODE_SERVER": url, "BLNODE_ADMIN_TOKEN": admin}
	nb := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string // stdout, or a substring of stderr when code is 1
		code int
		tok  string // revoked afterwards, when set
	}{
		{"session", adminEnv, []string{"revoke-session", "s-1"}, "revoked session s-1: tokens issued before ", 0, tok(jwt.MapClaims{"sid": "s-1"})},
		{"session again", adminEnv, []string{"revoke-session", "s-1", "--not-before", "1700000000"}, "session s-1 was already revoked up to ", 0, ""},
		{"client with not-before", adminEnv, []string{"revoke-client", "--not-before", nb.Format(time.RFC3339), "c/1"},
			"revoked client c/1: tokens issued before " + nb.UTC().Format(time.RFC3339) + " are rejected\n", 0, tok(jwt.MapClaims{"client_id": "c/1"})},
		{"issuer", adminEnv, []string{"revoke-issuer", "--issuer", "https://i/"}, "revoked issuer https://i/: ", 0, tok(jwt.MapClaims{"iss": "https://i/"})},
		{"every issuer json", adminEnv, []string{"revoke-issuer", "--json", "--not-before", fmt.Sprint(nb.Unix())}, `"issuer":""`, 0, tok(jwt.MapClaims{"iss": "https://other/"})},
		{"needs admin", env, []string{"revoke-client", "c"}, "admin token required (HTTP 401)", 1, ""},
		{"no id", adminEnv, []string{"revoke-session"}, "give exactly one session id", 1, ""},
		{"two ids", adminEnv, []string{"revoke-client", "a", "b"}, "give exactly one client id", 1, ""},
		{"issuer takes no argument", adminEnv, []string{"revoke-issuer", "x"}, "takes no argument", 1, ""},
		{"bad not-before", adminEnv, []string{"revoke-session", "s", "--not-before", "tomorrow"}, "--not-before", 1, ""},
		{"future not-before", adminEnv, []string{"revoke-session", "s", "--not-before", fmt.Sprint(time.Now().Add(time.Hour).Unix())}, "not_before", 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.env, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, stdout, stderr)
			}
			got := stdout
			if tc.code != 0 {
				got = stderr
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("output %q, want it to contain %q", got, tc.want)
			}
			if tc.tok != "" {
				if _, err := n.Verify(tc.tok, "access"); !errors.Is(err, node.ErrUserRevoked) {
					t.Fatalf("token after the command: %v, want revoked", err)
				}
			}
		})
	}
}
