package events_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
)

// Three servers, an R3 stream; the server the subscriber is connected to is
// restarted while events are being published. Every event acknowledged to
// the publisher ends up applied.
func TestClusterRestartDuringPublishing(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	servers := eventstest.RunCluster(t, 3)
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	all := strings.Join(urls, ",")
	_, pjs := connect(t, all)
	subNC, sjs := connect(t, all)
	cfg := events.StreamConfig{Replicas: 3}
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	poll.For(t, waitLong, 100*time.Millisecond, func() error {
		_, err := events.EnsureStream(ctx, pjs, cfg)
		return err
	})

	a := newApplier(0)
	sub := newSubscriber(t, sjs, a, events.SubscriberConfig{Stream: cfg})
	runSubscriber(t, sub)
	p := newPublisher(t, pjs, events.PublisherConfig{Stream: cfg})

	const total = 300
	var (
		mu  sync.Mutex
		ids []string
	)
	half := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		pctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		for i := range total {
			if i == total/2 {
				close(half)
			}
			e := blacklistEvent(fmt.Sprintf("c-%d", i))
			for { // retry the same event (same id) until acknowledged
				actx, acancel := context.WithTimeout(pctx, 2*time.Second)
				_, err := p.Publish(actx, e)
				acancel()
				if err == nil {
					break
				}
				if pctx.Err() != nil {
					pubDone <- fmt.Errorf("event %d never acknowledged: %w", i, err)
					return
				}
			}
			mu.Lock()
			ids = append(ids, e.ID)
			mu.Unlock()
		}
		pubDone <- nil
	}()

	<-half
	name := subNC.ConnectedServerName()
	restarted := false
	for i, s := range servers {
		if s.Name() == name {
			servers[i] = eventstest.RestartServer(t, s)
			restarted = true
		}
	}
	if !restarted {
		t.Fatalf("subscriber connected to %q, not one of the cluster", name)
	}
	mu.Lock()
	during := len(ids)
	mu.Unlock()
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	if subNC.Stats().Reconnects == 0 {
		t.Fatalf("subscriber connection never reconnected")
	}
	t.Logf("restarted %s; %d of %d events acknowledged when it was back", name, during, total)

	poll.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, _, byID := a.snapshot()
		missing := 0
		for _, id := range ids {
			if byID[id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d events not applied (status %+v)", missing, len(ids), sub.Status())
		}
		return nil
	})
	if st := sub.Status(); st.Skipped != 0 {
		t.Fatalf("status %+v", st)
	}
}
