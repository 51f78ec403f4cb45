package events_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
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
	e, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
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
		t.Fatalf("connect to %s: %v", u, err)
	}
	nc.Close()
	nc, err = e.Connect()
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
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
}

func TestConnect(t *testing.T) {
	s := eventstest.RunServer(t)
	var logs logBuffer
	nc, err := events.Connect(events.ConnConfig{URLs: []string{s.ClientURL()}, Name: "t", Logger: logs.logger()})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	eventstest.CheckFor(t, waitLong, pollEvery, func() error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	s.Shutdown()
	s.WaitForShutdown()
	eventstest.CheckFor(t, waitLong, pollEvery, func() error {
		if !strings.Contains(logs.String(), "disconnected from NATS") {
			return errors.New("no disconnect logged")
		}
		return nil
	})
	eventstest.RestartServer(t, s)
	eventstest.CheckFor(t, waitLong, pollEvery, func() error {
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
