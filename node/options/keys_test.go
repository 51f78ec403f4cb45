package options

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseKeySpec(t *testing.T) {
	for in, want := range map[string]KeySpec{
		"/etc/key.pem":    {Path: "/etc/key.pem"},
		"k1=/etc/key.pem": {KID: "k1", Path: "/etc/key.pem"},
		"2024-06=key.pem": {KID: "2024-06", Path: "key.pem"},
		"./a=b.pem":       {Path: "./a=b.pem"},
		"=key.pem":        {Path: "=key.pem"},
		"k=":              {Path: "k="},
		"k=a=b":           {KID: "k", Path: "a=b"},
		"dir/k=v/key.pem": {Path: "dir/k=v/key.pem"},
	} {
		if got := ParseKeySpec(in); got != want {
			t.Errorf("ParseKeySpec(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// FuzzParseKeySpec: the path is never empty for a non-empty value, and
// KID=PATH puts them back together.
func FuzzParseKeySpec(f *testing.F) {
	for _, s := range []string{"k=/a", "/a", "a=b=c", "=", "./x=y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ks := ParseKeySpec(s)
		if s != "" && ks.Path == "" {
			t.Fatalf("ParseKeySpec(%q): empty path", s)
		}
		if strings.Contains(ks.KID, "/") {
			t.Fatalf("ParseKeySpec(%q): kid %q holds a /", s, ks.KID)
		}
		joined := ks.Path
		if ks.KID != "" {
			joined = ks.KID + "=" + ks.Path
		}
		if joined != s {
			t.Fatalf("ParseKeySpec(%q) = %+v does not give it back", s, ks)
		}
	})
}

// TestTokenConfigKeys: the key options with key ids, the grace and the
// JWKS options reach token.Config; KeyFiles lists every key file.
func TestTokenConfigKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	hs1, hs2 := write("hs1", []byte("first\n")), write("hs2", []byte("second"))
	s, err := resolveServe(t, []string{"--data", dir, "--hs-key-file", "k1=" + hs1, "--hs-key-file", hs2,
		"--public-key-file", "ec=" + pub, "--public-key-file", pub, "--key-grace", "5m",
		"--jwks-url", "https://issuer.example/jwks", "--jwks-refresh-min", "2m", "--jwks-miss-interval", "30s"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := TokenConfig(s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.HSKeys) != 2 || tc.HSKeys[0].ID != "k1" || string(tc.HSKeys[0].Data) != "first" || tc.HSKeys[1].ID != "" || string(tc.HSKeys[1].Data) != "second" {
		t.Errorf("HSKeys %+v", tc.HSKeys)
	}
	if tc.HSSecret != nil {
		t.Errorf("HSSecret %q: want none (no development secret with keys given)", tc.HSSecret)
	}
	if len(tc.PublicKeys) != 1 || tc.PublicKeys[0].ID != "ec" || len(tc.PublicKeyPEMs) != 1 {
		t.Errorf("PublicKeys %d (%+v), PublicKeyPEMs %d", len(tc.PublicKeys), tc.PublicKeys, len(tc.PublicKeyPEMs))
	}
	if tc.KeyGrace != 5*time.Minute || !slices.Equal(tc.JWKS.URLs, []string{"https://issuer.example/jwks"}) ||
		tc.JWKS.RefreshMin != 2*time.Minute || tc.JWKS.RefreshMax != time.Hour || tc.JWKS.MissInterval != 30*time.Second || tc.JWKS.Timeout != 10*time.Second {
		t.Errorf("grace %v, JWKS %+v", tc.KeyGrace, tc.JWKS)
	}
	if got := KeyFiles(s); !slices.Equal(got, []string{hs1, hs2, pub, pub}) {
		t.Errorf("KeyFiles = %q", got)
	}

	// A JWKS alone is a key: no development secret.
	s, err = resolveServe(t, []string{"--data", dir, "--jwks-url", "http://127.0.0.1:1/jwks"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if tc, err := TokenConfig(s, slog.New(slog.DiscardHandler)); err != nil || tc.HSSecret != nil {
		t.Errorf("JWKS alone: HSSecret %q, err %v; want no development secret", tc.HSSecret, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-secret")); err == nil {
		t.Error("a development secret was made although a JWKS URL is given")
	}

	s, _ = resolveServe(t, []string{"--data", dir, "--hs-key-file", "k=" + filepath.Join(dir, "missing")}, nil, "")
	if _, err := TokenConfig(s, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "hs-key-file") {
		t.Errorf("missing key file: %v, want an error naming --hs-key-file", err)
	}
}
