package node_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/token"
	"github.com/blnode/blnode/persist"
)

const (
	waitLong  = 60 * time.Second
	pollEvery = 20 * time.Millisecond
)

// running is a node whose Run goroutine the test controls.
type running struct {
	*node.Node
	dir  string
	stop func()
}

// startNode creates a node from cfg and runs it until the test ends or stop
// is called.
func startNode(t testing.TB, cfg node.Config) *running {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Token.HSSecret == nil {
		cfg.Token = token.Config{HSSecret: secret}
	}
	cfg.FlushInterval = -1
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
			n.Close()
		})
	}
	t.Cleanup(stop)
	return &running{Node: n, dir: cfg.DataDir, stop: stop}
}

func urls(servers ...*server.Server) []string {
	var out []string
	for _, s := range servers {
		out = append(out, s.ClientURL())
	}
	return out
}

func fleetConfig(role node.Role, replicas int, servers ...*server.Server) node.Config {
	return node.Config{Role: role, NATS: node.NATSConfig{URLs: urls(servers...)}, Stream: events.StreamConfig{Replicas: replicas}}
}

func blacklistN(t testing.TB, n *node.Node, prefix string, count int) []string {
	t.Helper()
	jtis := make([]string, count)
	for i := range jtis {
		jtis[i] = fmt.Sprintf("%s-%06d", prefix, i)
		if _, err := n.Blacklist(t.Context(), persist.Record{JTI: jtis[i], ExpiresAt: time.Now().Add(time.Hour).Unix(), User: "u"}); err != nil {
			t.Fatalf("blacklist %d: %v", i, err)
		}
	}
	return jtis
}

// waitHasAll polls until every node reports every jti blacklisted.
func waitHasAll(t testing.TB, jtis []string, nodes ...*running) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		for i, n := range nodes {
			for _, jti := range jtis {
				if b, err := n.Check(jti); err != nil || !b {
					return fmt.Errorf("node %d: %s not blacklisted (%v)", i, jti, err)
				}
			}
		}
		return nil
	})
}

func TestFleetClusterPropagates(t *testing.T) {
	servers := eventstest.RunCluster(t, 3)
	full := startNode(t, fleetConfig(node.RoleFull, 3, servers...))
	var validators []*running
	for i := range 3 {
		validators = append(validators, startNode(t, fleetConfig(node.RoleValidator, 3, servers[i])))
	}
	srv := httptest.NewServer(full.Handler())
	defer srv.Close()
	tok, jti := refresh(t)
	if got := postJSON(t, srv.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(tok)+`}`); got.status != 200 {
		t.Fatalf("blacklist: %d %s", got.status, got.body)
	}
	for i, v := range validators {
		vs := httptest.NewServer(v.Handler())
		poll.For(t, waitLong, pollEvery, func() error {
			got := postJSON(t, vs.URL+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`)
			if got.status != 400 {
				return fmt.Errorf("validator %d answers %d %s", i, got.status, got.body)
			}
			return nil
		})
		vs.Close()
		// The blacklisting is in force on arrival; the record follows with
		// the batch's commit.
		poll.For(t, waitLong, pollEvery, func() error {
			if rec, err := v.Store().Lookup(jti); err != nil || rec.Origin != full.ID() {
				return fmt.Errorf("validator %d record %+v, %v", i, rec, err)
			}
			return nil
		})
	}
}

func TestFleetServerRestartLosesNothing(t *testing.T) {
	servers := eventstest.RunCluster(t, 3)
	full := startNode(t, fleetConfig(node.RoleFull, 3, servers...))
	var validators []*running
	for i := range 3 {
		validators = append(validators, startNode(t, fleetConfig(node.RoleValidator, 3, servers...)))
		_ = i
	}
	var mu sync.Mutex
	var acked []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 300 {
			jti := fmt.Sprintf("w-%04d", i)
			if _, err := full.Blacklist(t.Context(), persist.Record{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix()}); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
			mu.Lock()
			acked = append(acked, jti)
			mu.Unlock()
		}
	}()
	poll.For(t, waitLong, pollEvery, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 50 {
			return errors.New("waiting for writes")
		}
		return nil
	})
	servers[1].Shutdown()
	servers[1].WaitForShutdown()
	servers[1] = eventstest.RestartServer(t, servers[1])
	<-done
	waitHasAll(t, acked, append(validators, full)...)
}

func TestFleetOutboxRidesOutNATSDown(t *testing.T) {
	s := eventstest.RunServer(t)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	v1 := startNode(t, fleetConfig(node.RoleValidator, 1, s))
	v2 := startNode(t, fleetConfig(node.RoleValidator, 1, s))
	poll.For(t, waitLong, pollEvery, func() error {
		if !v1.Ready() || !v2.Ready() {
			return errors.New("validators not ready")
		}
		return nil
	})
	s.Shutdown()
	s.WaitForShutdown()
	jtis := blacklistN(t, full.Node, "down", 1000)
	st, err := full.Status(t.Context())
	if err != nil || st.OutboxDepth == 0 || st.NATS != "disconnected" {
		t.Fatalf("status with NATS down: %+v, %v; want a non-empty outbox, disconnected", st, err)
	}
	eventstest.RestartServer(t, s)
	waitHasAll(t, jtis, v1, v2)
	poll.For(t, waitLong, pollEvery, func() error {
		if st, _ := full.Status(t.Context()); st.OutboxDepth != 0 {
			return fmt.Errorf("outbox depth %d", st.OutboxDepth)
		}
		return nil
	})
}

func TestFleetValidatorCatchesUp(t *testing.T) {
	s := eventstest.RunServer(t)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	v := startNode(t, fleetConfig(node.RoleValidator, 1, s))
	first := blacklistN(t, full.Node, "before", 10)
	waitHasAll(t, first, v)
	v.stop()

	const n = 10_000
	jtis := append(first, blacklistN(t, full.Node, "away", n)...)
	poll.For(t, waitLong, pollEvery, func() error {
		if st, _ := full.Status(t.Context()); st.OutboxDepth != 0 || st.LastApplied < uint64(n+10) {
			return fmt.Errorf("writer not settled: %+v", st)
		}
		return nil
	})

	cfg := fleetConfig(node.RoleValidator, 1, s)
	cfg.DataDir, cfg.Token, cfg.FlushInterval = v.dir, token.Config{HSSecret: secret}, -1
	back, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	h := back.Handler()
	readyz := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if code := readyz(); code != 503 {
		t.Fatalf("readyz before catching up: %d, want 503", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- back.Run(ctx) }()
	defer func() { cancel(); <-done }()
	poll.For(t, waitLong, pollEvery, func() error {
		// Ready first, then counted: the count must hold everything.
		ready := readyz() == 200
		c, _ := back.Store().Counts()
		if ready {
			if c.Blacklisted != uint64(len(jtis)) {
				t.Fatalf("readyz 200 with %d of %d applied", c.Blacklisted, len(jtis))
			}
			return nil
		}
		return fmt.Errorf("not ready; %d applied", c.Blacklisted)
	})
	want, _ := full.Store().List(persist.Query{Limit: 1000, Blacklisted: persist.Only})
	got, _ := back.Store().List(persist.Query{Limit: 1000, Blacklisted: persist.Only})
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Error("the validator's first page of records differs from the writer's")
	}
	wc, _ := full.Store().Counts()
	bc, _ := back.Store().Counts()
	if wc.Blacklisted != bc.Blacklisted || wc.Outstanding != bc.Outstanding {
		t.Errorf("writer %+v, validator %+v", wc, bc)
	}
}

func TestFleetGarbageEventIsSkipped(t *testing.T) {
	s := eventstest.RunServer(t)
	full := startNode(t, fleetConfig(node.RoleFull, 1, s))
	v := startNode(t, fleetConfig(node.RoleValidator, 1, s))
	waitHasAll(t, blacklistN(t, full.Node, "a", 1), v)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, garbage := range []string{"not json", `{"v":99,"id":"x","kind":"blacklist"}`, `{"v":1,"kind":"blacklist","id":"e","origin":"o","time":"2020-01-01T00:00:00Z","token":{"jti":"","exp":1}}`} {
		if _, err := nc.Request("blnode.ev.local.blacklist", []byte(garbage), 5*time.Second); err != nil {
			t.Fatalf("publish garbage: %v", err)
		}
	}
	jtis := blacklistN(t, full.Node, "b", 1)
	waitHasAll(t, jtis, v)
	poll.For(t, waitLong, pollEvery, func() error {
		if st, _ := v.Status(t.Context()); st.EventsSkipped < 3 {
			return fmt.Errorf("skipped %d, want 3", st.EventsSkipped)
		}
		return nil
	})
}

// fleetConf gives the writer what a full node needs and the validator only
// what a subscriber needs: it may not publish events.
const fleetConf = `
accounts {
  FLEET {
    jetstream: enabled
    users: [
      {user: writer, password: w, permissions: {
        publish: {allow: ["blnode.ev.>", "$JS.API.>"]}
        subscribe: {allow: ["_INBOX.>"]}
      }}
      {user: validator, password: v, permissions: {
        publish: {allow: [
          "$JS.API.STREAM.INFO.BLNODE",
          "$JS.API.CONSUMER.CREATE.BLNODE.>",
          "$JS.API.CONSUMER.DELETE.BLNODE.>",
          "$JS.API.CONSUMER.INFO.BLNODE.>",
          "$JS.API.CONSUMER.MSG.NEXT.BLNODE.>",
          "$JS.API.DIRECT.GET.BLNODE"
        ]}
        subscribe: {allow: ["_INBOX.>", "blnode.ev_live.BLNODE.>"]}
      }}
    ]
  }
}
`

func TestFleetSubscribeOnlyValidator(t *testing.T) {
	s := eventstest.RunServerWithConfig(t, "listen: 127.0.0.1:-1\njetstream: {store_dir: "+jsonString(t.TempDir())+"}\n"+fleetConf)
	wcfg := fleetConfig(node.RoleFull, 1, s)
	wcfg.NATS.User, wcfg.NATS.Password = "writer", "w"
	full := startNode(t, wcfg)
	vcfg := fleetConfig(node.RoleValidator, 1, s)
	vcfg.NATS.User, vcfg.NATS.Password = "validator", "v"
	v := startNode(t, vcfg)
	jtis := blacklistN(t, full.Node, "perm", 20)
	waitHasAll(t, jtis, v)
	// The blacklistings are in force on arrival; readiness follows the
	// commit of their batch.
	poll.For(t, waitLong, pollEvery, func() error {
		if st, _ := v.Status(t.Context()); !st.Ready || st.NATS != "connected" || st.EventsSkipped != 0 {
			return fmt.Errorf("validator status %+v", st)
		}
		return nil
	})
	// The validator's credentials cannot put an event on the stream.
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("validator", "v"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request("blnode.ev.local.blacklist", []byte("x"), time.Second); err == nil {
		t.Error("a validator published an event")
	}
}

func TestEmbeddedNATSByDefault(t *testing.T) {
	n := startNode(t, node.Config{})
	poll.For(t, waitLong, pollEvery, func() error {
		if !n.Ready() {
			return errors.New("not ready")
		}
		return nil
	})
	jtis := blacklistN(t, n.Node, "emb", 5)
	poll.For(t, waitLong, pollEvery, func() error {
		st, _ := n.Status(t.Context())
		if st.LastApplied < 5 || st.OutboxDepth != 0 || !st.Embedded || st.NATS != "connected" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if !strings.HasPrefix(jtis[0], "emb") {
		t.Fatal(jtis)
	}
	tok, _ := sjwt.Token{Type: "access"}.Mint(secret)
	if _, err := n.Verify(tok, ""); err != nil {
		t.Errorf("verify on embedded node: %v", err)
	}
}

func TestFleetFlushRemovesTheSameSetEverywhere(t *testing.T) {
	s := eventstest.RunServer(t)
	cfg := fleetConfig(node.RoleFull, 1, s)
	cfg.AdminToken = "admin-secret"
	full := startNode(t, cfg)
	v := startNode(t, fleetConfig(node.RoleValidator, 1, s))
	now := time.Now()
	var expired, live []string
	for i := range 20 {
		exp := now.Add(time.Hour)
		if i%2 == 0 {
			exp = now.Add(-time.Hour)
		}
		jti := fmt.Sprint("f", i)
		if _, err := full.Blacklist(t.Context(), persist.Record{JTI: jti, ExpiresAt: exp.Unix()}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			expired = append(expired, jti)
		} else {
			live = append(live, jti)
		}
	}
	waitHasAll(t, append(append([]string(nil), expired...), live...), v)
	srv := httptest.NewServer(full.Handler())
	defer srv.Close()
	if got := postJSON(t, srv.URL+"/v1/flush", ``, "Authorization", admin); got.status != 200 {
		t.Fatalf("flush: %d %s", got.status, got.body)
	}
	poll.For(t, waitLong, pollEvery, func() error {
		for _, n := range []*running{full, v} {
			for _, jti := range expired {
				if b, _ := n.Check(jti); b {
					return fmt.Errorf("%s still blacklisted", jti)
				}
			}
		}
		return nil
	})
	waitHasAll(t, live, full, v)
	// Checks see blacklistings before their batch commits; the counts
	// are the store's, once committed.
	poll.For(t, waitLong, pollEvery, func() error {
		wc, _ := full.Store().Counts()
		vc, _ := v.Store().Counts()
		if wc.Blacklisted != 10 || vc.Blacklisted != 10 || wc.Outstanding != vc.Outstanding {
			return fmt.Errorf("after flush: writer %+v, validator %+v", wc, vc)
		}
		return nil
	})
}

// Concurrent writes share commits, and a commit's events share a stream
// message (unless EventsPerMessage is 1); either way every validator ends
// up with every write.
func TestFleetConcurrentWritesShareMessages(t *testing.T) {
	tests := []struct {
		name    string
		perMsg  int
		batched bool
	}{
		{"batched", 0, true},
		{"one event per message", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := eventstest.RunServer(t)
			cfg := fleetConfig(node.RoleFull, 1, s)
			cfg.EventsPerMessage = tt.perMsg
			full := startNode(t, cfg)
			v := startNode(t, fleetConfig(node.RoleValidator, 1, s))
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				jtis []string
			)
			for w := range 64 {
				wg.Go(func() {
					for i := range 20 {
						jti := fmt.Sprintf("conc-%02d-%02d", w, i)
						if _, err := full.Blacklist(t.Context(), persist.Record{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix(), User: "u"}); err != nil {
							t.Errorf("blacklist %s: %v", jti, err)
							return
						}
						mu.Lock()
						jtis = append(jtis, jti)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			waitHasAll(t, jtis, full, v)
			nc, err := nats.Connect(s.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			st, err := js.Stream(t.Context(), events.DefaultStreamName)
			if err != nil {
				t.Fatal(err)
			}
			msgs := st.CachedInfo().State.Msgs
			t.Logf("%d events in %d messages", len(jtis), msgs)
			switch {
			case tt.batched && msgs >= uint64(len(jtis)):
				t.Errorf("%d events in %d messages: no commit shared a message", len(jtis), msgs)
			case !tt.batched && msgs != uint64(len(jtis)):
				t.Errorf("%d events in %d messages, want one each", len(jtis), msgs)
			}
			// Checks see a batch's blacklistings before it commits (the
			// preview); the counts are the store's, once committed.
			poll.For(t, waitLong, pollEvery, func() error {
				if vs, _ := v.Status(t.Context()); vs.Blacklisted != uint64(len(jtis)) {
					return fmt.Errorf("validator holds %d blacklisted, want %d", vs.Blacklisted, len(jtis))
				}
				return nil
			})
		})
	}
}
