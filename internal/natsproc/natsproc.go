// Package natsproc runs nats-server processes for fault tests, so that a
// server can be killed with SIGKILL, as a crash or an OOM kill would, and
// restarted on the same ports and store, without building a separate
// binary: the test binary runs itself as the server (the os/exec
// helper-process pattern). It also makes the toxiproxy server that fault
// tests put between nodes and NATS.
//
// A package that uses it declares the helper test once:
//
//	func TestHelperNATSServer(t *testing.T) { natsproc.Helper(t) }
//
// # Caveats
//
//   - The child is the test binary run with -test.run=^TestHelperNATSServer$:
//     a package without that test gets children that exit at once, and Start
//     fails.
//   - Servers log nothing (NoLog) and ignore signals other than SIGKILL
//     (NoSigs); Kill9 is the only way to stop one, and t.Cleanup kills what
//     still runs. The process is run by internal/child, which keeps its
//     output for the error when it does not start.
//   - Cluster servers do not advertise their client URLs (no_advertise), so
//     clients reach them only through the URLs they were given: a proxy in
//     between stays in between after a reconnect.
package natsproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/blnode/blnode/internal/child"
)

// ConfEnv names the config file a helper process serves.
const ConfEnv = "BLNODE_HELPER_NATS_CONF"

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 30 * time.Second

// Helper is the body of a package's TestHelperNATSServer: run by Start in a
// child process, it serves the config file named by ConfEnv until killed.
// Run as an ordinary test, it skips.
func Helper(t *testing.T) {
	conf := os.Getenv(ConfEnv)
	if conf == "" {
		t.Skip("helper process of the NATS fault tests; runs only when they start it")
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper nats-server:", err)
		os.Exit(2)
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper nats-server:", err)
		os.Exit(2)
	}
	s.Start()
	if !s.ReadyForConnections(startTimeout) {
		fmt.Fprintln(os.Stderr, "helper nats-server: not ready")
		os.Exit(2)
	}
	fmt.Println("READY", s.ClientURL())
	s.WaitForShutdown()
	os.Exit(0)
}

// Server is a nats-server running in a child process. Its config file
// fixes its ports and store, so a restart is the same server.
type Server struct {
	Conf string // config file
	URL  string // client URL, known once started

	mu   sync.Mutex
	proc *child.Process // the last process started
}

// Start runs the server and waits for it to accept connections.
func (p *Server) Start(t testing.TB) {
	t.Helper()
	proc, err := child.Start(context.Background(), child.Config{Name: "helper nats-server " + p.Conf, Path: os.Args[0],
		Args: []string{"-test.run=^TestHelperNATSServer$"}, Env: append(os.Environ(), ConfEnv+"="+p.Conf), StopTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	p.URL, err = proc.AwaitLine(context.Background(), startTimeout, func(line string) string {
		if u, ok := strings.CutPrefix(line, "READY "); ok {
			return u
		}
		return ""
	})
	if err != nil {
		t.Fatal(proc.Failed("not ready: " + err.Error()))
	}
}

// Kill9 sends SIGKILL and waits for the process to be gone.
func (p *Server) Kill9(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	proc := p.proc
	p.mu.Unlock()
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
}

// kill ends the process if it runs, for cleanup.
func (p *Server) kill() {
	p.mu.Lock()
	proc := p.proc
	p.mu.Unlock()
	if proc != nil {
		_ = proc.Kill()
	}
}

// FreeLoopbackPorts returns n distinct free TCP ports on 127.0.0.1.
func FreeLoopbackPorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Cluster starts n clustered nats-server processes with JetStream on
// loopback; t.Cleanup kills what still runs.
func Cluster(t testing.TB, n int) []*Server {
	t.Helper()
	ports := FreeLoopbackPorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	procs := make([]*Server, n)
	for i := range n {
		dir := t.TempDir()
		conf := fmt.Sprintf("server_name: P-%d\nlisten: 127.0.0.1:%d\njetstream: {store_dir: %q}\n"+
			"cluster: {name: faults, listen: 127.0.0.1:%d, no_advertise: true, routes: [%s]}\n",
			i+1, ports[i], filepath.Join(dir, "js"), ports[n+i], strings.Join(routes, ", "))
		path := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		procs[i] = &Server{Conf: path}
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
	})
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.Start(t) })
	}
	wg.Wait()
	return procs
}

// NewToxiproxy returns a toxiproxy server with no metrics and no logs.
func NewToxiproxy() *toxiproxy.ApiServer {
	return toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
}

// Proxy starts a toxiproxy proxy on a free loopback port in front of
// upstream (host:port); t.Cleanup stops it. Stop cuts the link (connections
// drop, reconnects are refused) and Start heals it on the same port.
func Proxy(t testing.TB, tp *toxiproxy.ApiServer, name, upstream string) *toxiproxy.Proxy {
	t.Helper()
	p := toxiproxy.NewProxy(tp, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	return p
}
