//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node/options"
)

// A fleet of real processes: one full node exposing its embedded NATS
// server on loopback, and two validators that follow its event stream.

// fleetClient bounds every request of the fleet test.
func fleetClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }

// fleetStatus is the part of GET /v1/status the fleet test reads.
type fleetStatus struct {
	Role        string `json:"role"`
	NATS        string `json:"nats"`
	NATSURL     string `json:"nats_url"`
	LastApplied uint64 `json:"last_applied_seq"`
	StreamLast  uint64 `json:"stream_last_seq"`
	Lag         uint64 `json:"lag"`
	Ready       bool   `json:"ready"`
	OutboxDepth uint64 `json:"outbox_depth"`
	Blacklisted uint64 `json:"blacklisted"`
}

// adminStatus reads GET /v1/status with the admin token.
func adminStatus(url, admin string) (fleetStatus, error) {
	var st fleetStatus
	req, err := http.NewRequest(http.MethodGet, url+"/v1/status", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := fleetClient().Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s/v1/status: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("GET %s/v1/status: %w in %s", url, err, body)
	}
	return st, nil
}

// verifyToken posts tok to the Simple JWT verify endpoint of url.
func verifyToken(url, tok string) (int, string, error) {
	b, _ := json.Marshal(map[string]string{"token": tok})
	resp, err := fleetClient().Post(url+"/api/token/verify/", "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// kill9 sends SIGKILL and waits for the process to die of it.
func (p *serveProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
}

// stopAll sends SIGTERM to every process at once, then requires each to
// exit 0 with a "stopped" log line.
func stopAll(t *testing.T, procs map[string]*serveProc) {
	t.Helper()
	for name, p := range procs {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM %s: %v", name, err)
		}
	}
	deadline := time.After(20 * time.Second)
	for name, p := range procs {
		select {
		case <-p.Done():
		case <-deadline:
			t.Fatalf("%s did not exit within 20s of SIGTERM:\n%s", name, p.Output())
		}
		if err := p.Err(); err != nil {
			t.Errorf("%s exited with %v after SIGTERM:\n%s", name, err, p.Output())
		} else if p.Record("stopped") == nil {
			t.Errorf("%s: no \"stopped\" log line:\n%s", name, p.Output())
		}
	}
}

func TestProcessFleetKill9Validator(t *testing.T) {
	began := time.Now()
	bin := buildBinary(t)
	built := time.Now()
	dir := t.TempDir()
	const admin = "fleet-admin-token-0123456789"
	adminFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(adminFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The full node: its embedded NATS server listens on a free loopback
	// port, which the listening log line reports.
	fullData := filepath.Join(dir, "full")
	full := startServe(t, bin, "--data", fullData, "--nats-listen", "127.0.0.1:0", "--admin-token-file", adminFile)
	procs := map[string]*serveProc{"full node": full} // every process started, for the logs of a failure
	t.Cleanup(func() {
		if t.Failed() {
			for name, p := range procs {
				t.Logf("%s log:\n%s", name, p.Output())
			}
		}
	})
	rec := full.Record("listening")
	natsURL, _ := rec["nats_listen"].(string)
	if rec["nats"] != "embedded, listening" || rec["role"] != "full" || !strings.HasPrefix(natsURL, "nats://127.0.0.1:") {
		t.Fatalf("full node's listening log line %v: want an embedded NATS server listening on 127.0.0.1", rec)
	}
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(full.url+"/readyz", http.StatusOK) })
	if st, err := adminStatus(full.url, admin); err != nil || st.NATSURL != natsURL || st.NATS != "connected" || st.Role != "full" {
		t.Fatalf("full node status %+v, %v: want role full, connected to %s", st, err, natsURL)
	}

	// The validators verify with the full node's development secret, and
	// connect as the validator user of its embedded server.
	secretFile := filepath.Join(fullData, options.DevSecretFile)
	if dir, _ := rec["nats_auth_dir"].(string); dir != filepath.Join(fullData, "nats", "auth") {
		t.Fatalf("full node's listening log line %v: want nats_auth_dir %s", rec, filepath.Join(fullData, "nats", "auth"))
	}
	validatorArgs := func(data string) []string {
		return []string{"--role", "validator", "--data", data, "--nats", natsURL,
			"--nats-user", "blnode-validator", "--nats-password-file", filepath.Join(fullData, "nats", "auth", "validator.password"),
			"--hs-secret-file", secretFile, "--admin-token-file", adminFile}
	}
	v1Data, v2Data := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	// Validator 1 fsyncs its store only as it stops (the default is every
	// second): its kill -9 below leaves its applied events in the page
	// cache alone. It follows the stream with a consumer, which records
	// every sequence it applies; validator 2 follows the live subject (the
	// default), which records the sequence a confirm found complete.
	v1Args := append(validatorArgs(v1Data), "--validator-sync-every", "1h", "--validator-follow", "consumer")
	v1 := startServe(t, bin, v1Args...)
	v2 := startServe(t, bin, validatorArgs(v2Data)...)
	procs["validator 1"], procs["validator 2"] = v1, v2
	for name, p := range map[string]*serveProc{"validator 1": v1, "validator 2": v2} {
		if r := p.Record("listening"); r["role"] != "validator" || r["nats"] != "external" {
			t.Errorf("%s listening log line %v: want role validator, nats external", name, r)
		}
		poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(p.url+"/readyz", http.StatusOK) })
	}

	var mintLogs []string
	mint := func() string {
		t.Helper()
		tok, _, stderr := mintBin(t, bin, fullData)
		mintLogs = append(mintLogs, stderr)
		return tok
	}
	blacklisted := func(urls map[string]string, toks []string) func() error {
		pending := map[string][]string{}
		for name := range urls {
			pending[name] = append([]string(nil), toks...)
		}
		return func() error {
			for name, url := range urls {
				var left []string
				for _, tok := range pending[name] {
					status, body, err := verifyToken(url, tok)
					if err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
					switch {
					case status == 400 && body == blacklistedBody:
					case status == 200 && body == "{}":
						left = append(left, tok)
					default:
						return fmt.Errorf("%s: verify answered %d %s, want 400 %s or (not yet) 200 {}", name, status, body, blacklistedBody)
					}
				}
				if pending[name] = left; len(left) > 0 {
					return fmt.Errorf("%s still accepts %d of %d blacklisted tokens", name, len(left), len(toks))
				}
			}
			return nil
		}
	}

	// One token blacklisted on the full node reaches both validators.
	toks := []string{mint()}
	if status, body := postJSON(t, full.url+"/api/token/blacklist/", map[string]string{"refresh": toks[0]}); status != 200 || body != "{}" {
		t.Fatalf("blacklist on the full node: %d %s, want 200 {}", status, body)
	}
	poll.For(t, 10*time.Second, pollEvery, blacklisted(map[string]string{"validator 1": v1.url, "validator 2": v2.url}, toks))

	// A validator refuses writes: the token stays valid everywhere.
	spare := mint()
	if status, body := postJSON(t, v1.url+"/api/token/blacklist/", map[string]string{"refresh": spare}); status != 403 {
		t.Errorf("blacklist on a validator: %d %s, want 403", status, body)
	}
	for name, url := range map[string]string{"full node": full.url, "validator 1": v1.url, "validator 2": v2.url} {
		if status, body, err := verifyToken(url, spare); err != nil || status != 200 || body != "{}" {
			t.Errorf("%s: verify of a token a validator refused to blacklist: %d %s %v, want 200 {}", name, status, body, err)
		}
	}

	// kill -9 validator 2, blacklist 50 more while it is dead, restart it
	// on the same data dir: it resumes after the sequence it had applied.
	// (A blacklisting is in force on arrival; its batch commits a moment
	// later: wait for the commit, so the restart has something to resume.)
	poll.For(t, 10*time.Second, pollEvery, func() error {
		st, err := adminStatus(v2.url, admin)
		if err == nil && st.LastApplied < 1 {
			err = fmt.Errorf("validator 2 has applied up to %d", st.LastApplied)
		}
		return err
	})
	v2.kill9(t)
	var v1Applied uint64
	for i := range 50 {
		if i == 25 {
			// kill -9 validator 1 too, as live events arrive: a restart
			// resumes after what it had applied, none of it fsynced. (A
			// validator commits blacklistings, in force on arrival, in
			// batches of up to 500 ms: wait for one.)
			var st fleetStatus
			poll.For(t, 10*time.Second, pollEvery, func() error {
				var err error
				if st, err = adminStatus(v1.url, admin); err == nil && st.LastApplied < 2 {
					err = fmt.Errorf("validator 1 has applied up to %d", st.LastApplied)
				}
				return err
			})
			v1Applied = st.LastApplied
			v1.kill9(t)
		}
		tok := mint()
		toks = append(toks, tok)
		if status, body := postJSON(t, full.url+"/api/token/blacklist/", map[string]string{"refresh": tok}); status != 200 || body != "{}" {
			t.Fatalf("blacklist %d on the full node: %d %s, want 200 {}", len(toks), status, body)
		}
	}
	v2b := startServe(t, bin, validatorArgs(v2Data)...)
	v1b := startServe(t, bin, v1Args...)
	procs["validator 2 (restarted)"], procs["validator 1 (restarted)"] = v2b, v1b
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(v2b.url+"/readyz", http.StatusOK) })
	poll.For(t, 20*time.Second, pollEvery, func() error { return wantStatus(v1b.url+"/readyz", http.StatusOK) })
	if r := v1b.Record("consuming events"); r == nil || r["start_seq"].(float64) < float64(v1Applied+1) || v1Applied < 2 {
		t.Errorf("restarted validator 1's first \"consuming events\" log line %v: want start_seq above %d, the sequence it had applied (unsynced) when killed", r, v1Applied)
	}
	// Validator 2 followed the live subject: it replays from the last
	// sequence a confirm recorded, at most after the one event it had
	// applied, never after what it had not.
	if r := v2b.Record("consuming events"); r == nil || r["start_seq"].(float64) > 2 {
		t.Errorf("restarted validator's first \"consuming events\" log line %v: want start_seq 1 or 2, not after the one event it had applied", r)
	}
	poll.For(t, 15*time.Second, pollEvery, blacklisted(map[string]string{"validator 1": v1b.url, "validator 2": v2b.url}, toks))
	poll.For(t, 15*time.Second, pollEvery, func() error {
		if v2b.Record("following the live subject") == nil {
			return errors.New("restarted validator 2 does not follow the live subject")
		}
		return nil
	})
	if status, body, err := verifyToken(v2b.url, spare); err != nil || status != 200 || body != "{}" {
		t.Errorf("restarted validator: verify of a token never blacklisted: %d %s %v, want 200 {}", status, body, err)
	}

	// The replicas converge: the same blacklisted count as the full node
	// and nothing left to apply.
	poll.For(t, 10*time.Second, pollEvery, func() error {
		fs, err := adminStatus(full.url, admin)
		if err != nil {
			return err
		}
		if fs.Blacklisted != uint64(len(toks)) || fs.OutboxDepth != 0 || fs.Lag != 0 || fs.LastApplied != fs.StreamLast {
			return fmt.Errorf("full node status %+v: want %d blacklisted, empty outbox, lag 0", fs, len(toks))
		}
		for name, url := range map[string]string{"validator 1": v1b.url, "validator 2": v2b.url} {
			st, err := adminStatus(url, admin)
			if err != nil {
				return err
			}
			if st.Role != "validator" || !st.Ready || st.NATS != "connected" || st.Blacklisted != fs.Blacklisted ||
				st.Lag != 0 || st.LastApplied != fs.LastApplied {
				return fmt.Errorf("%s status %+v: want ready, connected, %d blacklisted, lag 0, last applied %d as the full node",
					name, st, fs.Blacklisted, fs.LastApplied)
			}
		}
		return nil
	})

	stopAll(t, map[string]*serveProc{"full node": full, "validator 1 (restarted)": v1b, "validator 2 (restarted)": v2b})

	logs := map[string]string{"mint": strings.Join(mintLogs, "\n")}
	for name, p := range procs {
		logs[name] = p.Output()
	}
	for name, text := range logs {
		for i, tok := range slices.Concat(toks, []string{spare}) {
			if strings.Contains(text, tok) || strings.Contains(text, tok[strings.LastIndexByte(tok, '.')+1:]) {
				t.Errorf("the %s log shows raw token %d:\n%s", name, i, text)
				break
			}
		}
	}
	t.Logf("fleet test took %v (%v building the binary)", time.Since(began).Round(time.Millisecond), built.Sub(began).Round(time.Millisecond))
}
