package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/poll"
)

// Bounds on waiting for the things blbench starts.
const (
	startTimeout = 60 * time.Second // a process or server until it answers
	stopTimeout  = 15 * time.Second // a process after SIGTERM, before SIGKILL
)

// moduleRoot finds the blnode module's root with the go tool.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the blnode module: run blbench from the repository (or give -blnode)")
	}
	return filepath.Dir(mod), nil
}

// buildCmd builds ./cmd/NAME of the module at root into dir.
func buildCmd(ctx context.Context, root, dir, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, out)
	}
	return bin, nil
}

// keepLines is how much of a process's log blbench keeps, for the error
// message when it fails.
const keepLines = 400

// startProc starts a process whose log is kept for errors, and stopped by
// SIGTERM (then SIGKILL) when ctx ends.
func startProc(ctx context.Context, name, bin string, env []string, args ...string) (*child.Process, error) {
	return child.Start(ctx, child.Config{Name: name, Path: bin, Args: args, Env: env, KeepLines: keepLines, StopTimeout: stopTimeout})
}

// awaitAddr returns the first address find reads from a line of the
// process's log (find returns "" for other lines). It stops the process
// when none comes within startTimeout; what names the awaited line in the
// error.
func awaitAddr(ctx context.Context, p *child.Process, what string, find func(line string) string) (string, error) {
	a, err := p.AwaitLine(ctx, startTimeout, find)
	if err == nil {
		return a, nil
	}
	_ = p.Stop()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return "", p.Failed("no " + what + " log line: " + err.Error())
}

// blnodeProc is a running "blnode serve".
type blnodeProc struct {
	*child.Process
	url     string
	started time.Time
}

// startBlnode runs "blnode serve" on a free loopback port with JSON logs,
// the bench's secret and admin token, no flush schedule, finds its address
// in the "listening" log line and waits for /healthz.
func (b *bench) startBlnode(ctx context.Context, name, dataDir string, args ...string) (*blnodeProc, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"BLNODE_HS_SECRET=" + benchSecret, "BLNODE_ADMIN_TOKEN=" + benchAdmin}
	all := append([]string{"serve", "--http", "127.0.0.1:0", "--log-format", "json", "--flush-interval", "0", "--data", dataDir}, args...)
	started := time.Now()
	p, err := startProc(ctx, name, b.blnodeBin, env, all...)
	if err != nil {
		return nil, err
	}
	bp := &blnodeProc{Process: p, started: started}
	b.track(p)
	a, err := awaitAddr(ctx, p, "listening", listeningAddr)
	if err != nil {
		return nil, err
	}
	bp.url = "http://" + a
	if err := waitHTTP(ctx, bp.url+"/healthz", startTimeout, p.Done()); err != nil {
		_ = p.Stop()
		return nil, p.Failed(err.Error())
	}
	return bp, nil
}

// listeningAddr reads the HTTP address of a JSON "listening" log line, as
// blnode and blfloor write it; "" for other lines.
func listeningAddr(line string) string {
	if !strings.Contains(line, `"listening"`) {
		return ""
	}
	var rec struct {
		Msg  string `json:"msg"`
		HTTP string `json:"http"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "listening" {
		return ""
	}
	return rec.HTTP
}

// waitHTTP polls url until it answers 200, within limit.
func waitHTTP(ctx context.Context, url string, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not 200 within %v (last: %s)", url, limit, last)
}

// redisProc is a running redis-server.
type redisProc struct {
	*child.Process
	addr string
}

// startRedis runs redis-server on a free loopback port with its files in
// dir, no RDB snapshots, and extra arguments (e.g. "--appendonly", "yes").
func (b *bench) startRedis(ctx context.Context, name, dir string, extra ...string) (*redisProc, error) {
	if b.redisBin == "" {
		return nil, errRedisMissing
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--dir", dir, "--save", "", "--daemonize", "no", "--logfile", "", "--appendonly", "no"}, extra...)
	p, err := startProc(ctx, name, b.redisBin, []string{"PATH=" + os.Getenv("PATH")}, args...)
	if err != nil {
		return nil, err
	}
	b.track(p)
	rp := &redisProc{Process: p, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	c := rp.client(1)
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return rp, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.Stop()
			return nil, p.Failed("no PONG: " + err.Error())
		}
		select {
		case <-p.Done():
			return nil, p.Failed("exited")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// client returns a go-redis client with at most pool connections.
func (r *redisProc) client(pool int) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: r.addr, PoolSize: pool, MinIdleConns: min(pool, 64), MaxRetries: -1,
		DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		PoolTimeout: 10 * time.Second, DisableIdentity: true, Protocol: 2,
	})
}

var errRedisMissing = errors.New("redis-server is not installed")

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// natsServers are in-process nats-servers with JetStream on loopback.
type natsServers []*server.Server

func (ns natsServers) urls() []string {
	u := make([]string, len(ns))
	for i, s := range ns {
		u[i] = s.ClientURL()
	}
	return u
}

func (ns natsServers) shutdown() {
	for _, s := range ns {
		s.Shutdown()
	}
	for _, s := range ns {
		s.WaitForShutdown()
	}
}

func startNATS(opts *server.Options) (*server.Server, error) {
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats-server %s: %w", opts.ServerName, err)
	}
	s.Start()
	if !s.ReadyForConnections(startTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("nats-server %s not ready within %v", opts.ServerName, startTimeout)
	}
	return s, nil
}

// startNATSServer starts one server with JetStream in dir.
func startNATSServer(dir string) (natsServers, error) {
	s, err := startNATS(&server.Options{ServerName: "blbench", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	return natsServers{s}, nil
}

// startNATSCluster starts n clustered servers with JetStream under dir and
// waits until every route is up and one meta leader exists that every
// server follows.
func startNATSCluster(ctx context.Context, n int, dir string) (natsServers, error) {
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	var ns natsServers
	for i := range n {
		s, err := startNATS(&server.Options{
			ServerName: fmt.Sprintf("S-%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("s%d", i+1)), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "blbench", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		if err != nil {
			ns.shutdown()
			return nil, err
		}
		ns = append(ns, s)
	}
	err = poll.Until(ctx, startTimeout, 20*time.Millisecond, func() error { return events.ClusterReady(ns) })
	if err != nil {
		ns.shutdown()
		return nil, fmt.Errorf("NATS cluster: %w", err)
	}
	return ns, nil
}

// procStat is what /proc says about a process.
type procStat struct {
	cpu                        time.Duration // user + system
	rss, rssAnon, rssFile, hwm int64         // bytes
	rssShmem                   int64
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func readProcStat(pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	st.cpu = time.Duration(ut+stt) * time.Second / clockTicks
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) < 1 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		n *= 1024 // kB
		switch k {
		case "VmRSS":
			st.rss = n
		case "RssAnon":
			st.rssAnon = n
		case "RssFile":
			st.rssFile = n
		case "RssShmem":
			st.rssShmem = n
		case "VmHWM":
			st.hwm = n
		}
	}
	return st, nil
}

// selfCPU is this process's user + system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
