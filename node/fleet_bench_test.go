package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/observe"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/streamfill"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// Fleet benchmarks: propagation writer → validators through a 3-server
// cluster, replay of a large stream into a fresh validator, and durable
// writes with the outbox publishing. They report numbers with
// b.ReportMetric and assert none of them (only that the work was done).
//
//	go test -run='^$' -bench=Propagation -benchtime=3000x ./node/
//	BLNODE_BENCH_REPLAY_EVENTS=1000000 go test -run='^$' -bench=Replay -benchtime=1x ./node/
//	go test -run='^$' -bench=FleetWrites ./node/
//
// Knobs (environment):
//
//	BLNODE_BENCH_RATE           propagation writes per second (default 500)
//	BLNODE_BENCH_POLL           propagation poll interval of each validator's observer (default 50µs)
//	BLNODE_BENCH_REPLAY_EVENTS  events in the replayed stream (default 200000, the design target is 1000000)

const (
	benchAdmin       = "bench-admin-secret"
	benchMinTokens   = 1000             // propagation writes at least this many tokens
	benchWriteSlots  = 256              // propagation writes in flight at most
	benchSettle      = 2 * time.Minute  // longest wait for propagation or an outbox to drain
	benchReplayLimit = 10 * time.Minute // longest wait for a replaying validator to be ready
)

// benchConfig quiets a node: its logs would swamp the benchmark output.
func benchConfig(cfg node.Config) node.Config {
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

func benchEnvInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

func benchEnvDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q: want a positive duration", name, s)
	}
	return v
}

// percentile returns the nearest-rank q-quantile of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitReady waits until every node has caught up with the stream.
func waitReady(b *testing.B, limit time.Duration, nodes ...*running) {
	b.Helper()
	poll.For(b, limit, time.Millisecond, func() error {
		for i, n := range nodes {
			if !n.Ready() {
				return fmt.Errorf("node %d not ready: %+v", i, n.FleetStatus())
			}
		}
		return nil
	})
}

// postBlacklist blacklists jti through the full node's admin API and
// returns once the 200 has arrived.
func postBlacklist(ctx context.Context, client *http.Client, url, jti string, exp int64) error {
	body := `{"jti":"` + jti + `","exp":` + strconv.FormatInt(exp, 10) + `,"user":"bench","reason":"bench"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/blacklist", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+benchAdmin)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST /v1/blacklist %s: %d %s", jti, resp.StatusCode, b)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// BenchmarkPropagation writes tokens through the full node's HTTP API
// (POST /v1/blacklist, admin body) at a steady rate (BLNODE_BENCH_RATE,
// default 500/s; one token per b.Loop iteration, at least 1000) and measures,
// for every token and each of 4 validators, the time from the full node's 200
// to the moment the validator's in-process Check returns true. Three servers
// form the cluster, the stream has 3 replicas, the validators are spread over
// the servers and the writer knows all of them.
//
// Each validator has an observer goroutine that polls its pending tokens
// every BLNODE_BENCH_POLL (default 50µs). Go's timers sleep at least 1ms when
// the process is otherwise idle (epoll has millisecond resolution), so the
// real poll interval is reported as poll-us: latencies are late by up to one
// interval. Writes are open-loop (one goroutine per tick), so a slow write does
// not lower the rate.
//
// Besides p50-ms, p99-ms, max-ms and observations (tokens × validators) it
// reports stream-p50-ms and stream-p99-ms, the time from the 200 to the
// event's delivery to a plain ordered consumer on the first server (the
// outbox drain, replication and delivery, without a validator's apply), the
// write rate achieved and the latency of the writes themselves.
func BenchmarkPropagation(b *testing.B) {
	rate := benchEnvInt(b, "BLNODE_BENCH_RATE", 500)
	every := benchEnvDuration(b, "BLNODE_BENCH_POLL", 50*time.Microsecond)
	servers := eventstest.RunCluster(b, 3)
	fcfg := benchConfig(fleetConfig(node.RoleFull, 3, servers...))
	fcfg.AdminToken = benchAdmin
	full := startNode(b, fcfg)
	validators := make([]*running, 4)
	for i := range validators {
		validators[i] = startNode(b, benchConfig(fleetConfig(node.RoleValidator, 3, servers[i%len(servers)])))
	}
	srv := httptest.NewServer(full.Handler())
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWriteSlots}}
	b.Cleanup(client.CloseIdleConnections)
	exp := time.Now().Add(time.Hour).Unix()

	// Warm up: the stream exists, every consumer runs, connections are open.
	if err := postBlacklist(b.Context(), client, srv.URL, "warm-up", exp); err != nil {
		b.Fatal(err)
	}
	waitHasAll(b, []string{"warm-up"}, validators...)

	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	base := time.Now()
	delivered := watchDeliveries(b, servers[0], base)
	feeds := make([]chan *observe.Probe, len(validators))
	results := make([]observe.Result, len(validators))
	var observers sync.WaitGroup
	for i, v := range validators {
		feeds[i] = make(chan *observe.Probe, benchWriteSlots)
		observers.Go(func() {
			if results[i] = observe.Poll(ctx, v.Check, feeds[i], base, every); results[i].Err != nil {
				cancel() // stop the writers; nobody drains this feed any more
			}
		})
	}

	var (
		writers  sync.WaitGroup
		mu       sync.Mutex
		writeLat []time.Duration
		acked    []*observe.Probe
		writeErr error
		slots    = make(chan struct{}, benchWriteSlots)
		pace     = time.NewTicker(time.Second / time.Duration(rate))
		written  = 0
	)
	defer pace.Stop()
	write := func() {
		<-pace.C
		slots <- struct{}{}
		p := &observe.Probe{JTI: fmt.Sprintf("prop-%07d", written)}
		written++
		writers.Go(func() {
			defer func() { <-slots }()
			sent := time.Since(base)
			if err := postBlacklist(ctx, client, srv.URL, p.JTI, exp); err != nil {
				mu.Lock()
				writeErr = errors.Join(writeErr, err)
				mu.Unlock()
				return
			}
			p.Acked = time.Since(base)
			mu.Lock()
			writeLat = append(writeLat, p.Acked-sent)
			acked = append(acked, p)
			mu.Unlock()
			for _, f := range feeds {
				select {
				case f <- p:
				case <-ctx.Done():
				}
			}
		})
	}
	for b.Loop() {
		write()
	}
	for written < benchMinTokens {
		write()
	}
	writers.Wait()
	wrote := time.Since(base)
	for _, f := range feeds {
		close(f)
	}
	settle := time.AfterFunc(benchSettle, cancel)
	observers.Wait()
	settle.Stop()
	if writeErr != nil {
		b.Fatalf("writes failed: %v", writeErr)
	}

	var all []time.Duration
	var polls int
	var waiting time.Duration
	for i, o := range results {
		if o.Err != nil {
			b.Fatalf("validator %d: %v", i, o.Err)
		}
		if len(o.Lat) != written {
			b.Fatalf("validator %d saw %d of %d tokens", i, len(o.Lat), written)
		}
		slices.Sort(o.Lat)
		b.Logf("validator %d (server %d): p50 %.3fms p99 %.3fms max %.3fms", i, i%len(servers),
			ms(percentile(o.Lat, 0.50)), ms(percentile(o.Lat, 0.99)), ms(o.Lat[len(o.Lat)-1]))
		all = append(all, o.Lat...)
		polls += o.Polls
		waiting += o.Waiting
	}
	slices.Sort(all)
	slices.Sort(writeLat)
	stream := delivered.since(acked)
	b.ReportMetric(ms(percentile(stream, 0.50)), "stream-p50-ms")
	b.ReportMetric(ms(percentile(stream, 0.99)), "stream-p99-ms")
	b.ReportMetric(ms(percentile(all, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(all, 0.99)), "p99-ms")
	b.ReportMetric(ms(all[len(all)-1]), "max-ms")
	b.ReportMetric(float64(len(all)), "observations")
	b.ReportMetric(float64(written)/wrote.Seconds(), "writes/s")
	b.ReportMetric(ms(percentile(writeLat, 0.50)), "write-p50-ms")
	b.ReportMetric(ms(percentile(writeLat, 0.99)), "write-p99-ms")
	if polls > 0 {
		b.ReportMetric(float64(waiting.Microseconds())/float64(polls), "poll-us")
	}
}

// fillStream provisions the default stream (1 replica) on s and publishes n
// blacklist events to it (internal/streamfill), with random jtis like
// Simple JWT's uuid4().hex: random keys are what a replica's B+trees see in
// production (sequential ones would replay several times faster).
func fillStream(b *testing.B, s *server.Server, n int) {
	b.Helper()
	start := time.Now()
	bytes, err := streamfill.Fill(b.Context(), s.ClientURL(), n, streamfill.Config{Origin: "bench-publisher", Reason: "bench",
		User: func(i int, _ string) string { return strconv.Itoa(i % 10_000) }})
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.Logf("stream filled: %d events, %.1f MB, in %v (%.0f events/s)", n, float64(bytes)/1e6,
		took.Round(time.Millisecond), float64(n)/took.Seconds())
}

// BenchmarkReplay measures a new validator (empty data dir) catching up with
// a stream of BLNODE_BENCH_REPLAY_EVENTS blacklist events (default 200000 so
// that a casual run is quick; the design target is 1000000 — "a new validator
// with 1M events ready in seconds"):
//
//	BLNODE_BENCH_REPLAY_EVENTS=1000000 go test -run='^$' -bench=Replay -benchtime=1x ./node/
//
// The stream is filled once; each iteration times node.New until Ready (the
// moment /readyz answers 200) and reports the mean seconds-to-ready and the
// events applied per second.
func BenchmarkReplay(b *testing.B) {
	n := benchEnvInt(b, "BLNODE_BENCH_REPLAY_EVENTS", 200_000)
	s := eventstest.RunServer(b)
	fillStream(b, s, n)

	var took time.Duration
	iters := 0
	for b.Loop() {
		cfg := benchConfig(fleetConfig(node.RoleValidator, 1, s))
		cfg.DataDir = b.TempDir()
		start := time.Now()
		v := startNode(b, cfg)
		waitReady(b, benchReplayLimit, v)
		d := time.Since(start)
		took += d
		iters++

		rec := httptest.NewRecorder()
		v.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		c, err := v.Store().Counts()
		if rec.Code != http.StatusOK || err != nil || c.Blacklisted != uint64(n) {
			b.Fatalf("ready after %v: /readyz %d, %d of %d blacklisted (%v)", d, rec.Code, c.Blacklisted, n, err)
		}
		b.Logf("replayed %d events in %v; store %.1f MB", n, d.Round(time.Millisecond), float64(v.Store().Size())/1e6)
		v.stop()
		if err := os.RemoveAll(cfg.DataDir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(took.Seconds()/float64(iters), "s-to-ready")
	b.ReportMetric(float64(n*iters)/took.Seconds(), "events/s")
}

// BenchmarkFleetWrites measures durable blacklist writes (full.Blacklist,
// fsynced with its outbox entry) on a full node connected to one in-process
// server, with the outbox publisher and the node's own subscriber running, at
// 1 and 64 concurrent writers. After the writes it reports the outbox depth
// left behind and how long the publisher took to drain it.
func BenchmarkFleetWrites(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := eventstest.RunServer(b)
			full := startNode(b, benchConfig(fleetConfig(node.RoleFull, 1, s)))
			waitReady(b, waitLong, full)
			exp := time.Now().Add(time.Hour).Unix()
			var (
				next    atomic.Int64
				wg      sync.WaitGroup
				mu      sync.Mutex
				failure error
			)
			b.ResetTimer()
			start := time.Now()
			for range writers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						r := persist.Record{JTI: events.NewID(), ExpiresAt: exp, User: "bench"}
						if _, err := full.Blacklist(b.Context(), r); err != nil {
							mu.Lock()
							failure = errors.Join(failure, err)
							mu.Unlock()
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if failure != nil {
				b.Fatal(failure)
			}
			st, err := full.Status(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			depth := st.OutboxDepth
			ended := time.Now()
			poll.For(b, benchSettle, time.Millisecond, func() error {
				st, err := full.Status(b.Context())
				if err != nil || st.OutboxDepth != 0 {
					return fmt.Errorf("outbox depth %d (%v)", st.OutboxDepth, err)
				}
				return nil
			})
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
			b.ReportMetric(float64(depth), "outbox-depth")
			b.ReportMetric(ms(time.Since(ended)), "drain-ms")
		})
	}
}

// deliveries records when each token's event reaches a plain ordered
// consumer on s: the stream side of propagation (outbox drain, replication,
// delivery) without a validator's apply.
type deliveries struct {
	mu sync.Mutex
	at map[string]time.Duration // jti → since base
}

func watchDeliveries(b *testing.B, s *server.Server, base time.Time) *deliveries {
	b.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := js.OrderedConsumer(b.Context(), events.DefaultStreamName, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	d := &deliveries{at: map[string]time.Duration{}}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		at := time.Since(base)
		if ev, err := events.Decode(msg.Data()); err == nil && ev.Token != nil {
			d.mu.Lock()
			d.at[ev.Token.JTI] = at
			d.mu.Unlock()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cc.Stop)
	return d
}

// since returns, sorted, how long after its 200 each probe was delivered
// (negative when the event was delivered before the client had its answer).
func (d *deliveries) since(probes []*observe.Probe) []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]time.Duration, 0, len(probes))
	for _, p := range probes {
		if at, ok := d.at[p.JTI]; ok {
			out = append(out, at-p.Acked)
		}
	}
	slices.Sort(out)
	return out
}

// BenchmarkIdleValidators measures what an idle validator costs: N
// validators (BLNODE_BENCH_VALIDATORS, default 50), each its own node.New
// with its own connection and subscriber, follow a stream of
// BLNODE_BENCH_IDLE_EVENTS events (default 100; 8192 or more makes each
// replay them with a catch-up session first) on one in-process server.
// Once every one is ready it reports:
//
//   - heap-B/validator: the growth of the heap in use (runtime.MemStats
//     HeapInuse, after a GC) from before the first New to the end of the
//     idle window, divided by N. The in-process server's share for each
//     connection and consumer is included, and so is, when the stream is
//     large, the server's cache of its messages.
//   - api-req/validator/min: JetStream API requests (STREAM.INFO,
//     CONSUMER.INFO, …; the server's Jsz API total) per validator per
//     minute over an idle window of BLNODE_BENCH_IDLE_WINDOW (default
//     1m, long enough to cover the stream look's default interval).
//   - pulls/validator/min: pull requests ($JS.API.CONSUMER.MSG.NEXT) in
//     the same window, counted by a monitoring subscription.
//
// Run it with:
//
//	go test -run='^$' -bench=IdleValidators -benchtime=1x ./node/
func BenchmarkIdleValidators(b *testing.B) {
	n := benchEnvInt(b, "BLNODE_BENCH_VALIDATORS", 50)
	window := benchEnvDuration(b, "BLNODE_BENCH_IDLE_WINDOW", time.Minute)
	evs := benchEnvInt(b, "BLNODE_BENCH_IDLE_EVENTS", 100)
	s := eventstest.RunServer(b)
	fillStream(b, s, evs)
	mon, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(mon.Close)
	var pulls atomic.Int64
	if _, err := mon.Subscribe("$JS.API.CONSUMER.MSG.NEXT.>", func(*nats.Msg) { pulls.Add(1) }); err != nil {
		b.Fatal(err)
	}
	if err := mon.Flush(); err != nil {
		b.Fatal(err)
	}
	apiTotal := func() uint64 {
		b.Helper()
		jsz, err := s.Jsz(&server.JSzOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return jsz.API.Total
	}

	var heap, api, pull float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		validators := make([]*running, n)
		for i := range validators {
			validators[i] = startNode(b, benchConfig(fleetConfig(node.RoleValidator, 1, s)))
		}
		waitReady(b, benchSettle, validators...)

		api0, pulls0, start := apiTotal(), pulls.Load(), time.Now()
		idle := time.NewTimer(window)
		select {
		case <-idle.C:
		case <-b.Context().Done():
			idle.Stop()
			b.Fatal("interrupted")
		}
		if err := mon.Flush(); err != nil {
			b.Fatal(err)
		}
		minutes := time.Since(start).Minutes() * float64(n)
		api = float64(apiTotal()-api0) / minutes
		pull = float64(pulls.Load()-pulls0) / minutes
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = (float64(after.HeapInuse) - float64(before.HeapInuse)) / float64(n)
		for _, v := range validators {
			if st := v.FleetStatus(); st.LastApplied != uint64(evs) {
				b.Fatalf("validator applied up to %d, want %d", st.LastApplied, evs)
			}
			v.stop()
		}
	}
	b.ReportMetric(heap, "heap-B/validator")
	b.ReportMetric(api, "api-req/validator/min")
	b.ReportMetric(pull, "pulls/validator/min")
}
