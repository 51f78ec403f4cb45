package nodehttp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/blnode/blnode/node/nodehttp"
)

const (
	tokAlice = "alice-token-0123456789"
	tokBob   = "bob-token-0123456789ab"
)

func TestParseCredentials(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    string
		want  []nodehttp.Credential
		err   string // substring of the error; "" for none
		never string // must not appear in the error
	}{
		{name: "good lines, comments, blanks and spaces", in: "\ufeff# operators\n\n  alice:" + tokAlice + ":write  \r\nbob@ops:" + tokBob + ":read\n",
			want: []nodehttp.Credential{{"alice", tokAlice, nodehttp.ScopeWrite}, {"bob@ops", tokBob, nodehttp.ScopeRead}}},
		{name: "token with colons", in: "ci:a:b:c:0123456789abcdef:write",
			want: []nodehttp.Credential{{"ci", "a:b:c:0123456789abcdef", nodehttp.ScopeWrite}}},
		{name: "empty file", in: "# nothing\n", want: nil},
		{name: "no scope", in: "alice:" + tokAlice, err: "line 1: want name:token:scope", never: tokAlice},
		{name: "unknown scope", in: "\nalice:" + tokAlice + ":admin", err: `line 2: scope "admin": want read or write`, never: tokAlice},
		{name: "scope case", in: "alice:" + tokAlice + ":Write", err: "line 1: scope"},
		{name: "empty name", in: ":" + tokAlice + ":read", err: "line 1: name"},
		{name: "bad name", in: "al ice:" + tokAlice + ":read", err: "only A-Z a-z 0-9", never: tokAlice},
		{name: "long name", in: strings.Repeat("n", 65) + ":" + tokAlice + ":read", err: "1..64"},
		{name: "short token", in: "alice:short:read", err: "line 1: credential \"alice\": token: want 16..4096 bytes, got 5", never: "short:"},
		{name: "token with space", in: "alice:0123456789 abcdef:read", err: "not visible ASCII"},
		{name: "duplicate name", in: "alice:" + tokAlice + ":read\nalice:" + tokBob + ":write", err: `line 2: name "alice" is given on line 1 already`},
		{name: "duplicate token", in: "alice:" + tokAlice + ":read\n#\nbob:" + tokAlice + ":write", err: "line 3: the token of \"bob\" is the token of line 1", never: tokAlice},
		{name: "line too long", in: "a:" + strings.Repeat("x", 9000) + ":read", err: "longer than 8192"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := nodehttp.ParseCredentials(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, nodehttp.ErrCredentials) {
					t.Fatalf("error %v, want one wrapping ErrCredentials containing %q", err, c.err)
				}
				if c.never != "" && strings.Contains(err.Error(), c.never) {
					t.Fatalf("error %q shows the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("credential %d: %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestMergeCredentials(t *testing.T) {
	alice := nodehttp.Credential{Name: "alice", Token: tokAlice, Scope: nodehttp.ScopeRead}
	for _, c := range []struct {
		name  string
		admin string
		creds []nodehttp.Credential
		err   string
		n     int
	}{
		{name: "token alone is the write credential admin", admin: "admin-secret", n: 1},
		{name: "both", admin: "admin-secret", creds: []nodehttp.Credential{alice}, n: 2},
		{name: "named admin with the token", admin: "admin-secret", creds: []nodehttp.Credential{{Name: "admin", Token: tokBob, Scope: nodehttp.ScopeRead}}, err: "admin token's"},
		{name: "named admin alone", creds: []nodehttp.Credential{{Name: "admin", Token: tokBob, Scope: nodehttp.ScopeRead}}, n: 1},
		{name: "token reused", admin: tokAlice, creds: []nodehttp.Credential{alice}, err: "the token of \"alice\""},
		{name: "name twice", creds: []nodehttp.Credential{alice, {Name: "alice", Token: tokBob, Scope: nodehttp.ScopeWrite}}, err: "given twice"},
		{name: "no scope", creds: []nodehttp.Credential{{Name: "x", Token: tokBob}}, err: "needs a token and a scope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := nodehttp.MergeCredentials(c.admin, c.creds)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || len(got) != c.n {
				t.Fatalf("got %+v, %v; want %d credentials", got, err, c.n)
			}
			if c.admin != "" && (got[0].Name != nodehttp.AdminName || got[0].Scope != nodehttp.ScopeWrite) {
				t.Fatalf("admin token is %+v, want the write credential admin", got[0])
			}
		})
	}
}

// The guard answers by scope: a read credential reads, only a write
// credential writes; a wrong token is 401 and spends the client's budget.
func TestGuardScopes(t *testing.T) {
	g := nodehttp.NewGuard(nodehttp.GuardConfig{AdminToken: "admin-secret-0123456789", Burst: 3, Refill: time.Hour,
		Credentials: []nodehttp.Credential{{Name: "alice", Token: tokAlice, Scope: nodehttp.ScopeWrite}, {Name: "bob", Token: tokBob, Scope: nodehttp.ScopeRead}}})
	var actor string
	h := func(need nodehttp.Scope) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if c, ok := g.Authenticate(w, r, need); ok {
				actor = c.Name
				w.WriteHeader(http.StatusNoContent)
			}
		}
	}
	call := func(need nodehttp.Scope, tok string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.7:1234"
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		actor = ""
		h(need)(w, r)
		return w.Code, w.Body.String()
	}
	for _, c := range []struct {
		name   string
		need   nodehttp.Scope
		tok    string
		status int
		actor  string
	}{
		{"admin token writes", nodehttp.ScopeWrite, "admin-secret-0123456789", 204, "admin"},
		{"write credential writes", nodehttp.ScopeWrite, tokAlice, 204, "alice"},
		{"write credential reads", nodehttp.ScopeRead, tokAlice, 204, "alice"},
		{"read credential reads", nodehttp.ScopeRead, tokBob, 204, "bob"},
		{"read credential may not write", nodehttp.ScopeWrite, tokBob, 403, ""},
		{"no token", nodehttp.ScopeRead, "", 401, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := call(c.need, c.tok)
			if status != c.status || actor != c.actor {
				t.Fatalf("%d %s as %q, want %d as %q", status, body, actor, c.status, c.actor)
			}
			if status == 403 && !strings.Contains(body, `"insufficient_scope"`) {
				t.Fatalf("403 body %s, want the insufficient_scope JSON error", body)
			}
		})
	}
	t.Run("wrong tokens spend the budget, then 429", func(t *testing.T) {
		for i := range 3 {
			if status, _ := call(nodehttp.ScopeRead, "wrong-token-0123456789"); status != 401 {
				t.Fatalf("try %d: %d, want 401", i, status)
			}
		}
		if status, _ := call(nodehttp.ScopeRead, tokAlice); status != 429 {
			t.Fatalf("after the budget: %d, want 429 even for a right token", status)
		}
	})
}

func TestGuardReload(t *testing.T) {
	g := nodehttp.NewGuard(nodehttp.GuardConfig{Credentials: []nodehttp.Credential{{Name: "alice", Token: tokAlice, Scope: nodehttp.ScopeWrite}}})
	if _, ok := g.Match(tokAlice); !ok {
		t.Fatal("alice not accepted")
	}
	g.SetCredentials([]nodehttp.Credential{{Name: "bob", Token: tokBob, Scope: nodehttp.ScopeRead}})
	if _, ok := g.Match(tokAlice); ok {
		t.Fatal("alice accepted after the reload dropped her")
	}
	if c, ok := g.Lookup("bob"); !ok || c.Scope != nodehttp.ScopeRead {
		t.Fatalf("bob: %+v %v", c, ok)
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct {
		name, body, header, want, err string
	}{
		{name: "body", body: "left the company", header: "ignored", want: "left the company"},
		{name: "header when the body has none", header: "ticket 42", want: "ticket 42"},
		{name: "none", want: ""},
		{name: "unicode", body: "Ärger mit 🔑", want: "Ärger mit 🔑"},
		{name: "too long", body: strings.Repeat("r", 1025), err: "at most 1024"},
		{name: "newline", body: "a\nb", err: "control character"},
		{name: "bad UTF-8", header: "a\xffb", err: "UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if c.header != "" {
				r.Header.Set(nodehttp.ReasonHeader, c.header)
			}
			got, err := nodehttp.Reason(r, c.body)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("%q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// Whatever a credentials file holds, ParseCredentials answers credentials
// that pass MergeCredentials, or an error that never shows a token.
func FuzzParseCredentials(f *testing.F) {
	f.Add("alice:" + tokAlice + ":write\nbob:" + tokBob + ":read\n")
	f.Add("# c\n\nx:a:b:0123456789abcdef:read")
	f.Add("alice:" + tokAlice + ":write\nalice:" + tokAlice + ":read")
	f.Add(":::\n\x00:\xff:read")
	f.Fuzz(func(t *testing.T, in string) {
		creds, err := nodehttp.ParseCredentials(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, nodehttp.ErrCredentials) {
				t.Fatalf("error %v does not wrap ErrCredentials", err)
			}
			return
		}
		if _, err := nodehttp.MergeCredentials("", creds); err != nil {
			t.Fatalf("parsed %+v, merge refuses: %v", creds, err)
		}
	})
}
