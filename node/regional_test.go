package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
)

// regionalJS connects to s for the test's own stream administration.
func regionalJS(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestRegionalWriteAndAggregateRead runs the multi-region layout on one
// server: full nodes of regions eu and us each provision and write their
// own stream (which then takes only its region's subjects), and every node
// follows an aggregate that sources both.
func TestRegionalWriteAndAggregateRead(t *testing.T) {
	s := eventstest.RunServer(t)
	js := regionalJS(t, s.ClientURL())
	cfg := func(role node.Role, region, write string) node.Config {
		return node.Config{Role: role, Region: region, NATS: node.NATSConfig{URLs: []string{s.ClientURL()}},
			Stream: events.StreamConfig{Name: write}, ReadStream: "BLNODE_ALL"}
	}
	eu := startNode(t, cfg(node.RoleFull, "eu", "BLNODE_EU"))
	us := startNode(t, cfg(node.RoleFull, "us", "BLNODE_US"))
	val := startNode(t, cfg(node.RoleValidator, "eu", ""))

	for _, r := range []string{"eu", "us"} {
		name := "BLNODE_" + map[string]string{"eu": "EU", "us": "US"}[r]
		poll.For(t, waitLong, pollEvery, func() error {
			st, err := js.Stream(t.Context(), name)
			if err != nil {
				return err
			}
			if got := st.CachedInfo().Config.Subjects; !slices.Equal(got, []string{"blnode.ev." + r + ".>"}) {
				t.Fatalf("%s takes %q, want only blnode.ev.%s.>", name, got, r)
			}
			return nil
		})
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "BLNODE_ALL", Storage: jetstream.FileStorage,
		Sources: []*jetstream.StreamSource{{Name: "BLNODE_EU"}, {Name: "BLNODE_US"}}}); err != nil {
		t.Fatal(err)
	}
	all := append(blacklistN(t, eu.Node, "eu", 3), blacklistN(t, us.Node, "us", 3)...)
	waitHasAll(t, all, eu, us, val)

	for _, r := range []*running{eu, us, val} {
		if fs := r.FleetStatus(); fs.Stream != "BLNODE_ALL" {
			t.Errorf("FleetStatus.Stream %q, want the read stream BLNODE_ALL", fs.Stream)
		}
	}
	if fs := eu.FleetStatus(); fs.WriteStream != "BLNODE_EU" {
		t.Errorf("FleetStatus.WriteStream %q, want BLNODE_EU", fs.WriteStream)
	}
	// Logins in both regions: the validator (revocations only, the default)
	// is sent none of them through the aggregate, and converges with lag 0.
	addOutstandingN(t, eu.Node, "eu-login", 5)
	addOutstandingN(t, us.Node, "us-login", 5)
	poll.For(t, waitLong, pollEvery, func() error {
		es, err := eu.Status(t.Context())
		if err != nil {
			return err
		}
		vs, err := val.Status(t.Context())
		if err != nil {
			return err
		}
		if es.StreamLast != 16 || vs.StreamLast != 16 || !vs.Ready || vs.Lag != 0 || vs.BlacklistDigest != es.BlacklistDigest {
			return fmt.Errorf("eu %+v, validator %+v: want both at the aggregate's 16 events, the validator ready with lag 0 and the same digest", es, vs)
		}
		if vs.EventsApplied != 6 || vs.Outstanding != 6 || es.Outstanding != 16 {
			return fmt.Errorf("validator applied %d events and holds %d outstanding records, eu %d: want 6 (the blacklisted tokens'), 6 and 16",
				vs.EventsApplied, vs.Outstanding, es.Outstanding)
		}
		return nil
	})
	// Each region's events went to its own stream.
	for name, want := range map[string]uint64{"BLNODE_EU": 8, "BLNODE_US": 8} {
		st, err := js.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.CachedInfo().State.Msgs; n != want {
			t.Errorf("%s holds %d events, want %d", name, n, want)
		}
	}
}

// TestOperatorProvisionedStream: with NoProvisionStream a full node creates
// no stream; its writes wait in the outbox until the operator creates it.
func TestOperatorProvisionedStream(t *testing.T) {
	s := eventstest.RunServer(t)
	js := regionalJS(t, s.ClientURL())
	n := startNode(t, node.Config{Region: "eu", NATS: node.NATSConfig{URLs: []string{s.ClientURL()}},
		Stream: events.StreamConfig{Name: "OPS_EU"}, NoProvisionStream: true})
	jtis := blacklistN(t, n.Node, "early", 2)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, "OPS_EU"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("stream lookup: %v, want not found: the node must not provision it", err)
	}
	if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{Name: "OPS_EU"}); err != nil {
		t.Fatal(err)
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if st := n.FleetStatus(); st.LastApplied < uint64(len(jtis)) {
			return errors.New("the queued writes have not gone through the stream yet")
		}
		return nil
	})
}

// TestWriteStreamOfAnotherRegionStopsTheNode: a full node whose region the
// write stream does not take ends Run with events.ErrStreamSubjects.
func TestWriteStreamOfAnotherRegionStopsTheNode(t *testing.T) {
	s := eventstest.RunServer(t)
	js := regionalJS(t, s.ClientURL())
	if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{Name: "BLNODE_EU", Subjects: []string{"blnode.ev.eu.>"}}); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{DataDir: t.TempDir(), Region: "us", Token: token.Config{HSSecret: secret},
		NATS: node.NATSConfig{URLs: []string{s.ClientURL()}}, Stream: events.StreamConfig{Name: "BLNODE_EU"},
		NoProvisionStream: true, FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	if err := n.Run(ctx); !errors.Is(err, events.ErrStreamSubjects) {
		t.Fatalf("Run: %v, want ErrStreamSubjects", err)
	}
}
