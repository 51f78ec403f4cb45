package events_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
)

func TestEnsureStream(t *testing.T) {
	s := eventstest.RunServer(t)
	_, js := connect(t, s.ClientURL())
	ctx := t.Context()

	st, err := events.EnsureStream(ctx, js, events.StreamConfig{})
	if err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Name != "BLNODE" || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "blnode.ev.>" {
		t.Errorf("name %q subjects %v", cfg.Name, cfg.Subjects)
	}
	if cfg.Storage != jetstream.FileStorage {
		t.Errorf("storage %v, want file", cfg.Storage)
	}
	if cfg.Duplicates < 2*time.Minute {
		t.Errorf("duplicate window %v, want >= 2m", cfg.Duplicates)
	}
	if !cfg.AllowMsgTTL {
		t.Errorf("AllowMsgTTL not set")
	}
	if cfg.MaxAge != 30*24*time.Hour {
		t.Errorf("MaxAge %v", cfg.MaxAge)
	}

	// Idempotent, and an update applies.
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStream again: %v", err)
	}
	st, err = events.EnsureStream(ctx, js, events.StreamConfig{MaxAge: 90 * 24 * time.Hour, Duplicates: 10 * time.Minute})
	if err != nil {
		t.Fatalf("EnsureStream update: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 90*24*time.Hour || info.Config.Duplicates != 10*time.Minute {
		t.Errorf("after update MaxAge %v Duplicates %v", info.Config.MaxAge, info.Config.Duplicates)
	}
	names := js.StreamNames(ctx)
	n := 0
	for range names.Name() {
		n++
	}
	if n != 1 {
		t.Errorf("%d streams, want 1", n)
	}
}

func TestEnsureStreamInvalidConfig(t *testing.T) {
	s := eventstest.RunServer(t)
	_, js := connect(t, s.ClientURL())
	tests := []struct {
		name string
		cfg  events.StreamConfig
		want string
	}{
		{"short duplicate window", events.StreamConfig{Duplicates: time.Minute}, "StreamConfig.Duplicates 1m0s"},
		{"bad name", events.StreamConfig{Name: "a.b"}, `StreamConfig.Name "a.b"`},
		{"wildcard prefix", events.StreamConfig{Prefix: "blnode.*"}, `StreamConfig.Prefix "blnode.*"`},
		{"replicas", events.StreamConfig{Replicas: 7}, "StreamConfig.Replicas 7"},
		{"duplicates above max age", events.StreamConfig{MaxAge: 3 * time.Minute, Duplicates: 5 * time.Minute}, "exceeds MaxAge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.EnsureStream(t.Context(), js, tt.cfg)
			if !errors.Is(err, events.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("EnsureStream(%+v) = %v, want ErrInvalidConfig naming %q", tt.cfg, err, tt.want)
			}
		})
	}
}

// A token event gets a Nats-TTL of (exp - now + margin) seconds and leaves
// the stream by itself when it runs out.
func TestMessageTTLPrunes(t *testing.T) {
	_, _, js := setup(t)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	margin := time.Minute
	// The publisher's clock says the token expires 2s - margin from now.
	now := func() time.Time { return exp.Add(margin - 2*time.Second) }
	p := newPublisher(t, js, events.PublisherConfig{TTLMargin: margin, Now: now})

	e := blacklistEvent("short-lived")
	e.Token.ExpiresAt = exp.Unix()
	seq, err := p.Publish(t.Context(), e)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	flush := events.Event{ID: events.NewID(), Kind: events.KindFlush, Origin: "n", Cutoff: 1}
	if _, err := p.Publish(t.Context(), flush); err != nil {
		t.Fatalf("Publish flush: %v", err)
	}
	st, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(t.Context(), seq)
	if err != nil {
		t.Fatalf("GetMsg: %v", err)
	}
	if got := m.Header.Get("Nats-TTL"); got != "2" {
		t.Fatalf("Nats-TTL = %q, want 2", got)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != e.ID {
		t.Fatalf("Nats-Msg-Id = %q, want %q", got, e.ID)
	}
	poll.For(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := st.GetMsg(t.Context(), seq); !errors.Is(err, jetstream.ErrMsgNotFound) {
			return errors.New("token event still in the stream")
		}
		return nil
	})
	// The flush event has no TTL and stays.
	fm, err := st.GetMsg(t.Context(), seq+1)
	if err != nil {
		t.Fatalf("flush event gone: %v", err)
	}
	if got := fm.Header.Get("Nats-TTL"); got != "" {
		t.Fatalf("flush event has Nats-TTL %q", got)
	}
}

// A stream without AllowMsgTTL refuses Nats-TTL; the publisher notices once
// and goes on without it.
func TestPublishFallsBackWithoutTTL(t *testing.T) {
	s := eventstest.RunServer(t)
	_, js := connect(t, s.ClientURL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: events.DefaultStreamName, Subjects: []string{"blnode.ev.>"}, Duplicates: 2 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, js, events.PublisherConfig{})
	for i := range 3 {
		e := blacklistEvent("j")
		seq, err := p.Publish(t.Context(), e)
		if err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		if seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", seq, i+1)
		}
	}
	st := p.Stats()
	if !st.TTLDisabled || st.Published != 3 || st.Failures != 0 {
		t.Fatalf("stats %+v, want TTLDisabled and 3 published", st)
	}
}
