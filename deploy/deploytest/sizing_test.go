package deploytest

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/internal/child"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/streamfill"
)

// TestSizing measures the figures of deploy/README.md's sizing section
// (BLNODE_SIZING=1; BLNODE_SIZING_EVENTS sets the count, default 1000000;
// BLNODE_SIZING_GOMEMLIMIT, e.g. 512MiB, is given to the validators as
// GOMEMLIMIT):
//
//   - the stream: bytes of N blacklist events as a node publishes them
//     (headers included), and the JetStream store on disk;
//   - a validator (the binary of deploy/Dockerfile, a separate process)
//     replaying them from an empty data dir: time to ready, its store file,
//     and its resident memory, against a validator of an empty stream;
//   - the same validator after checks of 10% of the jtis (a warm cache),
//     then restarted on its data dir (steady state) and checked again;
//   - the store after blnode compact.
//
// The figures of deploy/README.md come from its output of 2026-12-07,
// kept in sizing-2026-12-07.txt. Run it with:
//
//	BLNODE_SIZING=1 go test -run TestSizing -v -timeout 40m ./deploy/deploytest
func TestSizing(t *testing.T) {
	if os.Getenv("BLNODE_SIZING") == "" {
		t.Skip("BLNODE_SIZING=1 measures the sizing figures of deploy/README.md")
	}
	n := 1_000_000
	if v := os.Getenv("BLNODE_SIZING_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("BLNODE_SIZING_EVENTS=%q", v)
		}
	}
	bin := tools(t).blnode
	storeDir := t.TempDir()
	s, err := server.NewServer(&server.Options{ServerName: "sizing", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: storeDir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	stream, err := events.EnsureStream(ctx, js, events.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{Name: "EMPTY", Prefix: "sizing.empty"}); err != nil {
		t.Fatal(err)
	}

	jtis := make([]string, n)
	filling := time.Now()
	err = streamfill.Publish(ctx, js, n, streamfill.Config{Region: "eu",
		JTI:  func(i int) string { jtis[i] = events.NewID(); return jtis[i] },
		User: func(i int, _ string) string { return strconv.Itoa(100000 + i%50000) }})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(filling)
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(n) {
		t.Fatalf("stream holds %d events, want %d", info.State.Msgs, n)
	}
	disk := dirBytes(t, filepath.Join(storeDir, "jetstream"))
	t.Logf("SIZING stream: %d events published in %v (%.0f/s); stream bytes %.1f MB (%.0f B/event, %.0f MB per million); JetStream store on disk %.1f MB (%.0f MB per million)",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), mb(info.State.Bytes), float64(info.State.Bytes)/float64(n),
		mb(info.State.Bytes)*1e6/float64(n), mb(uint64(disk)), mb(uint64(disk))*1e6/float64(n))

	dir := t.TempDir()
	secret := filepath.Join(dir, "hs")
	admin := filepath.Join(dir, "admin")
	writeFile(t, secret, randomSecret())
	writeFile(t, admin, randomSecret())
	validator := func(name, readStream string) *node {
		args := []string{"serve", "--role", "validator", "--nats", s.ClientURL(), "--read-stream", readStream,
			"--data", filepath.Join(dir, name), "--http", "127.0.0.1:0", "--hs-secret-file", secret,
			"--admin-token-file", admin, "--log-format", "json"}
		var env []string
		if v := os.Getenv("BLNODE_SIZING_GOMEMLIMIT"); v != "" {
			env = append(env, "GOMEMLIMIT="+v)
		}
		p := startProc(t, name, bin, args, env)
		return waitListening(t, p, strings.TrimSpace(readFileT(t, admin)))
	}

	empty := validator("empty", "EMPTY")
	empty.waitReady(t)
	base := procMem(t, empty.Process)
	t.Logf("SIZING empty validator: %v", base)
	empty.StopT(t)

	start := time.Now()
	full := validator("replica", "BLNODE")
	poll.For(t, 30*time.Minute, pollEvery, func() error {
		if full.Exited() {
			t.Fatalf("validator exited:\n%s", full.Output())
		}
		return wantStatus(full.url+"/readyz", http.StatusOK)
	})
	replay := time.Since(start)
	// The first status waits for the merge of what the replay journaled
	// (seconds at 1M, longer than one request's timeout): ask again until
	// it answers.
	var st status
	poll.For(t, 10*time.Minute, pollEvery, func() error {
		var err error
		st, err = full.status()
		return err
	})
	merged := time.Since(start) - replay
	if st.Blacklisted != uint64(n) {
		t.Fatalf("replica holds %d blacklisted, want %d", st.Blacklisted, n)
	}
	storeFile := dirBytes(t, filepath.Join(dir, "replica"))
	after := procMem(t, full.Process)
	t.Logf("SIZING replay: %d events ready in %v (%.0f events/s), status (journal merged) %v later; store %.1f MB (%.0f MB per million); %v",
		n, replay.Round(time.Millisecond), float64(n)/replay.Seconds(), merged.Round(time.Millisecond), mb(uint64(storeFile)), mb(uint64(storeFile))*1e6/float64(n), after)

	t.Logf("SIZING replica files: %s; Go runtime: %s", fileSizes(t, filepath.Join(dir, "replica")), goMem(full))

	// Checks of 10% of the jtis, in random order, fill the cache.
	checked, count := checkSome(t, full, jtis, n/10)
	t.Logf("SIZING checks after replay: %d over HTTP in %v (%.0f/s, 8 clients); %v; Go runtime: %s",
		count, checked.Round(time.Millisecond), float64(count)/checked.Seconds(), procMem(t, full.Process), goMem(full))

	// Steady state: the same replica restarted (nothing to replay), then
	// the same checks.
	full.StopT(t)
	again := validator("replica", "BLNODE")
	again.waitReady(t)
	t.Logf("SIZING restarted replica, ready: %v", procMem(t, again.Process))
	checked, count = checkSome(t, again, jtis, n/10)
	t.Logf("SIZING restarted replica after %d checks (%.0f/s): %v; Go runtime: %s",
		count, float64(count)/checked.Seconds(), procMem(t, again.Process), goMem(again))

	// The store rewritten by blnode compact (offline).
	again.StopT(t)
	out, code := runCmd(t, bin, []string{"compact", "--data", filepath.Join(dir, "replica")}, nil)
	if code != 0 {
		t.Logf("SIZING compact: exit %d: %s", code, out)
		return
	}
	compacted := dirBytes(t, filepath.Join(dir, "replica"))
	t.Logf("SIZING compacted store: %.1f MB (%.0f MB per million)", mb(uint64(compacted)), mb(uint64(compacted))*1e6/float64(n))
}

// checkSome checks count random jtis of jtis on n from 8 clients; every
// one must be blacklisted.
func checkSome(t testing.TB, n *node, jtis []string, count int) (time.Duration, int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	per := max(count/8, 1)
	start := time.Now()
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for range per {
				jti := jtis[r.IntN(len(jtis))]
				if b, err := n.blacklistedJTI(jti); err != nil || !b {
					mu.Lock()
					failed = fmt.Errorf("check %s: %v %v", jti, b, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	return time.Since(start), per * 8
}

type mem struct{ rss, hwm, anon, file uint64 } // bytes

func (m mem) String() string {
	return fmt.Sprintf("RSS %.1f MB (anonymous %.1f MB, file-backed %.1f MB; peak %.1f MB)", mb(m.rss), mb(m.anon), mb(m.file), mb(m.hwm))
}

// procMem reads VmRSS and VmHWM of a running process.
func procMem(t testing.TB, p *child.Process) mem {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	return m
}

// dirBytes is the disk space of the files under dir (allocated blocks).
func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

func readFileT(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mb(b uint64) float64 { return float64(b) / 1e6 }

// fileSizes lists the files under dir with their sizes.
func fileSizes(t testing.TB, dir string) string {
	t.Helper()
	var parts []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		parts = append(parts, fmt.Sprintf("%s %.1f MB", rel, mb(uint64(info.Size()))))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(parts, ", ")
}

// goMem reads the Go heap figures from the node's /metrics, when it has them.
func goMem(n *node) string {
	code, body, err := call(http.MethodGet, n.url+"/metrics", n.admin, nil)
	if err != nil || code != http.StatusOK {
		return fmt.Sprintf("no /metrics (%d %v)", code, err)
	}
	var parts []string
	for _, line := range strings.Split(body, "\n") {
		for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes", "go_memstats_heap_objects"} {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				if name == "go_memstats_heap_objects" {
					parts = append(parts, fmt.Sprintf("%s %.0f", name, f))
				} else {
					parts = append(parts, fmt.Sprintf("%s %.1f MB", name, f/1e6))
				}
			}
		}
	}
	return strings.Join(parts, ", ")
}
