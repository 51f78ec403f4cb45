package options

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestDevSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	secret, path, created, err := DevSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created || path != filepath.Join(dir, "dev-secret") {
		t.Fatalf("created %v at %s, want created at %s", created, path, filepath.Join(dir, "dev-secret"))
	}
	raw, err := hex.DecodeString(string(secret))
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 32 bytes in hex (%v)", secret, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("dev-secret mode %v, want 0600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode %v, want 0700", perm)
	}
	if b, _ := os.ReadFile(path); string(b) != string(secret)+"\n" {
		t.Errorf("file holds %q, want the secret and a newline", b)
	}

	again, _, created, err := DevSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created || !bytes.Equal(again, secret) {
		t.Errorf("second call: created %v, secret %q; want the first secret %q reused", created, again, secret)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".dev-secret-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}

	other := t.TempDir()
	if _, _, _, err := DevSecret(other); err != nil {
		t.Fatal(err)
	}
	if s, _, _, _ := DevSecret(other); bytes.Equal(s, secret) {
		t.Error("two data dirs got the same secret")
	}
}

// TestDevSecretConcurrent starts several callers on a fresh dir at once,
// as a serve and a mint may: all of them get the one secret.
func TestDevSecretConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	secrets := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { secrets[i], _, _, errs[i] = DevSecret(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(secrets[i], secrets[0]) {
			t.Fatalf("caller %d got %q, caller 0 got %q", i, secrets[i], secrets[0])
		}
	}
}

func TestDevSecretTooShort(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dev-secret"), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := DevSecret(dir)
	if err == nil || !strings.Contains(err.Error(), "fewer than 32") {
		t.Fatalf("err = %v, want a too-short error", err)
	}
}
