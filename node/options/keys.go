package options

import (
	"fmt"
	"os"
	"strings"

	"github.com/blnode/blnode/node/token"
)

// KeySpec is one key option's value, "[KID=]FILE": a key id, when the
// text before the first "=" is not empty and holds no "/", and the file.
// A path whose first part holds "=" is written with a leading "./".
type KeySpec struct {
	KID  string
	Path string
}

// ParseKeySpec splits "[KID=]FILE".
func ParseKeySpec(s string) KeySpec {
	if kid, path, ok := strings.Cut(s, "="); ok && kid != "" && !strings.Contains(kid, "/") && path != "" {
		return KeySpec{KID: kid, Path: path}
	}
	return KeySpec{Path: s}
}

// keyOptions are the options that name key files, in the order KeyFiles
// lists them.
var keyOptions = []string{"hs-secret-file", "hs-key-file", "public-key-file", "private-key-file"}

// KeyFiles returns every key file the options name, for a watcher of
// their modification times.
func KeyFiles(s *Set) []string {
	var out []string
	for _, name := range keyOptions {
		if !s.has(name) {
			continue
		}
		switch v := s.Value(name).(type) {
		case string:
			if v != "" {
				out = append(out, ParseKeySpec(v).Path)
			}
		case []string:
			for _, e := range v {
				out = append(out, ParseKeySpec(e).Path)
			}
		}
	}
	return out
}

// hsKeys reads the --hs-key-file secrets; trailing newlines are dropped,
// as for --hs-secret-file.
func hsKeys(s *Set) ([]token.NamedKey, error) {
	if !s.has("hs-key-file") {
		return nil, nil
	}
	var out []token.NamedKey
	for _, e := range s.List("hs-key-file") {
		ks := ParseKeySpec(e)
		b, err := os.ReadFile(ks.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Where("hs-key-file"), err)
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, fmt.Errorf("%s: %s is empty", s.Where("hs-key-file"), ks.Path)
		}
		out = append(out, token.NamedKey{ID: ks.KID, Data: b})
	}
	return out, nil
}

// publicKeys reads the --public-key-file keys: those without a kid as
// token.Config.PublicKeyPEMs, the others as PublicKeys.
func publicKeys(s *Set) (plain [][]byte, named []token.NamedKey, err error) {
	for _, e := range s.List("public-key-file") {
		ks := ParseKeySpec(e)
		b, err := token.LoadPEMFiles([]string{ks.Path})
		if err != nil {
			return nil, nil, fmt.Errorf("--public-key-file: %w", err)
		}
		if ks.KID == "" {
			plain = append(plain, b[0])
		} else {
			named = append(named, token.NamedKey{ID: ks.KID, Data: b[0]})
		}
	}
	return plain, named, nil
}

// jwksConfig reads the JWKS options (serve's alone).
func jwksConfig(s *Set) token.JWKSConfig {
	if !s.has("jwks-url") {
		return token.JWKSConfig{}
	}
	return token.JWKSConfig{
		URLs:         s.List("jwks-url"),
		RefreshMin:   s.Duration("jwks-refresh-min"),
		RefreshMax:   s.Duration("jwks-refresh-max"),
		MissInterval: s.Duration("jwks-miss-interval"),
		Timeout:      s.Duration("jwks-timeout"),
	}
}
