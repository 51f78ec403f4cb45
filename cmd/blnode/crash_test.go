//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/persist"
)

// The crash harness: a full node process (embedded NATS listening on a
// fixed loopback port) and a validator process that follows it. Each cycle
// starts the full node, drives concurrent admin blacklist writes over HTTP
// and kills the node with SIGKILL after a random number of them were
// acknowledged (seeded RNG). With the process dead, the bbolt file must pass
// its consistency check (persist.Store.Check: bbolt's page check, then the
// blacklist digest and count against the records) and hold every write
// that got a 2xx; after the restart the node serves them. At the end the
// validator, which lost its NATS server at every crash, must show the full
// node's blacklist digest and every acknowledged write.
//
// 20 cycles by default; BLNODE_LONG=1 runs 200. BLNODE_CRASH_SEED=N
// replays a run.

const (
	crashWriters        = 32 // concurrent HTTP writers
	crashWritesPerCycle = 320
)

// longRun reports whether the long versions run (BLNODE_LONG=1).
func longRun() bool { return os.Getenv("BLNODE_LONG") == "1" }

// crashStatus is the part of GET /v1/status the harness reads.
type crashStatus struct {
	NATS        string `json:"nats"`
	Ready       bool   `json:"ready"`
	Lag         uint64 `json:"lag"`
	LastApplied uint64 `json:"last_applied_seq"`
	OutboxDepth uint64 `json:"outbox_depth"`
	Blacklisted uint64 `json:"blacklisted"`
	Digest      string `json:"blacklist_digest"`
}

func getStatus(c *http.Client, base, admin string) (crashStatus, error) {
	var st crashStatus
	req, err := http.NewRequest(http.MethodGet, base+"/v1/status", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := c.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("GET %s/v1/status: %d %s", base, resp.StatusCode, b)
	}
	return st, json.Unmarshal(b, &st)
}

// blacklisted asks GET /v1/blacklist/{jti}.
func blacklisted(c *http.Client, base, jti string) (bool, error) {
	resp, err := c.Get(base + "/v1/blacklist/" + url.PathEscape(jti))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var v struct {
		Blacklisted bool `json:"blacklisted"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return false, fmt.Errorf("GET /v1/blacklist/%s: %d %s", jti, resp.StatusCode, b)
	}
	err = json.NewDecoder(resp.Body).Decode(&v)
	return v.Blacklisted, err
}

// missing returns the jtis base does not report blacklisted.
func missing(c *http.Client, base string, jtis []string) ([]string, error) {
	var out []string
	for _, jti := range jtis {
		b, err := blacklisted(c, base, jti)
		if err != nil {
			return nil, err
		}
		if !b {
			out = append(out, jti)
		}
	}
	return out, nil
}

// checkStoreOffline opens the dead node's store: the file must pass Check
// and hold every acknowledged jti.
func checkStoreOffline(t *testing.T, data string, acked []string) {
	t.Helper()
	s, err := persist.Open(data, persist.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open the store after SIGKILL: %v", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("consistency check after SIGKILL: %v", err)
	}
	for _, jti := range acked {
		if ok, err := s.IsBlacklisted(jti); err != nil || !ok {
			t.Fatalf("acknowledged write %s is not in the store after SIGKILL (%v)", jti, err)
		}
	}
}

// cycleWrites posts the cycle's writes from crashWriters goroutines and
// closes reached when the k-th acknowledgement arrives. It returns the
// acknowledged jtis once every writer has stopped: at the end of its list,
// or at its first failed request (the node died).
func cycleWrites(client *http.Client, base, admin string, cycle, k int, reached chan<- struct{}) []string {
	var (
		mu    sync.Mutex
		acked []string
		n     atomic.Int64
		once  sync.Once
		wg    sync.WaitGroup
	)
	if k == 0 {
		once.Do(func() { close(reached) })
	}
	exp := time.Now().Add(24 * time.Hour).Unix()
	for w := range crashWriters {
		wg.Go(func() {
			for i := range crashWritesPerCycle / crashWriters {
				jti := fmt.Sprintf("crash-%03d-%02d-%02d", cycle, w, i)
				body := fmt.Sprintf(`{"jti":%q,"exp":%d}`, jti, exp)
				req, err := http.NewRequest(http.MethodPost, base+"/v1/blacklist", bytes.NewReader([]byte(body)))
				if err != nil {
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+admin)
				resp, err := client.Do(req)
				if err != nil {
					return // the node is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					return
				}
				mu.Lock()
				acked = append(acked, jti)
				mu.Unlock()
				if n.Add(1) == int64(k) {
					once.Do(func() { close(reached) })
				}
			}
		})
	}
	wg.Wait()
	once.Do(func() { close(reached) }) // fewer acks than k: kill at the end
	return acked
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestProcessCrashLosesNothing(t *testing.T) {
	cycles := 20
	if longRun() {
		cycles = 200
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BLNODE_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("BLNODE_CRASH_SEED %q: %v", s, err)
		}
	}
	t.Logf("seed %d (BLNODE_CRASH_SEED=%d replays this run)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	began := time.Now()
	bin := buildBinary(t)
	dir := t.TempDir()
	const admin = "crash-admin-token-0123456789"
	adminFile := filepath.Join(dir, "admin-token")
	secretFile := filepath.Join(dir, "hs-secret")
	for path, text := range map[string]string{adminFile: admin, secretFile: "crash-harness-hs-secret-0123456789abcdef"} {
		if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	fullData := filepath.Join(dir, "full")
	fullArgs := []string{"--data", fullData, "--nats-listen", natsAddr, "--admin-token-file", adminFile, "--hs-secret-file", secretFile}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashWriters * 2}}

	var logs []*serveProc // every process, for the logs of a failure
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range logs {
				t.Logf("process %d log:\n%s", i, p.Output())
			}
		}
	})

	full := startServe(t, bin, fullArgs...)
	logs = append(logs, full)
	validator := startServe(t, bin, "--role", "validator", "--data", filepath.Join(dir, "validator"), "--nats", "nats://"+natsAddr,
		"--nats-user", "blnode-validator", "--nats-password-file", filepath.Join(fullData, "nats", "auth", "validator.password"),
		"--hs-secret-file", secretFile, "--admin-token-file", adminFile)
	logs = append(logs, validator)
	poll.For(t, 30*time.Second, pollEvery, func() error { return wantStatus(validator.url+"/readyz", http.StatusOK) })

	var all, prev []string
	kills, acksTotal := 0, 0
	for cycle := range cycles {
		if cycle > 0 {
			full = startServe(t, bin, fullArgs...)
			logs = append(logs[:1], full, validator) // keep the first and the live ones
			// The restarted node serves what the last cycle acknowledged.
			if m, err := missing(client, full.url, prev); err != nil || len(m) > 0 {
				t.Fatalf("cycle %d: after restart, %d acknowledged writes of the last cycle are missing (%v): %.5q", cycle, len(m), err, m)
			}
		}
		// Kill after k acks: sometimes at once, mostly somewhere in the
		// stream of writes, sometimes after all of them.
		k := rng.IntN(crashWritesPerCycle + 1)
		if rng.IntN(10) == 0 {
			k = 0
		}
		reached := make(chan struct{})
		done := make(chan []string, 1)
		go func() { done <- cycleWrites(client, full.url, admin, cycle, k, reached) }()
		<-reached
		full.kill9(t)
		kills++
		acked := <-done
		checkStoreOffline(t, fullData, acked)
		acksTotal += len(acked)
		all = append(all, acked...)
		prev = acked
	}

	// The last start: the node publishes what its outbox holds; the
	// validator, reconnected, converges to the same digest.
	full = startServe(t, bin, fullArgs...)
	logs = append(logs[:1], full, validator)
	if m, err := missing(client, full.url, all); err != nil || len(m) > 0 {
		t.Fatalf("after %d crashes, %d acknowledged writes are missing on the full node (%v): %.5q", kills, len(m), err, m)
	}
	var fs, vs crashStatus
	poll.For(t, 60*time.Second, pollEvery, func() error {
		var err error
		if fs, err = getStatus(client, full.url, admin); err != nil {
			return err
		}
		if vs, err = getStatus(client, validator.url, admin); err != nil {
			return err
		}
		if fs.OutboxDepth != 0 || vs.Digest != fs.Digest || vs.Lag != 0 || fs.Lag != 0 {
			return fmt.Errorf("full node %+v, validator %+v: want an empty outbox and the same digest", fs, vs)
		}
		return nil
	})
	if m, err := missing(client, validator.url, all); err != nil || len(m) > 0 {
		t.Fatalf("the validator misses %d acknowledged writes (%v): %.5q", len(m), err, m)
	}
	if m, err := missing(client, validator.url, []string{"crash-never-written"}); err != nil || len(m) != 1 {
		t.Fatalf("the check for missing writes does not see a jti never written: %q, %v", m, err)
	}
	if fs.Blacklisted < uint64(acksTotal) {
		t.Fatalf("full node holds %d blacklisted, fewer than the %d acknowledged", fs.Blacklisted, acksTotal)
	}
	stopAll(t, map[string]*serveProc{"full node": full, "validator": validator})
	t.Logf("%d crash cycles (SIGKILL), %d writes acknowledged, %d found on the full node after its restarts and on the validator "+
		"(%d stored in all: writes in flight at a kill may land without an answer); digest %s; took %v",
		kills, acksTotal, acksTotal, fs.Blacklisted, fs.Digest, time.Since(began).Round(time.Millisecond))
}
