package node_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// streamWriter publishes blacklistings to the default stream of a server
// and deletes and recreates the stream, as an operator who lost NATS's
// state would.
type streamWriter struct {
	t   testing.TB
	js  jetstream.JetStream
	pub *events.Publisher
}

func newStreamWriter(t testing.TB, s *server.Server) *streamWriter {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := events.NewPublisher(js, events.PublisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	w := &streamWriter{t: t, js: js, pub: pub}
	w.provision()
	return w
}

func (w *streamWriter) provision() {
	w.t.Helper()
	if _, err := events.EnsureStream(w.t.Context(), w.js, events.StreamConfig{}); err != nil {
		w.t.Fatalf("EnsureStream: %v", err)
	}
}

// recreate deletes the stream and creates it again, empty.
func (w *streamWriter) recreate() {
	w.t.Helper()
	if err := w.js.DeleteStream(w.t.Context(), events.DefaultStreamName); err != nil {
		w.t.Fatalf("DeleteStream: %v", err)
	}
	// The server may still be removing the old stream's files: "error
	// creating store for stream" until it has (a full node retries too).
	poll.For(w.t, waitLong, pollEvery, func() error {
		_, err := events.EnsureStream(w.t.Context(), w.js, events.StreamConfig{})
		return err
	})
}

// publish publishes n blacklistings of jtis prefix-0, prefix-1, ... and
// returns the jtis.
func (w *streamWriter) publish(prefix string, n int) []string {
	w.t.Helper()
	jtis := make([]string, n)
	for i := range jtis {
		jtis[i] = fmt.Sprintf("%s-%d", prefix, i)
		ev := events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: "writer", Time: time.Now(),
			Token: &events.Token{JTI: jtis[i], User: "u", Type: "refresh", ExpiresAt: time.Now().Add(time.Hour).Unix()}}
		if _, err := w.pub.Publish(w.t.Context(), ev); err != nil {
			w.t.Fatalf("publish %s: %v", jtis[i], err)
		}
	}
	return jtis
}

// waitReadyAt waits until n is ready with seq as its last applied sequence.
func waitReadyAt(t testing.TB, n *running, seq uint64) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		if st := n.FleetStatus(); st.LastApplied != seq || !st.Ready {
			return fmt.Errorf("last applied %d, ready %v; want %d", st.LastApplied, st.Ready, seq)
		}
		return nil
	})
}

// A replica that follows a stream which is then deleted and recreated with
// fewer messages replays the new stream from its start, and its recorded
// sequence follows: stopped and restarted after more events were
// published, it applies every event of the new stream (it used to resume
// after the old, higher sequence and skip the new stream's events in
// between).
func TestRecreatedStreamSurvivesRestart(t *testing.T) {
	s := eventstest.RunServer(t)
	w := newStreamWriter(t, s)
	dir := t.TempDir()
	cfg := node.Config{DataDir: dir, Role: node.RoleValidator, NATS: node.NATSConfig{URLs: []string{s.ClientURL()}},
		Logger: slog.New(slog.DiscardHandler)}

	v := startNode(t, cfg)
	waitHasAll(t, w.publish("old", 10), v)
	waitReadyAt(t, v, 10)

	// The stream is deleted and recreated; it holds 3 events when the
	// replica replays it.
	w.recreate()
	newJTIs := w.publish("new", 3)
	waitHasAll(t, newJTIs, v)
	waitReadyAt(t, v, 3)
	v.stop()
	if seq, err := appliedSeq(dir); err != nil || seq != 3 {
		t.Fatalf("recorded sequence after the replay and a stop: %d, %v; want 3 (the recreated stream's)", seq, err)
	}

	// While the replica is down the new stream grows past the old one's
	// last sequence; the restarted replica applies every event of it.
	newJTIs = append(newJTIs, w.publish("new-while-down", 12)...)
	v = startNode(t, cfg)
	waitHasAll(t, newJTIs, v)
	waitReadyAt(t, v, 15)
}

// A replica stopped while its stream is deleted and recreated, and
// restarted once the new stream has grown past its last applied sequence,
// replays the new stream from its start: its store records which stream
// its sequence counts in, and the new stream is another. (It used to
// resume after the old sequence and skip the new stream's events up to it,
// for good.)
func TestStreamRecreatedWhileStoppedIsReplayed(t *testing.T) {
	s := eventstest.RunServer(t)
	w := newStreamWriter(t, s)
	dir := t.TempDir()
	cfg := node.Config{DataDir: dir, Role: node.RoleValidator, NATS: node.NATSConfig{URLs: []string{s.ClientURL()}},
		Logger: slog.New(slog.DiscardHandler)}

	v := startNode(t, cfg)
	waitHasAll(t, w.publish("old", 10), v)
	waitReadyAt(t, v, 10)
	v.stop()

	w.recreate()
	newJTIs := w.publish("new", 15)
	v = startNode(t, cfg)
	waitReadyAt(t, v, 15)
	v.stop()

	st, err := persist.Open(dir, persist.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open the stopped replica's store: %v", err)
	}
	defer st.Close()
	var missing []string
	for _, jti := range newJTIs {
		if ok, err := st.IsBlacklisted(jti); err != nil || !ok {
			missing = append(missing, jti)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the store misses %d of the recreated stream's 15 blacklistings: %v", len(missing), missing)
	}
}

// A node on its embedded server, stopped and started again, finds the
// stream it recorded (the server keeps the stream's creation time on disk)
// and resumes after its sequence instead of replaying the stream.
func TestRestartOnEmbeddedServerDoesNotReplay(t *testing.T) {
	dir := t.TempDir()
	cfg := node.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)}
	n := startNode(t, cfg)
	blacklistN(t, n.Node, "emb", 5)
	waitReadyAt(t, n, 5)
	n.stop()

	n = startNode(t, cfg)
	waitReadyAt(t, n, 5)
	if st := n.FleetStatus(); st.Applied != 0 {
		t.Errorf("the restarted node applied %d events, want 0 (nothing new since it stopped)", st.Applied)
	}
}

// A store whose record of the stream it applied does not read (damaged) is
// taken to hold another stream's sequence: the replica replays the stream
// from its start and records it anew.
func TestUnreadableStreamIdentityReplays(t *testing.T) {
	s := eventstest.RunServer(t)
	w := newStreamWriter(t, s)
	jtis := w.publish("ev", 5)
	dir := t.TempDir()
	st, err := persist.Open(dir, persist.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetApplied(5, "not an identity"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	v := startNode(t, node.Config{DataDir: dir, Role: node.RoleValidator, NATS: node.NATSConfig{URLs: []string{s.ClientURL()}},
		Logger: slog.New(slog.DiscardHandler)})
	waitHasAll(t, jtis, v)
	waitReadyAt(t, v, 5)
	if got := v.FleetStatus().Applied; got != 5 {
		t.Errorf("applied %d events, want 5 (the stream replayed from its start)", got)
	}
	v.stop()
	st, err = persist.Open(dir, persist.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.AppliedStream(); err != nil || !strings.HasPrefix(got, events.DefaultStreamName+" ") {
		t.Errorf("recorded stream %q, %v; want the stream's identity recorded anew", got, err)
	}
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
