package nodehttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Scope is what an admin credential may do.
type Scope uint8

// The scopes. Write implies read.
const (
	ScopeRead  Scope = iota + 1 // list and read: tokens, status, audit
	ScopeWrite                  // and change: blacklist, revoke, flush
)

// String is the scope's name in a credentials file.
func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeWrite:
		return "write"
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// Allows reports whether a credential of scope s may do what needs need.
func (s Scope) Allows(need Scope) bool { return s >= need }

// Credential is one named admin credential: its name is the actor of what
// it does (nodeapi.Actor) and shows in the audit log.
type Credential struct {
	Name  string
	Token string
	Scope Scope
}

// AdminName is the name of the credential the single admin token
// (--admin-token, --admin-token-file) stands for: a write credential.
const AdminName = "admin"

// Credential limits.
const (
	maxCredentialName = 64
	minCredentialLen  = 16 // bytes of a token in a credentials file
	maxCredentialLen  = 4096
	maxCredentials    = 1024
	maxCredentialLine = 8192
)

// ErrCredentials is wrapped by every error about a credentials file or
// list.
var ErrCredentials = errors.New("nodehttp: admin credentials")

// LoadCredentials reads a credentials file (ParseCredentials).
func LoadCredentials(path string) ([]Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	defer f.Close()
	creds, err := ParseCredentials(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return creds, nil
}

// ParseCredentials reads admin credentials, one "name:token:scope" a line:
// name is 1..64 of A-Z a-z 0-9 . _ @ -, token 16..4096 bytes of visible
// ASCII (it may hold ':'; the name ends at the first, the scope begins
// after the last), scope "read" or "write". Blank lines and lines
// beginning with '#' are skipped; leading and trailing spaces are trimmed.
// A bad line, a repeated name or a repeated token is an error naming the
// line (never the token).
func ParseCredentials(r io.Reader) ([]Credential, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxCredentialLine)
	var creds []Credential
	names := map[string]int{}
	tokens := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c, err := parseCredential(text)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrCredentials, line, err)
		}
		if prev, dup := names[c.Name]; dup {
			return nil, fmt.Errorf("%w: line %d: name %q is given on line %d already", ErrCredentials, line, c.Name, prev)
		}
		if prev, dup := tokens[c.Token]; dup {
			return nil, fmt.Errorf("%w: line %d: the token of %q is the token of line %d: each credential needs its own", ErrCredentials, line, c.Name, prev)
		}
		if len(creds) == maxCredentials {
			return nil, fmt.Errorf("%w: line %d: more than %d credentials", ErrCredentials, line, maxCredentials)
		}
		names[c.Name], tokens[c.Token] = line, line
		creds = append(creds, c)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", maxCredentialLine)
		}
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	return creds, nil
}

func parseCredential(text string) (Credential, error) {
	first, last := strings.IndexByte(text, ':'), strings.LastIndexByte(text, ':')
	if first < 0 || first == last {
		return Credential{}, errors.New(`want name:token:scope`)
	}
	c := Credential{Name: text[:first], Token: text[first+1 : last]}
	switch scope := text[last+1:]; scope {
	case "read":
		c.Scope = ScopeRead
	case "write":
		c.Scope = ScopeWrite
	default:
		return Credential{}, fmt.Errorf("scope %.32q: want read or write", scope)
	}
	if err := checkName(c.Name); err != nil {
		return Credential{}, err
	}
	if err := checkToken(c.Token, minCredentialLen); err != nil {
		return Credential{}, fmt.Errorf("credential %q: %w", c.Name, err)
	}
	return c, nil
}

// checkName accepts 1..64 bytes of A-Z a-z 0-9 . _ @ -: a name shows in
// logs, headers and pages as it is.
func checkName(name string) error {
	if name == "" || len(name) > maxCredentialName {
		return fmt.Errorf("name %.70q: want 1..%d characters", name, maxCredentialName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return fmt.Errorf("name %.70q: only A-Z a-z 0-9 . _ @ - are allowed", name)
		}
	}
	return nil
}

// checkToken accepts min..4096 bytes of visible ASCII (what a bearer
// header carries).
func checkToken(tok string, min int) error {
	if len(tok) < min || len(tok) > maxCredentialLen {
		return fmt.Errorf("token: want %d..%d bytes, got %d", min, maxCredentialLen, len(tok))
	}
	if i := bytes.IndexFunc([]byte(tok), func(r rune) bool { return r <= ' ' || r >= 0x7f }); i >= 0 {
		return fmt.Errorf("token: byte %d is not visible ASCII", i)
	}
	return nil
}

// MergeCredentials returns the credentials a node accepts: creds, and
// the single admin token (when not "") as the write credential named
// AdminName. A name or token given twice is an error.
func MergeCredentials(adminToken string, creds []Credential) ([]Credential, error) {
	out := make([]Credential, 0, len(creds)+1)
	if adminToken != "" {
		out = append(out, Credential{Name: AdminName, Token: adminToken, Scope: ScopeWrite})
	}
	names, tokens := map[string]bool{}, map[string]bool{}
	if adminToken != "" {
		names[AdminName], tokens[adminToken] = true, true
	}
	for _, c := range creds {
		if err := checkName(c.Name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
		}
		if c.Token == "" || c.Scope < ScopeRead || c.Scope > ScopeWrite {
			return nil, fmt.Errorf("%w: credential %q needs a token and a scope", ErrCredentials, c.Name)
		}
		switch {
		case names[c.Name] && c.Name == AdminName && adminToken != "":
			return nil, fmt.Errorf("%w: the name %q is the admin token's (--admin-token, --admin-token-file): name the credential otherwise", ErrCredentials, c.Name)
		case names[c.Name]:
			return nil, fmt.Errorf("%w: name %q is given twice", ErrCredentials, c.Name)
		case tokens[c.Token]:
			return nil, fmt.Errorf("%w: the token of %q is another credential's (or the admin token): each credential needs its own", ErrCredentials, c.Name)
		}
		names[c.Name], tokens[c.Token] = true, true
		out = append(out, c)
	}
	return out, nil
}
