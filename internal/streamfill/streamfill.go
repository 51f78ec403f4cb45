// Package streamfill fills an event stream with many blacklist events in
// their wire form, with the headers blnode's publisher sets (Nats-Msg-Id,
// Nats-Expected-Stream, Nats-TTL), for what needs a long stream to
// measure: the sizing test of deploy/deploytest, node's replay and snapshot
// benchmarks and blbench's replay scenario.
//
// # Caveats
//
//   - Publish sends Window messages asynchronously before it waits for
//     their acknowledgements: the JetStream context it is given must allow
//     that many pending (jetstream.WithPublishAsyncMaxPending(Window)), as
//     the one Fill makes does.
//   - Every event is a refresh token's blacklisting in one region, its
//     token valid for Lifetime from the start of the fill; the events go to
//     the default stream's subjects and expect the default stream.
package streamfill

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
)

const (
	// Window is how many events are published before the filler waits
	// for their acknowledgements.
	Window = 8192
	// Lifetime is how long the events' tokens stay valid after the fill
	// starts; the events' Nats-TTL is Lifetime plus
	// events.DefaultTTLMargin, as the node's publisher would set it.
	Lifetime = 24 * time.Hour
	// ackTimeout bounds the wait for a window's acknowledgements.
	ackTimeout = time.Minute
)

// Config says what the events hold; the zero value is a fill of random
// jtis in region "local".
type Config struct {
	Region string // the events' region and subject; "local" when empty
	Origin string // every event's origin; when empty, a random 16-character one per event
	Reason string // every token's reason; none when empty
	// JTI is the i-th token's jti; when nil, 32 random hex characters
	// (events.NewID), like Simple JWT's uuid4().hex: random keys are what
	// a replica's B+trees see in production.
	JTI func(i int) string
	// User is the i-th token's user id; strconv.Itoa(i) when nil.
	User func(i int, jti string) string
}

// Publish publishes n blacklist events to js and returns once JetStream
// has acknowledged all of them.
func Publish(ctx context.Context, js jetstream.JetStream, n int, cfg Config) error {
	region := cfg.Region
	if region == "" {
		region = "local"
	}
	start := time.Now()
	exp := start.Add(Lifetime)
	ttl := strconv.FormatInt(int64((Lifetime+events.DefaultTTLMargin)/time.Second), 10)
	subject := events.Subject("", region, events.KindBlacklist)
	for i := 0; i < n; i += Window {
		for j := i; j < min(i+Window, n); j++ {
			jti := events.NewID()
			if cfg.JTI != nil {
				jti = cfg.JTI(j)
			}
			user := strconv.Itoa(j)
			if cfg.User != nil {
				user = cfg.User(j, jti)
			}
			origin := cfg.Origin
			if origin == "" {
				origin = events.NewID()[:16]
			}
			ev := events.Event{ID: events.NewID(), Kind: events.KindBlacklist, Origin: origin, Region: region, Time: start,
				Token: &events.Token{JTI: jti, User: user, Type: "refresh", IssuedAt: start.Unix(), ExpiresAt: exp.Unix(), Reason: cfg.Reason}}
			data, err := ev.Encode()
			if err != nil {
				return fmt.Errorf("streamfill: encode event %d: %w", j, err)
			}
			msg := nats.NewMsg(subject)
			msg.Data = data
			msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
			msg.Header.Set(jetstream.ExpectedStreamHeader, events.DefaultStreamName)
			msg.Header.Set(jetstream.MsgTTLHeader, ttl)
			if _, err := js.PublishMsgAsync(msg); err != nil {
				return fmt.Errorf("streamfill: publish event %d: %w", j, err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(ackTimeout):
			return fmt.Errorf("streamfill: no acks for events %d..%d within %v", i, min(i+Window, n)-1, ackTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Fill connects to the NATS server at url, provisions the default stream
// (events.EnsureStream), publishes n blacklist events to it, checks that
// it then holds n messages, and returns the stream's bytes.
func Fill(ctx context.Context, url string, n int, cfg Config) (bytes uint64, err error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, fmt.Errorf("streamfill: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(Window))
	if err != nil {
		return 0, fmt.Errorf("streamfill: %w", err)
	}
	stream, err := events.EnsureStream(ctx, js, events.StreamConfig{})
	if err != nil {
		return 0, fmt.Errorf("streamfill: %w", err)
	}
	if err := Publish(ctx, js, n, cfg); err != nil {
		return 0, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("streamfill: %w", err)
	}
	if info.State.Msgs != uint64(n) {
		return 0, fmt.Errorf("streamfill: stream holds %d messages after publishing %d", info.State.Msgs, n)
	}
	return info.State.Bytes, nil
}
