package events_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
)

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		filter, subject string
		want            bool
	}{
		{"blnode.ev.>", "blnode.ev.eu.blacklist", true},
		{"blnode.ev.eu.>", "blnode.ev.eu.blacklist", true},
		{"blnode.ev.eu.>", "blnode.ev.us.blacklist", false},
		{"blnode.ev.eu.>", "blnode.ev.eu", false},
		{"blnode.ev.*.blacklist", "blnode.ev.eu.blacklist", true},
		{"blnode.ev.*.blacklist", "blnode.ev.eu.flush", false},
		{"blnode.ev.eu.blacklist", "blnode.ev.eu.blacklist", true},
		{"blnode.ev.eu.blacklist", "blnode.ev.eu.blacklist.x", false},
		{"blnode.ev.eu.*", "blnode.ev.eu.revoke_user", true},
		{">", "blnode.ev.eu.flush", true},
		{"other.>", "blnode.ev.eu.flush", false},
	} {
		if got := events.SubjectMatches(c.filter, c.subject); got != c.want {
			t.Errorf("SubjectMatches(%q, %q) = %v, want %v", c.filter, c.subject, got, c.want)
		}
	}
}

func TestStreamSubjectsValidated(t *testing.T) {
	_, _, js := setup(t)
	for _, bad := range [][]string{{"other.>"}, {"blnode.ev.>.x"}, {"blnode.ev..x"}, {""}, {"blnode.evx.>"}} {
		_, err := events.EnsureStream(t.Context(), js, events.StreamConfig{Name: "BAD", Subjects: bad})
		if !errors.Is(err, events.ErrInvalidConfig) || !strings.Contains(err.Error(), "Subjects") {
			t.Errorf("Subjects %q: err %v, want an invalid config error naming Subjects", bad, err)
		}
	}
}

// TestRegionalStreamAndCheck provisions a regional stream, which takes only
// its region's events, and checks publishers against it.
func TestRegionalStreamAndCheck(t *testing.T) {
	_, js := connect(t, eventstest.RunServer(t).ClientURL()) // no default stream: it would take every subject
	ctx := t.Context()
	eu := events.StreamConfig{Name: "BLNODE_EU", Subjects: []string{"blnode.ev.eu.>"}}
	s, err := events.EnsureStream(ctx, js, eu)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Subjects; !slices.Equal(got, []string{"blnode.ev.eu.>"}) {
		t.Fatalf("stream subjects %q", got)
	}
	if err := events.CheckPublishSubjects(ctx, js, eu, "eu"); err != nil {
		t.Errorf("region eu on BLNODE_EU: %v", err)
	}
	err = events.CheckPublishSubjects(ctx, js, eu, "us")
	if !errors.Is(err, events.ErrStreamSubjects) || !strings.Contains(err.Error(), "blnode.ev.us.") || !strings.Contains(err.Error(), "BLNODE_EU") {
		t.Errorf("region us on BLNODE_EU: %v, want ErrStreamSubjects naming the stream and the subject", err)
	}
	// A stream that does not exist is not a mismatch: the caller waits.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = events.CheckPublishSubjects(cctx, js, events.StreamConfig{Name: "NOT_YET"}, "eu")
	if !errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, events.ErrStreamSubjects) {
		t.Errorf("missing stream: %v, want ErrStreamNotFound", err)
	}

	// Events of region eu land in it; us events have no stream here.
	p := newPublisher(t, js, events.PublisherConfig{Stream: eu, Region: "eu"})
	if _, err := p.Publish(ctx, blacklistEvent("eu-1")); err != nil {
		t.Fatalf("publish eu: %v", err)
	}
	pus := newPublisher(t, js, events.PublisherConfig{Stream: eu, Region: "us"})
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if _, err := pus.Publish(pctx, blacklistEvent("us-1")); err == nil {
		t.Error("an event of region us was stored in BLNODE_EU")
	}
}
