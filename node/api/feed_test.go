package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blnode/blnode/events"
	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node/api"
	"github.com/blnode/blnode/node/nodehttp"
)

const (
	feedToken = "feed-token-0123456789abcdef"
	waitLong  = 60 * time.Second
	pollEvery = 10 * time.Millisecond
)

// feedEnv is a NATS server with the default stream, a Feed on it, and GET
// /v1/feed served over loopback.
type feedEnv struct {
	js   jetstream.JetStream
	feed *events.Feed
	url  string
	srv  *httptest.Server
}

// newFeedEnv starts it; listen, when set, wraps the server's listener.
func newFeedEnv(t testing.TB, fc events.FeedConfig, ac api.FeedConfig, listen func(net.Listener) net.Listener) *feedEnv {
	t.Helper()
	s := eventstest.RunServer(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	fc.Logger = slog.New(slog.DiscardHandler)
	f, err := events.NewFeed(js, fc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx) })
	ac.Feed, ac.Logger = f, slog.New(slog.DiscardHandler)
	ac.Guard = nodehttp.NewFeedGuard(nodehttp.NewGuard(nodehttp.GuardConfig{Logger: slog.New(slog.DiscardHandler)}), feedToken)
	mux := http.NewServeMux()
	api.RegisterFeed(mux, ac)
	srv := httptest.NewUnstartedServer(mux)
	if listen != nil {
		srv.Listener = listen(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		cancel() // ends every stream first: Close waits for the handlers
		wg.Wait()
		srv.Close()
	})
	return &feedEnv{js: js, feed: f, url: srv.URL + "/v1/feed", srv: srv}
}

// baseline starts the feed's follower (a client that comes and goes) and
// returns the goroutines running once the client has gone: what clients
// add is counted from there.
func (e *feedEnv) baseline(t testing.TB) int {
	t.Helper()
	c, err := openSSE(t.Context(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	c.close()
	var n int
	poll.For(t, waitLong, pollEvery, func() error {
		if st := e.feed.Status(); st.Readers != 0 || st.Followers != 1 {
			return fmt.Errorf("%+v", st)
		}
		n = runtime.NumGoroutine()
		return nil
	})
	return n
}

// published is one published message: its sequence and events' wire forms.
type published struct {
	seq    uint64
	events []string
}

// publish publishes count messages of kind, of per events each (a batch
// when per > 1), each event padded to about size bytes.
func (e *feedEnv) publish(t testing.TB, kind events.Kind, count, per, size int) []published {
	t.Helper()
	var out []published
	for range count {
		var evs []string
		for range per {
			ev := events.Event{ID: events.NewID(), Kind: kind, Origin: "test", Time: time.Now().UTC()}
			switch kind {
			case events.KindBlacklist, events.KindOutstanding:
				ev.Token = &events.Token{JTI: events.NewID(), User: "u", ExpiresAt: time.Now().Add(time.Hour).Unix()}
			case events.KindRevokeUser:
				ev.User, ev.NotBefore = "u", time.Now().Unix()
			}
			if size > 0 {
				ev.Reason = strings.Repeat("r", size)
			}
			b, err := ev.Encode()
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, string(b))
		}
		msg := nats.NewMsg(events.Subject("", "", kind))
		msg.Data = []byte(strings.Join(evs, "\n"))
		if per > 1 {
			msg.Header.Set(events.BatchHeader, strconv.Itoa(per))
		}
		ack, err := e.js.PublishMsg(t.Context(), msg)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, published{seq: ack.Sequence, events: evs})
	}
	return out
}

// sseEvent is one Server-Sent Event as a client sees it.
type sseEvent struct {
	id, event, data string
}

// sseClient reads an event stream.
type sseClient struct {
	resp *http.Response
	br   *bufio.Reader
}

// openSSE asks for the feed as an event stream; hdr are header name,
// value pairs.
func openSSE(ctx context.Context, url string, hdr ...string) (*sseClient, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+feedToken)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("Content-Type %q", ct)
	}
	return &sseClient{resp: resp, br: bufio.NewReader(resp.Body)}, nil
}

// next reads the next event (comments and retry lines skipped).
func (c *sseClient) next() (sseEvent, error) {
	var ev sseEvent
	has := false
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if has {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		case strings.HasPrefix(line, "id: "):
			ev.id, has = line[4:], true
		case strings.HasPrefix(line, "event: "):
			ev.event, has = line[7:], true
		case strings.HasPrefix(line, "data: "):
			ev.data, has = line[6:], true
		default:
			return ev, fmt.Errorf("unexpected line %q", line)
		}
	}
}

// expect reads the events of want, in order, and checks them: data, and
// id on each message's last event only.
func (c *sseClient) expect(want []published) error {
	for _, m := range want {
		for i, data := range m.events {
			ev, err := c.next()
			if err != nil {
				return fmt.Errorf("reading seq %d: %w", m.seq, err)
			}
			wantID := ""
			if i == len(m.events)-1 {
				wantID = strconv.FormatUint(m.seq, 10)
			}
			if ev.data != data || ev.id != wantID || ev.event != "" {
				return fmt.Errorf("seq %d event %d: id %q event %q data %.60s…, want id %q", m.seq, i, ev.id, ev.event, ev.data, wantID)
			}
		}
	}
	return nil
}

func (c *sseClient) close() { c.resp.Body.Close() }

// memInUse returns the heap and stacks in use after a collection.
func memInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// Many clients follow one feed at once: each gets every event, in order,
// with its sequence; each costs a bounded amount of memory (no queue of
// its own); and once they go, their goroutines go with them.
func TestFeedManySSEClients(t *testing.T) {
	const clients = 500
	env := newFeedEnv(t, events.FeedConfig{}, api.FeedConfig{}, nil)
	baseGoroutines := env.baseline(t)
	baseMem := memInUse()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	conns := make([]*sseClient, clients)
	for i := range conns {
		c, err := openSSE(ctx, env.url)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		conns[i] = c
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if st := env.feed.Status(); st.Readers != clients {
			return fmt.Errorf("%d readers", st.Readers)
		}
		return nil
	})
	perClient := (int64(memInUse()) - int64(baseMem)) / clients
	t.Logf("%d clients: %d bytes each (both ends: server handler, client transport)", clients, perClient)
	// Both ends of a connection in one process: buffers and goroutine
	// stacks, and nothing that grows with the feed.
	if perClient > 256<<10 {
		t.Errorf("%d bytes per client, want at most 256 KiB", perClient)
	}
	want := env.publish(t, events.KindBlacklist, 20, 1, 0)
	want = append(want, env.publish(t, events.KindRevokeUser, 5, 4, 0)...)
	want = append(want, env.publish(t, events.KindBlacklist, 20, 1, 0)...)
	env.publish(t, events.KindOutstanding, 5, 1, 0) // not a revocation: not sent
	last := env.publish(t, events.KindBlacklist, 1, 1, 0)
	want = append(want, last...)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range conns {
		wg.Go(func() {
			if err := c.expect(want); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range conns {
		c.close()
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if st := env.feed.Status(); st.Readers != 0 {
			return fmt.Errorf("%d readers left", st.Readers)
		}
		if n := runtime.NumGoroutine(); n > baseGoroutines+5 {
			return fmt.Errorf("%d goroutines, %d before the clients", n, baseGoroutines)
		}
		return nil
	})
}

// smallBuffers makes every accepted connection's send buffer small, so
// that a client that stops reading stalls the server's writes soon.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// A client that stops reading holds no more than its batch: the feed's
// ring stays within its bounds, the other clients get everything, and
// the stalled one is cut off once a write has waited ChunkTimeout (2 s:
// long enough that the fast client, behind the same small buffers, is
// never cut off on a loaded machine);
// clients that vanish mid-stream leave no goroutine behind.
func TestFeedSlowAndVanishingClients(t *testing.T) {
	env := newFeedEnv(t, events.FeedConfig{MaxEvents: 64, MaxBytes: 256 << 10, MaxBatchBytes: 16 << 10},
		api.FeedConfig{ChunkTimeout: 2 * time.Second}, func(l net.Listener) net.Listener { return smallBuffers{l} })
	baseGoroutines := env.baseline(t)

	// The stalled client: a request, then it reads nothing, through a
	// small receive buffer.
	var d net.Dialer
	raw, err := d.DialContext(t.Context(), "tcp", env.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(raw, "GET /v1/feed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", feedToken)

	fast, err := openSSE(t.Context(), env.url)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.close()
	// Vanishing clients: open, then gone.
	for range 50 {
		c, err := openSSE(t.Context(), env.url)
		if err != nil {
			t.Fatal(err)
		}
		c.close()
	}
	poll.For(t, waitLong, pollEvery, func() error {
		if st := env.feed.Status(); st.Readers != 2 {
			return fmt.Errorf("%d readers, want the stalled and the fast one", st.Readers)
		}
		return nil
	})
	// Far more than both the ring and the sockets' buffers hold.
	var want []published
	got := make(chan error, 1)
	for range 8 {
		batch := env.publish(t, events.KindBlacklist, 50, 4, 1000) // 200 KB each round
		want = append(want, batch...)
		if st := env.feed.Status(); st.Events > 64+4 || st.Bytes > 256<<10+8<<10 {
			t.Fatalf("the ring holds %d events, %d bytes: past its bounds", st.Events, st.Bytes)
		}
	}
	go func() { got <- fast.expect(want) }()
	if err := <-got; err != nil {
		t.Fatalf("the fast client: %v", err)
	}
	// The stalled client's write waits ChunkTimeout, then its stream ends.
	poll.For(t, waitLong, pollEvery, func() error {
		if st := env.feed.Status(); st.Readers != 1 {
			return fmt.Errorf("%d readers, want the fast one only", st.Readers)
		}
		return nil
	})
	// What reached the stalled client ends early: it never got the whole
	// stream, and the connection is closed.
	_ = raw.SetReadDeadline(time.Now().Add(waitLong))
	n, _ := io.Copy(io.Discard, raw)
	if total := 8 * 50 * 4 * 1000; n >= int64(total) {
		t.Errorf("the stalled client got %d bytes: all of it", n)
	}
	fast.close()
	poll.For(t, waitLong, pollEvery, func() error {
		if n := runtime.NumGoroutine(); n > baseGoroutines+5 {
			return fmt.Errorf("%d goroutines, %d before the clients", n, baseGoroutines)
		}
		return nil
	})
}

// page is a JSON page of the feed.
type page struct {
	Events []json.RawMessage `json:"events"`
	Next   uint64            `json:"next"`
}

func getPage(t testing.TB, url string) (int, page, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
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
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var p page
	if resp.StatusCode == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("page %s: %v", body, err)
		}
	}
	return resp.StatusCode, p, string(body)
}

// JSON pages: what is there after since, whole messages up to about
// limit events; an empty page at once without wait; a long poll answered
// by the first event to arrive.
func TestFeedJSONPages(t *testing.T) {
	env := newFeedEnv(t, events.FeedConfig{}, api.FeedConfig{}, nil)
	msgs := env.publish(t, events.KindBlacklist, 3, 1, 0)
	msgs = append(msgs, env.publish(t, events.KindBlacklist, 2, 5, 0)...)
	msgs = append(msgs, env.publish(t, events.KindRevokeUser, 2, 1, 0)...)
	var all []string
	for _, m := range msgs {
		all = append(all, m.events...)
	}
	last := msgs[len(msgs)-1].seq

	check := func(url string, wantEvents []string, wantNext uint64) {
		t.Helper()
		status, p, body := getPage(t, url)
		if status != 200 {
			t.Fatalf("%s: %d %s", url, status, body)
		}
		var got []string
		for _, e := range p.Events {
			got = append(got, string(e))
		}
		if strings.Join(got, "\n") != strings.Join(wantEvents, "\n") || p.Next != wantNext {
			t.Fatalf("%s: %d events, next %d; want %d events, next %d", url, len(got), p.Next, len(wantEvents), wantNext)
		}
	}
	check(env.url+"?since=0", all, last)
	check(env.url+"?since=0&limit=2", all[:2], msgs[1].seq)
	// A batch is never split: a limit inside it takes it whole.
	check(env.url+"?since="+strconv.FormatUint(msgs[2].seq, 10)+"&limit=1", msgs[3].events, msgs[3].seq)
	check(env.url+"?since="+strconv.FormatUint(last, 10), nil, last)
	check(env.url+"?kinds=revoke_user&since=0", all[len(all)-2:], last)
	// Without since: from now.
	check(env.url, nil, last)

	// A long poll returns with the first event to arrive.
	type answer struct {
		status int
		p      page
		body   string
	}
	got := make(chan answer, 1)
	go func() {
		s, p, b := getPage(t, env.url+"?since="+strconv.FormatUint(last, 10)+"&wait=60s")
		got <- answer{s, p, b}
	}()
	poll.For(t, waitLong, pollEvery, func() error {
		if st := env.feed.Status(); st.Readers != 1 {
			return fmt.Errorf("%d readers", st.Readers)
		}
		return nil
	})
	more := env.publish(t, events.KindBlacklist, 1, 1, 0)
	a := <-got
	if a.status != 200 || len(a.p.Events) != 1 || string(a.p.Events[0]) != more[0].events[0] || a.p.Next != more[0].seq {
		t.Fatalf("long poll: %d %s", a.status, a.body)
	}
}

// Every bad request gets a 4xx with a JSON error.
func TestFeedRefusals(t *testing.T) {
	env := newFeedEnv(t, events.FeedConfig{}, api.FeedConfig{MaxWait: time.Minute}, nil)
	msgs := env.publish(t, events.KindBlacklist, 3, 1, 0)
	last := msgs[len(msgs)-1].seq
	cases := []struct {
		name, query string
		hdr         []string
		status      int
		code        string
	}{
		{"no token", "", []string{"Authorization", ""}, 401, "unauthorized"},
		{"wrong token", "", []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		{"since not a number", "?since=x", nil, 400, "invalid"},
		{"negative since", "?since=-1", nil, 400, "invalid"},
		{"since twice", "?since=1&since=2", nil, 400, "invalid"},
		{"unknown parameter", "?from=1", nil, 400, "invalid"},
		{"unknown kind", "?kinds=blacklist,nope", nil, 400, "invalid"},
		{"kind twice", "?kinds=blacklist,blacklist", nil, 400, "invalid"},
		{"empty kinds", "?kinds=", nil, 400, "invalid"},
		{"wait on a stream", "?wait=1s", nil, 400, "invalid"},
		{"limit on a stream", "?limit=1", nil, 400, "invalid"},
		{"wait too long", "?wait=61s", []string{"Accept", "application/json"}, 400, "invalid"},
		{"negative wait", "?wait=-1s", []string{"Accept", "application/json"}, 400, "invalid"},
		{"wait not a duration", "?wait=soon", []string{"Accept", "application/json"}, 400, "invalid"},
		{"limit zero", "?limit=0", []string{"Accept", "application/json"}, 400, "invalid"},
		{"limit too big", "?limit=10001", []string{"Accept", "application/json"}, 400, "invalid"},
		{"bad Last-Event-ID", "", []string{"Last-Event-ID", "abc"}, 400, "invalid"},
		{"since ahead", "?since=" + strconv.FormatUint(last+1, 10), nil, 409, "ahead"},
		{"since ahead, JSON", "?since=" + strconv.FormatUint(last+100, 10), []string{"Accept", "application/json"}, 409, "ahead"},
		{"Last-Event-ID ahead", "", []string{"Last-Event-ID", "99999"}, 409, "ahead"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, env.url+c.query, nil)
			req.Header.Set("Authorization", "Bearer "+feedToken)
			for i := 0; i+1 < len(c.hdr); i += 2 {
				req.Header.Set(c.hdr[i], c.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Code string `json:"code"`
			}
			if resp.StatusCode != c.status || json.Unmarshal(body, &e) != nil || e.Code != c.code {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, body, c.status, c.code)
			}
		})
	}
	// A stream that no longer holds what follows since: 410.
	s, err := env.js.Stream(t.Context(), events.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if status, _, body := getPage(t, env.url+"?since=1"); status != 410 || !strings.Contains(body, `"gone"`) {
		t.Fatalf("since before the stream's first: %d %s", status, body)
	}
	// POST is not a feed.
	resp, err := http.Post(env.url, "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

// A node without an event stream has no feed: 404, with a JSON error.
func TestFeedWithoutStream(t *testing.T) {
	mux := http.NewServeMux()
	api.RegisterFeed(mux, api.FeedConfig{Guard: nodehttp.NewFeedGuard(nodehttp.NewGuard(nodehttp.GuardConfig{Logger: slog.New(slog.DiscardHandler)}), feedToken),
		Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/feed?since=1", nil)
	req.Header.Set("Authorization", "Bearer "+feedToken)
	mux.ServeHTTP(rec, req)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"not_found"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// FuzzFeedQuery: no query, Accept or Last-Event-ID makes GET /v1/feed
// answer a 5xx or panic; a refusal is a 4xx with a JSON error.
func FuzzFeedQuery(f *testing.F) {
	for _, s := range []string{"since=1", "since=x&kinds=all", "kinds=blacklist,revoke_user", "wait=30s&limit=5",
		"wait=30", "limit=-1", "since=18446744073709551616", "%zz", "since=1&since=2", "kinds=,,"} {
		f.Add(s, "application/json", "")
		f.Add(s, "text/event-stream", "12")
	}
	mux := http.NewServeMux()
	api.RegisterFeed(mux, api.FeedConfig{Guard: nodehttp.NewFeedGuard(nodehttp.NewGuard(nodehttp.GuardConfig{Logger: slog.New(slog.DiscardHandler)}), feedToken),
		Logger: slog.New(slog.DiscardHandler)})
	f.Fuzz(func(t *testing.T, query, accept, lastID string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/feed", nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+feedToken)
		req.Header.Set("Accept", accept)
		req.Header.Set("Last-Event-ID", lastID)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code < 400 || rec.Code >= 500 {
			t.Fatalf("%q: %d %s", query, rec.Code, rec.Body)
		}
		var e struct {
			Code string `json:"code"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" {
			t.Fatalf("%q: %d %s: not a JSON error", query, rec.Code, rec.Body)
		}
	})
}
