// Package eventstest runs real in-process NATS servers with JetStream for
// tests, the way nats-server's own tests do: loopback only, random ports,
// state in t.TempDir(), no logging, no signal handlers, shut down by
// t.Cleanup. It also holds the conformance suites of events.Applier and
// events.Outbox (TestApplier, TestOutbox), which every implementation,
// test doubles included, must pass.
//
// # Caveats
//
// RestartServer can only restart servers started by this package: it
// remembers their options in a registry keyed by server, the one piece of
// package state, dropped when the test ends.
package eventstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/poll"
)

// readyTimeout bounds the wait for a server, a route mesh or a leader.
const readyTimeout = 10 * time.Second

// registry remembers how each server was built, for RestartServer.
var registry = struct {
	sync.Mutex
	m map[*server.Server]func() *server.Options
}{m: map[*server.Server]func() *server.Options{}}

func remember(t testing.TB, s *server.Server, build func() *server.Options) {
	registry.Lock()
	registry.m[s] = build
	registry.Unlock()
	t.Cleanup(func() {
		registry.Lock()
		delete(registry.m, s)
		registry.Unlock()
	})
}

// start builds, starts and waits for a server, and shuts it down at cleanup.
func start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("eventstest: new server: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(readyTimeout) {
		t.Fatalf("eventstest: server %s not ready within %v", opts.ServerName, readyTimeout)
	}
	return s
}

func port(s *server.Server) int {
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// RunServer starts a single server on 127.0.0.1 with a random client port
// and JetStream in t.TempDir().
func RunServer(t testing.TB) *server.Server {
	t.Helper()
	dir := t.TempDir()
	build := func() *server.Options {
		return &server.Options{
			ServerName: "eventstest",
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   dir,
			NoLog:      true,
			NoSigs:     true,
		}
	}
	s := start(t, build())
	p := port(s)
	remember(t, s, func() *server.Options { o := build(); o.Port = p; return o })
	return s
}

// RunCluster starts n clustered servers (routes on 127.0.0.1) with
// JetStream and waits until every route is up and a meta leader exists.
func RunCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	if n < 1 {
		t.Fatalf("eventstest: cluster of %d servers", n)
	}
	ports := freePorts(t, n)
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	servers := make([]*server.Server, n)
	for i := range n {
		dir := t.TempDir()
		name := fmt.Sprintf("S-%d", i+1)
		clusterPort := ports[i]
		build := func() *server.Options {
			return &server.Options{
				ServerName: name,
				Host:       "127.0.0.1",
				Port:       server.RANDOM_PORT,
				JetStream:  true,
				StoreDir:   dir,
				NoLog:      true,
				NoSigs:     true,
				Cluster: server.ClusterOpts{
					Name: "eventstest",
					Host: "127.0.0.1",
					Port: clusterPort,
				},
				Routes: server.RoutesFromStr(strings.Join(routes, ",")),
			}
		}
		s := start(t, build())
		p := port(s)
		remember(t, s, func() *server.Options { o := build(); o.Port = p; return o })
		servers[i] = s
	}
	waitCluster(t, servers)
	return servers
}

// freePorts reserves n distinct loopback ports and releases them for the
// servers to bind.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("eventstest: reserve port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// waitCluster waits until the running servers are fully routed, one of them
// is the JetStream meta leader and every one is current with it.
func waitCluster(t testing.TB, servers []*server.Server) {
	t.Helper()
	poll.For(t, readyTimeout, 20*time.Millisecond, func() error { return events.ClusterReady(servers) })
}

// RestartServer shuts s down (if it still runs) and starts a new server with
// the same name, ports and store directory. For a cluster member it waits
// until the member has rejoined the meta group.
func RestartServer(t testing.TB, s *server.Server) *server.Server {
	t.Helper()
	registry.Lock()
	build, ok := registry.m[s]
	registry.Unlock()
	if !ok {
		t.Fatalf("eventstest: RestartServer: server %s was not started by eventstest", s.Name())
	}
	s.Shutdown()
	s.WaitForShutdown()
	opts := build()
	ns := start(t, opts)
	remember(t, ns, build)
	if opts.Cluster.Port != 0 {
		poll.For(t, readyTimeout, 20*time.Millisecond, func() error {
			if ns.NumRoutes() == 0 {
				return errors.New("no routes yet")
			}
			if !ns.JetStreamIsCurrent() {
				return errors.New("not current with the meta leader")
			}
			return nil
		})
	}
	return ns
}

// RunServerWithConfig writes confText to a file in t.TempDir(), loads it with
// server.ProcessConfigFile and starts the server, for permission and account
// tests. Unless the text says otherwise, the server listens on a random
// 127.0.0.1 port (a "listen" line is prefixed when the text has neither
// "listen" nor "port") and runs JetStream in t.TempDir() (a jetstream block
// is prefixed when the text has no "store_dir"; a later jetstream block in
// the text overrides it).
func RunServerWithConfig(t testing.TB, confText string) *server.Server {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	if !strings.Contains(confText, "listen") && !strings.Contains(confText, "port") {
		b.WriteString("listen: \"127.0.0.1:-1\"\n")
	}
	if !strings.Contains(confText, "store_dir") {
		fmt.Fprintf(&b, "jetstream: {store_dir: %q}\n", filepath.Join(dir, "js"))
	}
	b.WriteString(confText)
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("eventstest: write config: %v", err)
	}
	build := func() *server.Options {
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("eventstest: config: %v\n%s", err, b.String())
		}
		opts.NoLog, opts.NoSigs = true, true
		if opts.JetStream && opts.StoreDir == "" {
			opts.StoreDir = filepath.Join(dir, "js")
		}
		return opts
	}
	s := start(t, build())
	p := port(s)
	remember(t, s, func() *server.Options { o := build(); o.Port = p; return o })
	return s
}

// WithoutRepublish runs publish while the stream stream does not
// republish what it stores: the messages publish stores are lost on the
// live subject (a gap a live subscriber must find). publish returns once
// the stream holds them.
func WithoutRepublish(t testing.TB, js jetstream.JetStream, stream string, publish func()) {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	rp := cfg.RePublish
	cfg.RePublish = nil
	if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatalf("remove RePublish: %v", err)
	}
	publish()
	cfg.RePublish = rp
	if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatalf("restore RePublish: %v", err)
	}
}
