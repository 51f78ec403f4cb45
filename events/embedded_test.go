package events_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
)

func TestEmbeddedInProcess(t *testing.T) {
	dir := t.TempDir()
	var logs logBuffer
	e, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: dir, Logger: logs.logger()})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	defer e.Shutdown()
	if u := e.ClientURL(); u != "" {
		t.Fatalf("ClientURL() = %q for an in-process server", u)
	}
	nc, err := e.Connect()
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 2)
	if !strings.Contains(logs.String(), "component=events") {
		t.Errorf("server log not routed through slog:\n%s", logs.String())
	}
	nc.Close()
	e.Shutdown()
	e.Shutdown() // idempotent

	// The data survives a restart on the same directory.
	e2, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer e2.Shutdown()
	nc2, err := e2.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	if n, err := streamMsgs(t, js2); err != nil || n != 2 {
		t.Fatalf("after restart %d messages (%v), want 2", n, err)
	}
}

func TestEmbeddedListening(t *testing.T) {
	e, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", NoAuth: true})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	defer e.Shutdown()
	u := e.ClientURL()
	if !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") {
		t.Fatalf("ClientURL() = %q", u)
	}
	nc, err := nats.Connect(u)
	if err != nil {
		t.Fatalf("connect to %s with NoAuth: %v", u, err)
	}
	nc.Close()
	nc, err = e.Connect()
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}

// readPassword reads an embedded server's password file for user and checks
// that only its owner may read it.
func readPassword(t testing.TB, authDir, user string) string {
	t.Helper()
	path := events.EmbeddedPasswordFile(authDir, user)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("password file of %s: %v", user, err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// An exposed embedded server requires credentials: a client without them
// (or with a wrong password) cannot connect, a validator can follow the
// stream but not publish events, the full user can; the passwords are
// generated once and kept across restarts.
func TestEmbeddedRequiresCredentials(t *testing.T) {
	store := t.TempDir()
	start := func() *events.Embedded {
		t.Helper()
		e, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: store, Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatalf("StartEmbedded: %v", err)
		}
		t.Cleanup(e.Shutdown)
		return e
	}
	e := start()
	authDir := filepath.Join(store, "auth")
	if fi, err := os.Stat(authDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("auth dir %s: %v %v, want mode 0700", authDir, fi, err)
	}
	fullPW := readPassword(t, authDir, events.EmbeddedFullUser)
	valPW := readPassword(t, authDir, events.EmbeddedValidatorUser)
	if len(fullPW) < 24 || len(valPW) < 24 || fullPW == valPW {
		t.Fatalf("passwords %d and %d characters, equal %v: want two distinct long ones", len(fullPW), len(valPW), fullPW == valPW)
	}

	for _, tc := range []struct {
		name string
		opts []nats.Option
	}{
		{name: "no credentials"},
		{name: "wrong password", opts: []nats.Option{nats.UserInfo(events.EmbeddedFullUser, "not-"+fullPW)}},
		{name: "validator user with the full password", opts: []nats.Option{nats.UserInfo(events.EmbeddedValidatorUser, fullPW)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(e.ClientURL(), tc.opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
				t.Fatalf("connect: %v, want an authorization error", err)
			}
		})
	}

	// The node's own connection is the full user: it provisions and publishes.
	nc, err := e.Connect()
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	fjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(t.Context(), fjs, events.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStream as the full user: %v", err)
	}
	publishN(t, newPublisher(t, fjs, events.PublisherConfig{}), 2)

	// A validator follows the stream and cannot publish an event.
	_, vjs := connect(t, e.ClientURL(), nats.UserInfo(events.EmbeddedValidatorUser, valPW),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	a := newApplier(0)
	runSubscriber(t, newSubscriber(t, vjs, a, events.SubscriberConfig{}))
	waitApplied(t, a, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	flush := events.Event{ID: events.NewID(), Kind: events.KindFlush, Origin: "forger", Time: time.Now(),
		Cutoff: time.Now().AddDate(10, 0, 0).Unix()}
	if _, err := newPublisher(t, vjs, events.PublisherConfig{}).Publish(ctx, flush); err == nil {
		t.Fatal("the validator user published a flush event")
	}
	// Nor with a raw publish, which the server refuses.
	denied := make(chan error, 1)
	raw, err := nats.Connect(e.ClientURL(), nats.UserInfo(events.EmbeddedValidatorUser, valPW),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case denied <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("validator connect: %v", err)
	}
	t.Cleanup(raw.Close)
	if err := raw.Publish(events.DefaultPrefix+".local.flush", mustEncode(t, flush)); err != nil {
		t.Fatalf("raw publish: %v", err)
	}
	select {
	case err := <-denied:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("raw publish as the validator user: %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("raw publish as the validator user: no permissions violation reported")
	}
	if n, err := streamMsgs(t, fjs); err != nil || n != 2 {
		t.Fatalf("stream holds %d messages (%v), want 2", n, err)
	}
	nc.Close()
	e.Shutdown()

	// A restart keeps the passwords.
	e = start()
	if got := readPassword(t, authDir, events.EmbeddedFullUser); got != fullPW {
		t.Fatal("the full user's password changed across a restart")
	}
	nc2, err := nats.Connect(e.ClientURL(), nats.UserInfo(events.EmbeddedValidatorUser, valPW))
	if err != nil {
		t.Fatalf("validator connect after a restart: %v", err)
	}
	nc2.Close()
}

func TestEmbeddedConfigErrors(t *testing.T) {
	for name, c := range map[string]events.EmbeddedConfig{
		"no store dir": {},
		"bad listen":   {StoreDir: t.TempDir(), Listen: "127.0.0.1"},
		"bad port":     {StoreDir: t.TempDir(), Listen: "127.0.0.1:x"},
	} {
		if _, err := events.StartEmbedded(c); !errors.Is(err, events.ErrInvalidConfig) {
			t.Errorf("%s: StartEmbedded = %v, want ErrInvalidConfig", name, err)
		}
	}
	for name, listen := range map[string]string{
		"every interface": ":0",
		"unspecified ip":  "0.0.0.0:0",
		"a host name":     "example.invalid:0",
	} {
		t.Run("no auth on "+name, func(t *testing.T) {
			_, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: t.TempDir(), Listen: listen, NoAuth: true})
			if !errors.Is(err, events.ErrInsecureListen) || !strings.Contains(err.Error(), "InsecureListen") {
				t.Fatalf("StartEmbedded(Listen %q, NoAuth) = %v, want ErrInsecureListen naming InsecureListen", listen, err)
			}
		})
	}
}

func TestConnect(t *testing.T) {
	s := eventstest.RunServer(t)
	var logs logBuffer
	nc, err := events.Connect(events.ConnConfig{URLs: []string{s.ClientURL()}, Name: "t", Logger: logs.logger()})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	poll.For(t, waitLong, pollEvery, func() error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	s.Shutdown()
	s.WaitForShutdown()
	poll.For(t, waitLong, pollEvery, func() error {
		if !strings.Contains(logs.String(), "disconnected from NATS") {
			return errors.New("no disconnect logged")
		}
		return nil
	})
	eventstest.RestartServer(t, s)
	poll.For(t, waitLong, pollEvery, func() error {
		if !nc.IsConnected() || !strings.Contains(logs.String(), "reconnected to NATS") {
			return errors.New("not reconnected")
		}
		return nil
	})
}

// With nothing listening yet, Connect still returns a connection that keeps
// trying.
func TestConnectRetriesFirstConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	nc, err := events.Connect(events.ConnConfig{URLs: []string{"nats://" + addr}})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	if nc.IsConnected() {
		t.Fatal("connected to nothing")
	}
	if _, err := events.Connect(events.ConnConfig{CredsFile: "x.creds", User: "u"}); !errors.Is(err, events.ErrInvalidConfig) {
		t.Fatalf("creds and user: %v", err)
	}
}
