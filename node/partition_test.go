package node_test

import (
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/natsproc"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// Partitions and slow links: Shopify's toxiproxy, in-process on loopback,
// between validators and the NATS server. Convergence is judged by the
// blacklist digest of GET /v1/status (Status().BlacklistDigest), which every
// node computes the same way, not by sampling.

// long reports whether the long versions run (BLNODE_LONG=1).
func long() bool { return os.Getenv("BLNODE_LONG") == "1" }

// proxyTo starts a proxy on a free loopback port in front of s.
func proxyTo(t testing.TB, tp *toxiproxy.ApiServer, name string, s *server.Server) *toxiproxy.Proxy {
	t.Helper()
	return natsproc.Proxy(t, tp, name, s.Addr().(*net.TCPAddr).String())
}

// proxied is a validator config that reaches NATS through p.
func proxied(p *toxiproxy.Proxy) node.Config {
	return node.Config{Role: node.RoleValidator, CacheEntries: 1 << 12, NATS: node.NATSConfig{URLs: []string{"nats://" + p.Listen}}}
}

func addToxic(t testing.TB, p *toxiproxy.Proxy, js string) {
	t.Helper()
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		t.Fatalf("add toxic %s: %v", js, err)
	}
}

func digestOf(t testing.TB, n *running) string {
	t.Helper()
	st, err := n.Status(t.Context())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return st.BlacklistDigest
}

// waitConverged polls until every node shows the writer's blacklist
// digest, the writer's outbox is empty and no node lags.
func waitConverged(t testing.TB, within time.Duration, writer *running, others ...*running) {
	t.Helper()
	poll.For(t, within, 50*time.Millisecond, func() error {
		ws, err := writer.Status(t.Context())
		if err != nil {
			return err
		}
		if ws.OutboxDepth != 0 {
			return fmt.Errorf("writer outbox depth %d", ws.OutboxDepth)
		}
		behind := 0
		var example string
		for _, n := range others {
			st, err := n.Status(t.Context())
			if err != nil {
				return err
			}
			if st.BlacklistDigest != ws.BlacklistDigest || st.Lag != 0 {
				behind++
				example = fmt.Sprintf("node %s: digest %s lag %d nats %s", n.ID(), st.BlacklistDigest, st.Lag, st.NATS)
			}
		}
		if behind > 0 {
			return fmt.Errorf("%d of %d nodes differ from the writer's digest %s, e.g. %s", behind, len(others), ws.BlacklistDigest, example)
		}
		return nil
	})
	// The digest is maintained incrementally: prove it equals one
	// recomputed from the records, on every node.
	for _, n := range append([]*running{writer}, others...) {
		d, err := n.Store().Digest()
		if err != nil {
			t.Fatal(err)
		}
		r, err := n.Store().RecomputeDigest()
		if err != nil {
			t.Fatal(err)
		}
		if d != r {
			t.Fatalf("node %s: digest %v, recomputed %v", n.ID(), d, r)
		}
	}
}

// writeFor blacklists jtis with the prefix every interval until d has
// passed (at most max writes), and returns them.
func writeFor(t testing.TB, n *running, prefix string, d, interval time.Duration, max int) []string {
	t.Helper()
	var out []string
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.After(d)
	for len(out) < max {
		select {
		case <-end:
			return out
		case <-tick.C:
		}
		jti := fmt.Sprintf("%s-%05d", prefix, len(out))
		if _, err := n.Blacklist(t.Context(), persist.Record{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix()}); err != nil {
			t.Fatalf("write %s: %v", jti, err)
		}
		out = append(out, jti)
	}
	return out
}

func waitAllReady(t testing.TB, nodes ...*running) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		for _, n := range nodes {
			if !n.Ready() {
				return fmt.Errorf("node %s not ready", n.ID())
			}
		}
		return nil
	})
}

// TestPartitionedValidatorConverges cuts a validator off from NATS (the
// proxy stops: connections drop, reconnects are refused) while the writer
// keeps writing, for 5s (a minute with BLNODE_LONG=1); the validator keeps
// answering from its replica; healed, it converges to the writer's digest.
func TestPartitionedValidatorConverges(t *testing.T) {
	cut := 5 * time.Second
	if long() {
		cut = time.Minute
	}
	s := eventstest.RunServer(t)
	p := proxyTo(t, natsproc.NewToxiproxy(), "validator", s)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	v := startNode(t, proxied(p))
	waitAllReady(t, full, v)
	before := blacklistN(t, full.Node, "pre", 20)
	waitConverged(t, waitLong, full, v)

	p.Stop() // the partition
	poll.For(t, waitLong, pollEvery, func() error {
		if st, _ := v.Status(t.Context()); st.NATS != "disconnected" {
			return fmt.Errorf("validator NATS %s, want disconnected", st.NATS)
		}
		return nil
	})
	during := writeFor(t, full, "cut", cut, 10*time.Millisecond, 100_000)
	// Cut off, the validator still answers from its replica, and has not
	// seen what was written meanwhile.
	for _, jti := range before {
		if b, err := v.Check(jti); err != nil || !b {
			t.Fatalf("partitioned validator: Check(%s) = %v, %v; want blacklisted from its replica", jti, b, err)
		}
	}
	if digestOf(t, v) == digestOf(t, full) {
		t.Fatal("the validator has the writer's digest during the partition: the cut did not cut")
	}
	st, _ := v.Status(t.Context())
	if !st.Ready || st.NATS != "disconnected" {
		t.Errorf("partitioned validator status %+v: want ready (answering), NATS disconnected", st)
	}

	if err := p.Start(); err != nil { // healed
		t.Fatal(err)
	}
	waitConverged(t, waitLong, full, v)
	waitHasAll(t, during, v)
	t.Logf("partition of %v: %d writes during the cut, converged at %s", cut, len(during), digestOf(t, full))
}

// TestSlowLinkLosesNothing puts latency and a bandwidth limit between a
// validator and NATS: propagation slows, nothing is lost.
func TestSlowLinkLosesNothing(t *testing.T) {
	writes := 400
	if long() {
		writes = 4000
	}
	s := eventstest.RunServer(t)
	p := proxyTo(t, natsproc.NewToxiproxy(), "slow", s)
	addToxic(t, p, `{"name":"lat_down","type":"latency","stream":"downstream","attributes":{"latency":40,"jitter":20}}`)
	addToxic(t, p, `{"name":"lat_up","type":"latency","stream":"upstream","attributes":{"latency":40,"jitter":20}}`)
	addToxic(t, p, `{"name":"bw_down","type":"bandwidth","stream":"downstream","attributes":{"rate":64}}`)
	addToxic(t, p, `{"name":"slicer","type":"slicer","stream":"downstream","attributes":{"average_size":64,"size_variation":32,"delay":100}}`)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	v := startNode(t, proxied(p))
	waitAllReady(t, full, v)
	jtis := blacklistN(t, full.Node, "slow", writes)
	waitConverged(t, waitLong, full, v)
	waitHasAll(t, jtis, v)
	t.Logf("%d writes through 40±20ms latency each way, 64 KB/s and 64-byte slices: converged at %s", writes, digestOf(t, v))
}

// TestReconnectStormDoesNotStallTheWriter: ten validators lose NATS at
// once and come back at once while the writer keeps taking writes over
// HTTP; every write is acknowledged during the storm and every validator
// converges.
func TestReconnectStormDoesNotStallTheWriter(t *testing.T) {
	nValidators := 10
	if long() {
		nValidators = 30
	}
	s := eventstest.RunServer(t)
	p := proxyTo(t, natsproc.NewToxiproxy(), "storm", s)
	fcfg := fleetConfig(node.RoleFull, 1, s)
	fcfg.AdminToken = "admin-secret"
	full := startNode(t, fcfg)
	var validators []*running
	for range nValidators {
		validators = append(validators, startNode(t, proxied(p)))
	}
	waitAllReady(t, append(validators, full)...)
	waitConverged(t, waitLong, full, validators...)

	srv := httptest.NewServer(full.Handler())
	defer srv.Close()
	var acked atomic.Int64
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 5000; i++ { // bounded; stop ends it sooner
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"jti":"storm-%d-%05d","exp":%d}`, w, i, time.Now().Add(time.Hour).Unix())
				got := postJSON(t, srv.URL+"/v1/blacklist", body, "Authorization", admin)
				if got.status != 200 {
					failed.Add(1)
					t.Errorf("write during the storm: %d %s", got.status, got.body)
					return
				}
				acked.Add(1)
			}
		})
	}
	waitAcked := func(n int64) {
		t.Helper()
		poll.For(t, waitLong, pollEvery, func() error {
			if f := failed.Load(); f > 0 {
				t.Fatalf("%d writes failed", f)
			}
			if got := acked.Load(); got < n {
				return fmt.Errorf("%d writes acknowledged, want %d", got, n)
			}
			return nil
		})
	}
	waitAcked(50)
	p.Stop() // every validator drops at once
	poll.For(t, waitLong, pollEvery, func() error {
		for _, v := range validators {
			if st, _ := v.Status(t.Context()); st.NATS != "disconnected" {
				return errors.New("a validator still connected")
			}
		}
		return nil
	})
	atCut := acked.Load()
	waitAcked(atCut + 100)
	if err := p.Start(); err != nil { // and all reconnect at once
		t.Fatal(err)
	}
	atHeal := acked.Load()
	// The storm: writes go on being acknowledged while every validator
	// reconnects and replays.
	poll.For(t, waitLong, pollEvery, func() error {
		for _, v := range validators {
			if st, _ := v.Status(t.Context()); st.NATS != "connected" {
				return errors.New("a validator not reconnected yet")
			}
		}
		return nil
	})
	waitAcked(atHeal + 100)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d writes failed", failed.Load())
	}
	waitConverged(t, waitLong, full, validators...)
	t.Logf("%d validators reconnected at once; %d writes acknowledged in all (%d while cut off, %d from the heal to the end); converged at %s",
		nValidators, acked.Load(), atHeal-atCut, acked.Load()-atHeal, digestOf(t, full))
}
