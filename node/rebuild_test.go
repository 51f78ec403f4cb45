package node_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// A replica that follows a stream which is then deleted and recreated with
// fewer messages replays the new stream from its start, and its recorded
// sequence follows: stopped and restarted after more events were
// published, it applies every event of the new stream (it used to resume
// after the old, higher sequence and skip the new stream's events in
// between).
func TestRecreatedStreamSurvivesRestart(t *testing.T) {
	s := eventstest.RunServer(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	provision := func() {
		t.Helper()
		if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{}); err != nil {
			t.Fatalf("EnsureStream: %v", err)
		}
	}
	provision()
	pub, err := events.NewPublisher(js, events.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(prefix string, n int) []string {
		t.Helper()
		jtis := make([]string, n)
		for i := range jtis {
			jtis[i] = fmt.Sprintf("%s-%d", prefix, i)
			ev := events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "writer", Time: time.Now(),
				Token: &events.Token{JTI: jtis[i], User: "u", Type: "refresh", ExpiresAt: time.Now().Add(time.Hour).Unix()}}
			if _, err := pub.Publish(t.Context(), ev); err != nil {
				t.Fatalf("publish %s: %v", jtis[i], err)
			}
		}
		return jtis
	}
	dir := t.TempDir()
	cfg := node.Config{DataDir: dir, Role: node.RoleValidator, NATS: node.NATSConfig{URLs: []string{s.ClientURL()}},
		Logger: slog.New(slog.DiscardHandler)}
	waitSeq := func(n *running, seq uint64) {
		t.Helper()
		eventstest.CheckFor(t, waitLong, pollEvery, func() error {
			if st := n.FleetStatus(); st.LastApplied != seq || !st.Ready {
				return fmt.Errorf("last applied %d, ready %v; want %d", st.LastApplied, st.Ready, seq)
			}
			return nil
		})
	}

	v := startNode(t, cfg)
	waitHasAll(t, publish("old", 10), v)
	waitSeq(v, 10)

	// The stream is deleted and recreated; it holds 3 events when the
	// replica replays it.
	if err := js.DeleteStream(t.Context(), events.DefaultStreamName); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	provision()
	newJTIs := publish("new", 3)
	waitHasAll(t, newJTIs, v)
	waitSeq(v, 3)
	v.stop()
	if seq, err := appliedSeq(dir); err != nil || seq != 3 {
		t.Fatalf("recorded sequence after the replay and a stop: %d, %v; want 3 (the recreated stream's)", seq, err)
	}

	// While the replica is down the new stream grows past the old one's
	// last sequence; the restarted replica applies every event of it.
	newJTIs = append(newJTIs, publish("new-while-down", 12)...)
	v = startNode(t, cfg)
	waitHasAll(t, newJTIs, v)
	waitSeq(v, 15)
}

// appliedSeq reads the sequence recorded in the store of a stopped node.
func appliedSeq(dataDir string) (uint64, error) {
	s, err := persist.Open(dataDir, persist.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return s.AppliedSeq()
}
