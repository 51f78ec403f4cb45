package events_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
)

// liveConfig follows the live subject and confirms it often, so that a
// gap only the confirm can see is found within the test's patience.
func liveConfig() events.SubscriberConfig {
	return events.SubscriberConfig{Live: true, Kinds: events.RevocationKinds(), StreamInfoInterval: 200 * time.Millisecond}
}

// waitLive waits until sub follows the live subject with n events applied.
func waitLive(t *testing.T, sub *events.Subscriber, a *memApplier, n int) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		if _, seqs, _ := a.snapshot(); len(seqs) < n {
			return fmt.Errorf("%d events applied, want %d", len(seqs), n)
		}
		if !sub.Status().Live {
			return fmt.Errorf("not following the live subject: %+v", sub.Status())
		}
		return nil
	})
}

// startLive publishes n events, then starts a live subscriber and waits
// until it has applied them and follows the live subject.
func startLive(t *testing.T, n int) (jetstream.JetStream, *events.Publisher, *memApplier, *events.Subscriber) {
	t.Helper()
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, n)
	a := newApplier(0)
	sub := newSubscriber(t, js, a, liveConfig())
	runSubscriber(t, sub)
	waitLive(t, sub, a, n)
	return js, p, a, sub
}

// consumers returns the number of consumers on the default stream.
func consumers(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	s, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.Consumers
}

// recordedHeld fails unless every event the stream holds up to the
// Applier's recorded sequence has been applied: what the replica reports as
// applied is in force.
func recordedHeld(t *testing.T, js jetstream.JetStream, a *memApplier) {
	t.Helper()
	last, _, ids := a.snapshot()
	s, err := js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= last; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		for _, d := range events.MessageEvents(m.Data, m.Header) {
			e, err := events.Decode(d)
			if err != nil {
				t.Fatalf("message %d: %v", seq, err)
			}
			if ids[e.ID] == 0 {
				t.Fatalf("recorded sequence %d, but event %s of message %d is not applied", last, e.ID, seq)
			}
		}
	}
}

// A caught-up live subscriber follows the republished subject: no consumer
// stays on the server, events arrive, and the recorded sequence follows
// them (lazily: a confirm moves it).
func TestLiveFollowsWithoutConsumer(t *testing.T) {
	js, p, a, sub := startLive(t, 5)
	for i := range 5 {
		if _, err := p.Publish(t.Context(), blacklistEvent(fmt.Sprintf("live-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitLive(t, sub, a, 10)
	poll.For(t, waitLong, pollEvery, func() error {
		if last, _ := a.LastApplied(); last != 10 {
			return fmt.Errorf("recorded sequence %d, want 10", last)
		}
		if n := consumers(t, js); n != 0 {
			return fmt.Errorf("%d consumers on the stream, want none", n)
		}
		return nil
	})
	recordedHeld(t, js, a)
	if st := sub.Status(); st.Gaps != 0 || st.Confirms == 0 || !st.Ready {
		t.Errorf("status %+v: want no gaps, confirms, ready", st)
	}
}

// Messages the stream stores but the live subject never carries are
// found, by the next message's chain or, when none follows, by the
// confirm, and replayed from the stream.
func TestLiveGapIsReplayed(t *testing.T) {
	js, p, a, sub := startLive(t, 2)

	// A gap in the chain: the next message on the subject names one not seen.
	eventstest.WithoutRepublish(t, js, events.DefaultStreamName, func() { publishN(t, p, 1) })
	if _, err := p.Publish(t.Context(), blacklistEvent("after-gap")); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, a, 4)
	if st := sub.Status(); st.Gaps < 1 {
		t.Errorf("Gaps = %d after a gap in the chain, want 1 or more", st.Gaps)
	}

	// A lost last message: only the confirm sees it.
	eventstest.WithoutRepublish(t, js, events.DefaultStreamName, func() { publishN(t, p, 1) })
	waitLive(t, sub, a, 5)
	if st := sub.Status(); st.Gaps < 2 {
		t.Errorf("Gaps = %d after a lost last message, want 2 or more", st.Gaps)
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if last, _ := a.LastApplied(); last != 5 {
			return fmt.Errorf("recorded sequence %d, want 5", last)
		}
		return nil
	})
	recordedHeld(t, js, a)
}

// A live subscriber whose server restarts replays what it may have missed
// and goes back to the live subject.
func TestLiveSurvivesServerRestart(t *testing.T) {
	s, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 3)
	a := newApplier(0)
	sub := newSubscriber(t, js, a, liveConfig())
	runSubscriber(t, sub)
	waitLive(t, sub, a, 3)

	eventstest.RestartServer(t, s)
	for i := range 3 {
		e := blacklistEvent(fmt.Sprintf("after-%d", i))
		poll.For(t, waitLong, pollEvery, func() error {
			// One attempt may get no answer as the server comes back.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			_, err := p.Publish(ctx, e)
			return err
		})
	}
	waitLive(t, sub, a, 6)
	if st := sub.Status(); st.Gaps < 1 {
		t.Errorf("Gaps = %d after a reconnect, want 1 or more (a reconnect may lose messages)", st.Gaps)
	}
	recordedHeld(t, js, a)
}

// A subscriber configured for the live subject on a stream that does not
// republish follows it with a consumer.
func TestLiveFallsBackToConsumer(t *testing.T) {
	s := eventstest.RunServer(t)
	_, js := connect(t, s.ClientURL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: events.DefaultStreamName, Subjects: []string{events.DefaultPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, js, events.PublisherConfig{})
	publishN(t, p, 3)
	a := newApplier(0)
	sub := newSubscriber(t, js, a, liveConfig())
	runSubscriber(t, sub)
	waitApplied(t, a, 3)
	publishN(t, p, 2)
	waitApplied(t, a, 5)
	if st := sub.Status(); st.Live || consumers(t, js) != 1 {
		t.Errorf("Live = %v with %d consumers, want a consumer", st.Live, consumers(t, js))
	}
}

// inForceApplier previews blacklistings (in force on arrival) and nothing
// else, as the node's applier does with a user's revocation.
type inForceApplier struct{ *memApplier }

func (a inForceApplier) Preview(ev events.Event) bool { return ev.Kind == events.KindBlacklist }

// A live event that Preview does not put in force ends the gathering of
// previewed ones: its batch commits at once, not after PreviewWait (an
// hour here), and the blacklistings gathered before it with it.
func TestLiveCommitsAtOnceWhatPreviewDoesNotPutInForce(t *testing.T) {
	_, _, js := setup(t)
	p := newPublisher(t, js, events.PublisherConfig{})
	a := inForceApplier{newApplier(0)}
	cfg := liveConfig()
	cfg.PreviewWait = time.Hour
	sub := newSubscriber(t, js, a, cfg)
	runSubscriber(t, sub)
	waitLive(t, sub, a.memApplier, 0)
	publishN(t, p, 3)
	revoke := events.Event{V: 1, ID: events.NewID(), Kind: events.KindRevokeUser, Origin: "test", Time: time.Now(),
		User: "u1", NotBefore: time.Now().Unix()}
	if _, err := p.Publish(t.Context(), revoke); err != nil {
		t.Fatal(err)
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if _, _, ids := a.snapshot(); ids[revoke.ID] == 0 || len(ids) != 4 {
			return fmt.Errorf("%d of 4 events applied (the user's revocation: %v)", len(ids), ids[revoke.ID] > 0)
		}
		return nil
	})
	if !sub.Status().Live {
		t.Fatal("the events did not arrive on the live subject: the test proves nothing")
	}
}
