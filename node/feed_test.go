package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/persist"
)

// feedPage asks url for a JSON page of GET /v1/feed.
func feedPage(t testing.TB, url string, since uint64, wait string) (events []json.RawMessage, next uint64) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		fmt.Sprintf("%s/v1/feed?since=%d&wait=%s", url, since, wait), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+feedToken)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/feed since %d: %d %s", since, resp.StatusCode, body)
	}
	var p struct {
		Events []json.RawMessage `json:"events"`
		Next   uint64            `json:"next"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("page %s: %v", body, err)
	}
	return p.Events, p.Next
}

// revocationSet is what a feed consumer keeps: the blacklisted tokens'
// expiry by jti, and the revocations by revocationKey.
type revocationSet struct {
	tokens map[string]int64
	revs   map[string]bool
}

// apply applies one event of the feed, as a consumer would.
func (s revocationSet) apply(t testing.TB, raw []byte) {
	t.Helper()
	ev, err := events.Decode(raw)
	if err != nil {
		t.Fatalf("a feed event that does not decode: %v: %s", err, raw)
	}
	switch ev.Kind {
	case events.KindBlacklist:
		s.tokens[ev.Token.JTI] = ev.Token.ExpiresAt
	case events.KindFlush:
		for jti, exp := range s.tokens {
			if exp < ev.Cutoff {
				delete(s.tokens, jti)
			}
		}
	case events.KindRevokeUser:
		s.revs["user:"+ev.User] = true
	case events.KindRevokeFamily:
		s.revs["family:"+ev.Family] = true
	case events.KindRevokeSession:
		s.revs["session:"+ev.Session] = true
	case events.KindRevokeClient:
		s.revs["client:"+ev.Client] = true
	case events.KindRevokeIssuer:
		s.revs["issuer:"+ev.Issuer] = true
	default:
		t.Fatalf("a %s event in the revocation feed", ev.Kind)
	}
}

func (s revocationSet) digest() persist.Digest {
	var d persist.Digest
	for jti, exp := range s.tokens {
		d = d.Add(jti, exp)
	}
	return d
}

// A consumer that starts from GET /v1/revocations and follows GET
// /v1/feed from its sequence, on a validator, while a full node writes,
// ends with exactly the full node's set: its digest and its revocations.
func TestFeedSnapshotAndFeedAreExact(t *testing.T) {
	s := eventstest.RunServer(t)
	fcfg := fleetConfig(node.RoleFull, 1, s)
	fcfg.FeedToken = feedToken
	full := startNode(t, fcfg)
	vcfg := fleetConfig(node.RoleValidator, 1, s)
	vcfg.FeedToken = feedToken
	// A validator following the live subject records its applied
	// sequence at each look at the stream: look often.
	vcfg.NATS.StreamInfoInterval = 100 * time.Millisecond
	v := startNode(t, vcfg)
	fullURL, vURL := httptestServer(t, full.Handler()), httptestServer(t, v.Handler())
	ctx := t.Context()

	// Writes before the snapshot, and while the consumer starts.
	blacklistN(t, full.Node, "before", 50)
	if _, err := full.RevokeUser(ctx, "u-before", time.Time{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	writes := make(chan struct{})
	wg.Go(func() {
		defer close(writes)
		for i := range 20 {
			blacklistN(t, full.Node, fmt.Sprintf("during-%d", i), 10)
			var err error
			switch i % 4 {
			case 0:
				_, err = full.RevokeUser(ctx, fmt.Sprintf("u-%d", i), time.Time{})
			case 1:
				_, err = full.RevokeSession(ctx, fmt.Sprintf("sid-%d", i), time.Time{})
			case 2:
				_, err = full.RevokeClient(ctx, fmt.Sprintf("client-%d", i), time.Time{})
			case 3:
				_, err = full.RevokeFamily(ctx, "u", fmt.Sprintf("fam-%d", i), time.Time{})
			}
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	})
	poll.For(t, waitLong, pollEvery, func() error {
		if l := getRevocations(t, vURL, "Authorization", "Bearer "+feedToken); l.head.Seq == 0 {
			return fmt.Errorf("the validator has applied nothing yet")
		}
		return nil
	})
	snap := getRevocations(t, vURL, "Authorization", "Bearer "+feedToken)
	set := revocationSet{tokens: map[string]int64{}, revs: map[string]bool{}}
	for jti, l := range snap.tokens {
		set.tokens[jti] = l.ExpiresAt
	}
	for k := range snap.revs {
		set.revs[k] = true
	}
	next := snap.head.Seq
	follow := func(until uint64) {
		for next < until {
			evs, n := feedPage(t, vURL, next, "5s")
			for _, e := range evs {
				set.apply(t, e)
			}
			next = n
		}
	}
	<-writes
	wg.Wait()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	follow(streamLastSeq(t, nc))

	want, err := full.Store().Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := set.digest(); got != want {
		t.Errorf("snapshot at %d + feed: digest %s (%d tokens), the full node's %s", snap.head.Seq, got, len(set.tokens), want)
	}
	final := getRevocations(t, fullURL, "Authorization", "Bearer "+feedToken)
	if got, want := slices.Sorted(maps.Keys(set.revs)), sortedKeys(final.revs); !slices.Equal(got, want) {
		t.Errorf("revocations %q, the full node lists %q", got, want)
	}
	if len(set.tokens) != 50+20*10 || len(set.revs) != 1+20 {
		t.Errorf("%d tokens, %d revocations: want 250 and 21", len(set.tokens), len(set.revs))
	}
}

// sseIDs reads an event stream until it has n events and returns their
// data and the last id seen.
func sseRead(t testing.TB, r *bufio.Reader, n int) (data []string, lastID uint64) {
	t.Helper()
	for len(data) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(data), err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			if lastID, err = strconv.ParseUint(line[4:], 10, 64); err != nil {
				t.Fatalf("id %q", line)
			}
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
	return data, lastID
}

func openFeed(t testing.TB, ctx context.Context, url string, hdr ...string) *bufio.Reader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+feedToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /v1/feed: %d %s", resp.StatusCode, b)
	}
	return bufio.NewReader(resp.Body)
}

// jtisOf returns the jtis of blacklist events' wire forms.
func jtisOf(t testing.TB, data []string) []string {
	t.Helper()
	var out []string
	for _, d := range data {
		ev, err := events.Decode([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Token.JTI)
	}
	return out
}

// A client that resumes with Last-Event-ID after the node restarted gets
// exactly what it had not: the events written before and after the
// restart, once each, in order.
func TestFeedResumesAfterANodeRestart(t *testing.T) {
	s := eventstest.RunServer(t)
	cfg := fleetConfig(node.RoleFull, 1, s)
	cfg.FeedToken = feedToken
	cfg.DataDir = t.TempDir()
	first := startNode(t, cfg)
	url := httptestServer(t, first.Handler())
	// The feed reads the stream, which the node provisions as it starts
	// (until then the feed answers 503).
	waitNodeReady(t, first)
	ctx, cancel := context.WithCancel(t.Context())
	r := openFeed(t, ctx, url, "Accept", "text/event-stream")
	a := blacklistN(t, first.Node, "a", 10)
	got, lastID := sseRead(t, r, 10)
	if !slices.Equal(jtisOf(t, got), a) {
		t.Fatalf("before the restart: %q, want %q", jtisOf(t, got), a)
	}
	// Written after the client's last event, before the node stops: the
	// client never saw them.
	b := blacklistN(t, first.Node, "b", 5)
	cancel()
	first.stop()

	second := startNode(t, cfg)
	url = httptestServer(t, second.Handler())
	waitNodeReady(t, second)
	c := blacklistN(t, second.Node, "c", 5)
	r = openFeed(t, t.Context(), url, "Last-Event-ID", strconv.FormatUint(lastID, 10))
	got, _ = sseRead(t, r, 10)
	if want := append(append([]string(nil), b...), c...); !slices.Equal(jtisOf(t, got), want) {
		t.Fatalf("resumed after %d: %q, want %q", lastID, jtisOf(t, got), want)
	}
	// And nothing more: the next event is the next write.
	d := blacklistN(t, second.Node, "d", 1)
	got, _ = sseRead(t, r, 1)
	if !slices.Equal(jtisOf(t, got), d) {
		t.Fatalf("after: %q, want %q", jtisOf(t, got), d)
	}
}

func waitNodeReady(t testing.TB, r *running) {
	t.Helper()
	poll.For(t, waitLong, pollEvery, func() error {
		if !r.Ready() {
			return errors.New("not ready")
		}
		return nil
	})
}

// A node without NATS has no feed.
func TestFeedWithoutNATS(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) { c.FeedToken = feedToken })
	resp := do(t, http.MethodGet, srv.URL+"/v1/feed", "", "", "Authorization", "Bearer "+feedToken)
	if resp.status != http.StatusNotFound || !strings.Contains(resp.body, `"not_found"`) {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
}
