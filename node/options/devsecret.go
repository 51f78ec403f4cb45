package options

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DevSecretFile is the development secret's file name in the data dir.
const DevSecretFile = "dev-secret"

// DevSecret returns the development HMAC secret kept in dir/dev-secret,
// creating dir (0700) and the file (0600, 32 random bytes written as 64 hex
// characters and a newline) when missing. The secret is the file's text
// without the newline, so the file also works as --hs-secret-file and its
// text as Simple JWT's SIGNING_KEY. created reports whether it was made now.
func DevSecret(dir string) (secret []byte, path string, created bool, err error) {
	path = filepath.Join(dir, DevSecretFile)
	secret, err = readDevSecret(path)
	if err == nil {
		return secret, path, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, path, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, path, false, fmt.Errorf("development secret: %w", err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // never fails; it crashes the program instead
	text := hex.EncodeToString(raw[:])

	// Write a temporary file and link it into place: another process that
	// starts at the same moment sees either no file or a whole one, and the
	// loser of the race reads the winner's secret.
	tmp, err := os.CreateTemp(dir, ".dev-secret-*") // mode 0600
	if err != nil {
		return nil, path, false, fmt.Errorf("development secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(text + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, path, false, fmt.Errorf("development secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			secret, err = readDevSecret(path)
			return secret, path, false, err
		}
		return nil, path, false, fmt.Errorf("development secret: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable; best effort
		d.Close()
	}
	return []byte(text), path, true, nil
}

func readDevSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("development secret: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if len(s) < 32 {
		return nil, fmt.Errorf("development secret %s holds %d bytes, fewer than 32: remove it to make a new one", path, len(s))
	}
	return []byte(s), nil
}
