package node_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// NATS faults with real server processes: the test binary runs itself as a
// nats-server (TestHelperNATSServer, the os/exec helper-process pattern),
// so a server can be killed with SIGKILL, as a crash or an OOM kill would,
// without building a separate binary.

const helperConfEnv = "BLNODE_HELPER_NATS_CONF"

// TestHelperNATSServer is not a test: run by natsProc in a child process,
// it serves the config file named by BLNODE_HELPER_NATS_CONF until killed.
func TestHelperNATSServer(t *testing.T) {
	conf := os.Getenv(helperConfEnv)
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
	if !s.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "helper nats-server: not ready")
		os.Exit(2)
	}
	fmt.Println("READY", s.ClientURL())
	s.WaitForShutdown()
	os.Exit(0)
}

// natsProc is a nats-server running in a child process.
type natsProc struct {
	conf string
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
}

// start runs the server and waits for it to accept connections.
func (p *natsProc) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNATSServer$")
	cmd.Env = append(os.Environ(), helperConfEnv+"="+p.conf)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	select {
	case p.url = <-ready:
	case <-p.done:
		t.Fatalf("helper nats-server %s exited before it was ready", p.conf)
	case <-time.After(30 * time.Second):
		t.Fatalf("helper nats-server %s not ready within 30s", p.conf)
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *natsProc) kill9(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("helper nats-server did not die within 10s of SIGKILL")
	}
}

func freeLoopbackPorts(t testing.TB, n int) []int {
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

// runProcCluster starts n clustered nats-server processes with JetStream on
// loopback; t.Cleanup kills what still runs.
func runProcCluster(t testing.TB, n int) []*natsProc {
	t.Helper()
	ports := freeLoopbackPorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	procs := make([]*natsProc, n)
	for i := range n {
		dir := t.TempDir()
		conf := fmt.Sprintf("server_name: P-%d\nlisten: 127.0.0.1:%d\njetstream: {store_dir: %q}\n"+
			"cluster: {name: faults, listen: 127.0.0.1:%d, routes: [%s]}\n",
			i+1, ports[i], filepath.Join(dir, "js"), ports[n+i], strings.Join(routes, ", "))
		path := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		procs[i] = &natsProc{conf: path}
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.start(t) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, p := range procs {
			if p.cmd != nil {
				p.cmd.Process.Kill()
				<-p.done
			}
		}
	})
	return procs
}

// loadWriter blacklists jtis on n as fast as the store takes them (at most
// max), until stop is closed, and keeps those acknowledged.
type loadWriter struct {
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	done  chan struct{}
	err   error
}

func startLoad(n *running, prefix string, max int) *loadWriter {
	w := &loadWriter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := range max {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			jti := fmt.Sprintf("%s-%06d", prefix, i)
			if _, err := n.Blacklist(persist.Record{JTI: jti, ExpiresAt: time.Now().Add(time.Hour).Unix()}); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			w.acked = append(w.acked, jti)
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *loadWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitMore waits until n more writes than at the call are acknowledged.
func (w *loadWriter) waitMore(t testing.TB, n int) {
	t.Helper()
	want := w.count() + n
	eventstest.CheckFor(t, waitLong, pollEvery, func() error {
		w.mu.Lock()
		err, got := w.err, len(w.acked)
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("a write failed: %v", err)
		}
		if got < want {
			return fmt.Errorf("%d writes acknowledged, want %d", got, want)
		}
		return nil
	})
}

func (w *loadWriter) finish(t testing.TB) []string {
	t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("a write failed: %v", w.err)
	}
	return append([]string(nil), w.acked...)
}

// TestNATSFaultsUnderLoad runs a 3-server cluster of nats-server processes
// with the stream on 3 replicas, a full node and two validators, under a
// steady load of writes. First one server is killed with SIGKILL and
// restarted; then all three are killed and, a while later, restarted.
// Writes never stop being acknowledged (the outbox holds them while NATS
// is away), validators keep answering from their replica and show NATS
// disconnected in their status, and every node converges to the writer's
// blacklist digest afterwards with every acknowledged write on it.
func TestNATSFaultsUnderLoad(t *testing.T) {
	procs := runProcCluster(t, 3)
	var urls []string
	for _, p := range procs {
		urls = append(urls, p.url)
	}
	cfg := func(role node.Role) node.Config {
		return node.Config{Role: role, CacheEntries: 1 << 12, NATS: node.NATSConfig{URLs: urls}, Stream: events.StreamConfig{Replicas: 3}}
	}
	full := startNode(t, cfg(node.RoleFull))
	v1 := startNode(t, cfg(node.RoleValidator))
	v2 := startNode(t, cfg(node.RoleValidator))
	waitAllReady(t, full, v1, v2)

	faults := 0
	t.Run("one server killed and restarted", func(t *testing.T) {
		w := startLoad(full, "one", 100_000)
		w.waitMore(t, 100)
		procs[1].kill9(t)
		faults++
		w.waitMore(t, 200) // writes go on with a server dead
		procs[1].start(t)
		w.waitMore(t, 100)
		acked := w.finish(t)
		waitConverged(t, waitLong, full, v1, v2)
		waitHasAll(t, acked, v1, v2)
		t.Logf("%d writes acknowledged around the kill, all on every node", len(acked))
	})

	t.Run("every server killed, then restarted", func(t *testing.T) {
		before := blacklistN(t, full.Node, "before-outage", 20)
		waitConverged(t, waitLong, full, v1, v2)
		w := startLoad(full, "all", 100_000)
		w.waitMore(t, 50)
		for _, p := range procs {
			p.kill9(t)
			faults++
		}
		// NATS is gone: writes are still acknowledged (into the outbox).
		w.waitMore(t, 300)
		eventstest.CheckFor(t, waitLong, pollEvery, func() error {
			st, err := full.Status()
			if err != nil {
				return err
			}
			if st.NATS != "disconnected" || st.OutboxDepth == 0 {
				return fmt.Errorf("writer status: NATS %s, outbox %d; want disconnected with a backlog", st.NATS, st.OutboxDepth)
			}
			return nil
		})
		for _, v := range []*running{v1, v2} {
			st, err := v.Status()
			if err != nil {
				t.Fatal(err)
			}
			if st.NATS != "disconnected" || !st.Ready {
				t.Errorf("validator status during the outage %+v: want NATS disconnected, still ready", st)
			}
			for _, jti := range before {
				if b, err := v.Check(jti); err != nil || !b {
					t.Fatalf("validator during the outage: Check(%s) = %v, %v; want blacklisted from its replica", jti, b, err)
				}
			}
		}
		began := time.Now()
		for _, p := range procs {
			p.start(t)
		}
		t.Logf("servers restarted in %v", time.Since(began))
		w.waitMore(t, 100)
		acked := w.finish(t)
		waitConverged(t, 2*waitLong, full, v1, v2)
		t.Logf("converged %v after the restart", time.Since(began))
		waitHasAll(t, acked, v1, v2)
		t.Logf("%d writes acknowledged across a full NATS outage, all on every node", len(acked))
	})
	t.Logf("%d nats-server processes killed with SIGKILL; converged at %s", faults, digestOf(t, full))
}
