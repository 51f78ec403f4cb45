package events

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// The users of an embedded server that requires credentials, one per role,
// with the permissions deploy/nats/accounts.conf gives the same users.
const (
	// EmbeddedFullUser publishes events (under the prefix only), creates
	// and updates the stream, and follows it. The node's own connection
	// uses it.
	EmbeddedFullUser = "blnode-full"
	// EmbeddedValidatorUser follows the stream: it publishes nothing but
	// the JetStream API requests an ordered consumer makes.
	EmbeddedValidatorUser = "blnode-validator"
)

// ErrInsecureListen is returned for an embedded server asked to accept
// connections without credentials on an address other machines reach.
var ErrInsecureListen = errors.New("events: embedded NATS server exposed without credentials")

// embeddedUsers maps each user to the name of its password file.
var embeddedUsers = [...]struct{ user, file string }{
	{EmbeddedFullUser, "full.password"},
	{EmbeddedValidatorUser, "validator.password"},
}

// EmbeddedPasswordFile returns the file, under an embedded server's
// AuthDir, that holds user's password ("" for an unknown user).
func EmbeddedPasswordFile(authDir, user string) string {
	for _, u := range embeddedUsers {
		if u.user == user {
			return filepath.Join(authDir, u.file)
		}
	}
	return ""
}

// IsLoopback reports whether a listen address ("host:port") accepts
// connections from this machine only: a loopback IP or "localhost". An
// empty host (every interface) or any other name is not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// embeddedAuth reads the users' passwords from dir, generating each missing
// one (0600 files in a 0700 directory), and returns the users with their
// permissions and the full user's password.
func embeddedAuth(dir, prefix string, streams []string) (users []*server.User, fullPassword string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("events: embedded NATS credentials: %w", err)
	}
	for _, u := range embeddedUsers {
		pw, err := loadOrCreatePassword(filepath.Join(dir, u.file))
		if err != nil {
			return nil, "", err
		}
		if u.user == EmbeddedFullUser {
			fullPassword = pw
		}
		users = append(users, &server.User{Username: u.user, Password: pw, Permissions: rolePermissions(u.user, prefix, streams)})
	}
	return users, fullPassword, nil
}

// loadOrCreatePassword returns the password kept in path, writing a new
// random one first if the file does not exist.
func loadOrCreatePassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", fmt.Errorf("%w: embedded NATS password file %s is empty", ErrInvalidConfig, path)
		}
		return pw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("events: embedded NATS password: %w", err)
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw) // never fails (crypto/rand)
	pw := base64.RawURLEncoding.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("events: embedded NATS password: %w", err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("events: embedded NATS password: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("events: embedded NATS password: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("events: embedded NATS password: %w", err)
	}
	return pw, nil
}

// rolePermissions are the permissions of deploy/nats/accounts.conf for
// user, over the given streams: both roles follow the streams (stream info
// and message get, ordered consumers and their pulls, replies on _INBOX);
// the full user also publishes events under prefix and creates and updates
// the streams; the validator user follows the streams' live subjects (the
// default StreamConfig.LivePrefix) and confirms them with direct gets.
// Both read the snapshots (SnapshotBucket); the full user writes them.
func rolePermissions(user, prefix string, streams []string) *server.Permissions {
	var pub []string
	sub := []string{"_INBOX.>"}
	if user == EmbeddedFullUser {
		pub = append(pub, prefix+".>")
	}
	for _, s := range streams {
		if user == EmbeddedFullUser {
			pub = append(pub, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s)
		}
		pub = append(pub,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.STREAM.MSG.GET."+s,
			"$JS.API.CONSUMER.CREATE."+s+".>",
			"$JS.API.CONSUMER.DELETE."+s+".>",
			"$JS.API.CONSUMER.INFO."+s+".>",
			"$JS.API.CONSUMER.MSG.NEXT."+s+".>",
		)
		if user == EmbeddedValidatorUser {
			pub = append(pub, "$JS.API.DIRECT.GET."+s)
			sub = append(sub, prefix+"_live."+s+".>")
		}
	}
	pub = append(pub, snapshotPermissions(user == EmbeddedFullUser)...)
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
}
