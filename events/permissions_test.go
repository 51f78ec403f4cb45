package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
)

// validatorConf gives the validator user exactly what a Subscriber needs:
// stream info, ordered consumers and their pulls, replies on its inbox.
// It may not publish events.
const validatorConf = `
accounts {
  FLEET {
    jetstream: enabled
    users: [
      {user: writer, password: w}
      {user: validator, password: v, permissions: {
        publish: {allow: [
          "$JS.API.STREAM.INFO.BLNODE",
          "$JS.API.STREAM.MSG.GET.BLNODE",
          "$JS.API.CONSUMER.CREATE.BLNODE.>",
          "$JS.API.CONSUMER.DELETE.BLNODE.>",
          "$JS.API.CONSUMER.INFO.BLNODE.>",
          "$JS.API.CONSUMER.MSG.NEXT.BLNODE.>"
        ]}
        subscribe: {allow: ["_INBOX.>"]}
      }}
    ]
  }
}
`

func TestValidatorPermissions(t *testing.T) {
	s := eventstest.RunServerWithConfig(t, validatorConf)
	_, wjs := connect(t, s.ClientURL(), nats.UserInfo("writer", "w"))
	if _, err := events.EnsureStream(t.Context(), wjs, events.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStream as writer: %v", err)
	}
	wp := newPublisher(t, wjs, events.PublisherConfig{})
	publishN(t, wp, 3)

	_, vjs := connect(t, s.ClientURL(), nats.UserInfo("validator", "v"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	a := newApplier(0)
	sub := newSubscriber(t, vjs, a, events.SubscriberConfig{})
	runSubscriber(t, sub)
	waitApplied(t, a, 3)
	waitSubscriberReady(t, sub)
	publishN(t, wp, 1)
	waitApplied(t, a, 4)

	// The validator cannot publish events.
	vp := newPublisher(t, vjs, events.PublisherConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := vp.Publish(ctx, blacklistEvent("forged")); err == nil {
		t.Fatal("validator published an event")
	}
	if n, err := streamMsgs(t, wjs); err != nil || n != 4 {
		t.Fatalf("stream holds %d messages (%v), want 4", n, err)
	}
}

// A validator's permissions are enough to serve the feed: its follower
// (an ordered consumer) and a reader's catch-up from the stream (a
// consumer of its own, fetched, then deleted).
func TestValidatorPermissionsServeTheFeed(t *testing.T) {
	s := eventstest.RunServerWithConfig(t, validatorConf)
	_, wjs := connect(t, s.ClientURL(), nats.UserInfo("writer", "w"))
	if _, err := events.EnsureStream(t.Context(), wjs, events.StreamConfig{}); err != nil {
		t.Fatalf("EnsureStream as writer: %v", err)
	}
	before := publishFeed(t, wjs, events.KindBlacklist, 3, 1)
	_, vjs := connect(t, s.ClientURL(), nats.UserInfo("validator", "v"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	f := newFeed(t, vjs, events.FeedConfig{})
	r, err := f.Open(t.Context(), events.RevocationKinds(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	after := publishFeed(t, wjs, events.KindRevokeUser, 2, 1)
	readFeed(t, r, append(before, after...))
}
