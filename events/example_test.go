package events_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
)

// An issuer that does not run a node publishes a blacklist event itself.
// Here it starts its own in-process NATS server; a real issuer connects to
// the fleet's NATS with events.Connect.
func ExamplePublisher() {
	dir, err := os.MkdirTemp("", "blnode-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := events.StartEmbedded(events.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{}); err != nil {
		log.Fatal(err)
	}
	pub, err := events.NewPublisher(js, events.PublisherConfig{Region: "eu"})
	if err != nil {
		log.Fatal(err)
	}
	e := events.Event{
		ID:     events.NewID(),
		Kind:   events.KindBlacklist,
		Origin: "issuer-1",
		Time:   time.Now(),
		Token: &events.Token{
			JTI:       "5f2b9c0e1d7a4c3b8e6f0a1b2c3d4e5f",
			User:      "42",
			Type:      "refresh",
			ExpiresAt: time.Now().Add(24 * time.Hour).Unix(),
			Reason:    "logout",
		},
	}
	seq, err := pub.Publish(ctx, e)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("blacklisted jti %s as stream message %d on %s\n",
		e.Token.JTI, seq, events.Subject("", "eu", e.Kind))

	// Publishing the same event again (a retry) stores nothing new.
	again, err := pub.Publish(ctx, e)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retry stored as message", again)
	// Output:
	// blacklisted jti 5f2b9c0e1d7a4c3b8e6f0a1b2c3d4e5f as stream message 1 on blnode.ev.eu.blacklist
	// retry stored as message 1
}
