package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/node"
	"github.com/blnode/blnode/node/api"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/persist"
	"github.com/blnode/blnode/persist/dump"
)

const (
	feedToken   = "feed-token-0123456789abcdef"
	readerToken = "reader-token-0123456789abcdef"
)

// listing is an answer of GET /v1/revocations, its lines decoded.
type listing struct {
	status  int
	header  http.Header
	trailer http.Header
	head    dump.Line            // the header line
	tokens  map[string]dump.Line // by jti
	revs    map[string]dump.Line // by revocationKey
	body    string               // an error's body
}

// revocationKey names a revocation line: "user:42", "family:f",
// "session:sid", "client:app", "issuer:https://i/" ("issuer:" for every
// issuer).
func revocationKey(l dump.Line) string {
	switch {
	case l.By != "":
		return l.By + ":" + l.ID
	case l.Family != "":
		return "family:" + l.Family
	}
	return "user:" + l.User
}

// getRevocations asks url for GET /v1/revocations with the headers hdr
// (name, value, …) and decodes every line of a 200 with dump.Decode: one
// that does not decode, a line after the header that is one, or a
// duplicate fails the test.
func getRevocations(t testing.TB, url string, hdr ...string) listing {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/revocations", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := listing{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		out.body = strings.TrimSpace(string(b))
		return out
	}
	out.tokens, out.revs = map[string]dump.Line{}, map[string]dump.Line{}
	d := dump.NewDecoder(resp.Body)
	for {
		l, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("line %d: %v", d.Line(), err)
		}
		switch {
		case d.Line() == 1:
			if l.Kind != dump.KindHeader {
				t.Fatalf("first line is a %s, not the header", l.Kind)
			}
			out.head = l
		case l.Kind == dump.KindToken:
			if _, dup := out.tokens[l.JTI]; dup {
				t.Fatalf("token %s listed twice", l.JTI)
			}
			out.tokens[l.JTI] = l
		case l.Kind == dump.KindRevocation:
			k := revocationKey(l)
			if _, dup := out.revs[k]; dup {
				t.Fatalf("revocation %s listed twice", k)
			}
			out.revs[k] = l
		default:
			t.Fatalf("line %d is a %s", d.Line(), l.Kind)
		}
	}
	if d.Line() == 0 {
		t.Fatal("an empty body: no header line")
	}
	out.trailer = resp.Trailer
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// A node with blacklisted tokens, outstanding ones, expired and flushed
// ones, and every kind of revocation lists the blacklisted tokens and the
// revocations in force, each line in the export format, and no raw token.
func TestRevocationsListsWhatIsInForce(t *testing.T) {
	n, srv := newNode(t, func(c *node.Config) {
		c.FeedToken = feedToken
		c.KeepRawToken = true
		c.FlushInterval = -1
	})
	ctx := t.Context()
	now := time.Now()
	blacklist := func(r persist.Record) {
		t.Helper()
		if _, err := n.Blacklist(ctx, r); err != nil {
			t.Fatalf("blacklist %s: %v", r.JTI, err)
		}
	}
	live := now.Add(time.Hour).Unix()
	blacklist(persist.Record{JTI: "live-refresh", ExpiresAt: live, User: "42", Type: "refresh", Family: "fam-1",
		Reason: "stolen", Token: "raw.refresh.token"})
	blacklist(persist.Record{JTI: "live-access", ExpiresAt: live, User: "43", Type: "access", ClientID: "app", SessionID: "sid-9", Scope: "read"})
	blacklist(persist.Record{JTI: "expired", ExpiresAt: now.Add(-time.Hour).Unix(), User: "42"})
	blacklist(persist.Record{JTI: "flushed", ExpiresAt: now.Add(-2 * time.Hour).Unix()})
	if res, err := n.Flush(ctx); err != nil || res.Blacklisted == 0 {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	// "expired" is blacklisted again after the flush: still in the store,
	// out of force.
	blacklist(persist.Record{JTI: "expired", ExpiresAt: now.Add(-time.Hour).Unix(), User: "42"})
	if _, err := n.AddOutstanding(ctx, persist.Record{JTI: "outstanding", ExpiresAt: live, User: "42", Type: "refresh"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() (node.RevokeResult, error){
		func() (node.RevokeResult, error) { return n.RevokeUser(ctx, "7", time.Time{}) },
		func() (node.RevokeResult, error) { return n.RevokeFamily(ctx, "8", "fam-x", time.Time{}) },
		func() (node.RevokeResult, error) { return n.RevokeSession(ctx, "sid-1", time.Time{}) },
		func() (node.RevokeResult, error) { return n.RevokeClient(ctx, "app", time.Time{}) },
		func() (node.RevokeResult, error) { return n.RevokeIssuer(ctx, "https://issuer.example/", time.Time{}) },
		func() (node.RevokeResult, error) { return n.RevokeIssuer(ctx, "", time.Time{}) },
		// Issued so long ago that every token it covers has expired.
		func() (node.RevokeResult, error) { return n.RevokeUser(ctx, "old", now.Add(-40*24*time.Hour)) },
	} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}

	got := getRevocations(t, srv.URL, "Authorization", "Bearer "+feedToken)
	if got.status != http.StatusOK {
		t.Fatalf("GET: %d %s", got.status, got.body)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	if h := got.head; h.Format != dump.Format || h.Version != dump.Version || h.NodeID != n.ID() || h.Seq != 0 || h.Stream != "" || h.ExportedAt.IsZero() {
		t.Errorf("header line %+v (node %s)", h, n.ID())
	}
	if s := got.header.Get(api.HeaderSequence); s != "0" {
		t.Errorf("%s %q, want 0 (no NATS)", api.HeaderSequence, s)
	}
	if tokens := sortedKeys(got.tokens); !slices.Equal(tokens, []string{"live-access", "live-refresh"}) {
		t.Errorf("tokens %q, want live-access and live-refresh", tokens)
	}
	r := got.tokens["live-refresh"]
	if r.User != "42" || r.TokenType != "refresh" || r.ExpiresAt != live || r.Family != "fam-1" || r.Reason != "stolen" ||
		r.BlacklistedAt.IsZero() || r.Origin != n.ID() {
		t.Errorf("live-refresh %+v", r)
	}
	if r.Token != "" {
		t.Error("a raw token is listed")
	}
	if a := got.tokens["live-access"]; a.ClientID != "app" || a.SessionID != "sid-9" || a.Scope != "read" {
		t.Errorf("live-access %+v", a)
	}
	wantRevs := []string{"client:app", "family:fam-x", "issuer:", "issuer:https://issuer.example/", "session:sid-1", "user:7"}
	if revs := sortedKeys(got.revs); !slices.Equal(revs, wantRevs) {
		t.Errorf("revocations %q, want %q", revs, wantRevs)
	}
	if f := got.revs["family:fam-x"]; f.NotBefore == 0 || f.Expires <= f.NotBefore || f.Origin != n.ID() {
		t.Errorf("family revocation %+v", f)
	}
	// Every line is one an import takes.
	for _, l := range append(slices.Collect(maps.Values(got.tokens)), slices.Collect(maps.Values(got.revs))...) {
		if ops := l.Ops(); len(ops) == 0 {
			t.Errorf("line %+v imports as %+v", l, ops)
		}
	}
	var d persist.Digest
	for _, jti := range []string{"live-access", "live-refresh"} {
		d = d.Add(jti, live)
	}
	if got.trailer.Get(api.TrailerTokens) != "2" || got.trailer.Get(api.TrailerRevocations) != "6" || got.trailer.Get(api.TrailerDigest) != d.String() {
		t.Errorf("trailers %v, want 2 tokens, 6 revocations, digest %s", got.trailer, d)
	}
}

// The ETag names the state: If-None-Match with it answers 304 without a
// body until a blacklisting or a revocation (a later not-before of the
// same user too) changes it.
func TestRevocationsETag(t *testing.T) {
	n, srv := newNode(t, nil)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour).Unix()
	if _, err := n.Blacklist(ctx, persist.Record{JTI: "j1", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.RevokeUser(ctx, "7", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	first := getRevocations(t, srv.URL, "Authorization", admin)
	etag := first.header.Get("ETag")
	if first.status != 200 || !strings.HasPrefix(etag, `W/"0-`) {
		t.Fatalf("GET: %d, ETag %q", first.status, etag)
	}
	if cc := first.header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Errorf("Cache-Control %q", cc)
	}
	notModified := func(name, ifNoneMatch string, want int) {
		t.Helper()
		got := do(t, http.MethodGet, srv.URL+"/v1/revocations", "", "", "Authorization", admin, "If-None-Match", ifNoneMatch)
		if got.status != want {
			t.Fatalf("%s: If-None-Match %s: %d, want %d", name, ifNoneMatch, got.status, want)
		}
		if want == http.StatusNotModified && (got.body != "" || got.header.Get("ETag") != etag) {
			t.Errorf("%s: 304 with body %q, ETag %q", name, got.body, got.header.Get("ETag"))
		}
	}
	notModified("same", etag, 304)
	notModified("strong form", strings.TrimPrefix(etag, "W/"), 304)
	notModified("in a list", `W/"1-00", `+etag, 304)
	notModified("any", "*", 304)
	notModified("another", `W/"0-0000000000000000"`, 200)

	changes := []struct {
		name   string
		change func() error
	}{
		{"a blacklisting", func() error {
			_, err := n.Blacklist(ctx, persist.Record{JTI: "j2", ExpiresAt: exp})
			return err
		}},
		{"a later not-before of the same user", func() error {
			_, err := n.RevokeUser(ctx, "7", time.Time{})
			return err
		}},
		{"a session revocation", func() error {
			_, err := n.RevokeSession(ctx, "s", time.Time{})
			return err
		}},
	}
	for _, c := range changes {
		if err := c.change(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		notModified("after "+c.name, etag, 200)
		next := getRevocations(t, srv.URL, "Authorization", admin).header.Get("ETag")
		if next == etag {
			t.Fatalf("after %s the ETag is still %s", c.name, etag)
		}
		etag = next
		notModified("unchanged after "+c.name, etag, 304)
	}
}

// Who may read the listing: read and write credentials and the feed
// token; no one else, each wrong token counted by the failure limit; the
// feed token opens nothing else.
func TestRevocationsAuth(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) {
		c.FeedToken = feedToken
		c.AdminCredentials = []nodehttp.Credential{{Name: "reader", Token: readerToken, Scope: nodehttp.ScopeRead}}
		c.AuthFailureBurst = -1
	})
	tests := []struct {
		name   string
		hdr    []string
		status int
		code   string
	}{
		{name: "none", status: 401, code: "unauthorized"},
		{name: "not bearer", hdr: []string{"Authorization", "Basic " + feedToken}, status: 401, code: "unauthorized"},
		{name: "wrong", hdr: []string{"Authorization", "Bearer nope"}, status: 401, code: "unauthorized"},
		{name: "feed token with a suffix", hdr: []string{"Authorization", "Bearer " + feedToken + "x"}, status: 401, code: "unauthorized"},
		{name: "read credential", hdr: []string{"Authorization", "Bearer " + readerToken}, status: 200},
		{name: "write credential", hdr: []string{"Authorization", admin}, status: 200},
		{name: "feed token", hdr: []string{"Authorization", "Bearer " + feedToken}, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := getRevocations(t, srv.URL, tc.hdr...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
			}
			if tc.code != "" {
				if ct := got.header.Get("Content-Type"); ct != "application/json" || !strings.Contains(got.body, `"code":"`+tc.code+`"`) {
					t.Errorf("refusal %s %s, want code %s", ct, got.body, tc.code)
				}
				if got.header.Get("ETag") != "" || got.header.Get(api.HeaderSequence) != "" {
					t.Error("a refusal tells the state")
				}
			}
		})
	}
	t.Run("feed token opens nothing else", func(t *testing.T) {
		for _, path := range []string{"/v1/tokens", "/v1/status", "/v1/audit"} {
			if got := do(t, http.MethodGet, srv.URL+path, "", "", "Authorization", "Bearer "+feedToken); got.status != 401 {
				t.Errorf("GET %s with the feed token: %d %s", path, got.status, got.body)
			}
		}
	})
	t.Run("query parameters", func(t *testing.T) {
		for _, q := range []string{"?since=5", "?limit=10", "?%zz", "?x"} {
			got := do(t, http.MethodGet, srv.URL+"/v1/revocations"+q, "", "", "Authorization", "Bearer "+feedToken)
			if got.status != 400 || !strings.Contains(got.body, `"code":"invalid"`) {
				t.Errorf("%s: %d %s", q, got.status, got.body)
			}
		}
	})
	t.Run("methods", func(t *testing.T) {
		got := do(t, http.MethodPost, srv.URL+"/v1/revocations", "", "", "Authorization", "Bearer "+feedToken)
		if got.status != 405 || got.header.Get("Allow") != "GET" {
			t.Errorf("POST: %d %s (Allow %q)", got.status, got.body, got.header.Get("Allow"))
		}
		got = do(t, http.MethodHead, srv.URL+"/v1/revocations", "", "", "Authorization", "Bearer "+feedToken)
		if got.status != 200 || got.body != "" || got.header.Get("ETag") == "" {
			t.Errorf("HEAD: %d %q, ETag %q", got.status, got.body, got.header.Get("ETag"))
		}
	})
}

// Wrong tokens spend the client's failure budget shared with the admin
// routes: then even the feed token is refused with 429.
func TestRevocationsAuthFailureLimit(t *testing.T) {
	_, srv := newNode(t, func(c *node.Config) {
		c.FeedToken = feedToken
		c.AuthFailureBurst, c.AuthFailureRefill = 2, time.Hour
	})
	if got := getRevocations(t, srv.URL, "Authorization", "Bearer wrong-1"); got.status != 401 {
		t.Fatalf("first wrong token: %d", got.status)
	}
	// A wrong admin token on another route takes from the same budget.
	if got := do(t, http.MethodGet, srv.URL+"/v1/tokens", "", "", "Authorization", "Bearer wrong-2"); got.status != 401 {
		t.Fatalf("wrong admin token: %d", got.status)
	}
	got := getRevocations(t, srv.URL, "Authorization", "Bearer "+feedToken)
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") == "" {
		t.Fatalf("the feed token once the budget is spent: %d %s (Retry-After %q)", got.status, got.body, got.header.Get("Retry-After"))
	}
}

// Without a feed token the route is an admin read route: 403 with no
// admin credential either; with a feed token alone, it opens to that.
func TestRevocationsWithoutCredentials(t *testing.T) {
	_, none := newNode(t, func(c *node.Config) { c.AdminToken = "" })
	if got := getRevocations(t, none.URL, "Authorization", "Bearer "+feedToken); got.status != 403 || !strings.Contains(got.body, "admin_disabled") {
		t.Errorf("no credentials configured: %d %s", got.status, got.body)
	}
	_, feedOnly := newNode(t, func(c *node.Config) { c.AdminToken, c.FeedToken = "", feedToken })
	if got := getRevocations(t, feedOnly.URL, "Authorization", "Bearer "+feedToken); got.status != 200 {
		t.Errorf("feed token alone: %d %s", got.status, got.body)
	}
	if got := getRevocations(t, feedOnly.URL, "Authorization", admin); got.status != 401 {
		t.Errorf("a token no one configured: %d %s", got.status, got.body)
	}
}

// On a fleet, the listing's sequence is the node's applied sequence, on
// the full node and on a validator alike; the full node's, once it has
// applied its writes back, is the stream's last with every write listed;
// a write moves the sequence and the ETag on.
func TestRevocationsFleetSequence(t *testing.T) {
	s := eventstest.RunServer(t)
	cfg := fleetConfig(node.RoleFull, 1, s)
	cfg.AdminToken = "admin-secret"
	full := startNode(t, cfg)
	vcfg := fleetConfig(node.RoleValidator, 1, s)
	vcfg.FeedToken = feedToken
	v := startNode(t, vcfg)
	ctx := t.Context()
	jtis := blacklistN(t, full.Node, "fleet", 20)
	if _, err := full.RevokeUser(ctx, "7", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := full.RevokeClient(ctx, "app", time.Time{}); err != nil {
		t.Fatal(err)
	}
	waitHasAll(t, jtis, full, v)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	fullURL := httptestServer(t, full.Handler())
	vURL := httptestServer(t, v.Handler())

	// listed lists a node while its applied sequence stays put: the
	// listing's sequence is the node's applied sequence, read before and
	// after it.
	listed := func(r *running, url string, ok func(listing) error, hdr ...string) listing {
		t.Helper()
		var got listing
		poll.For(t, waitLong, pollEvery, func() error {
			before, err := r.Store().AppliedSeq()
			if err != nil {
				t.Fatal(err)
			}
			got = getRevocations(t, url, hdr...)
			if got.status != 200 {
				t.Fatalf("GET: %d %s", got.status, got.body)
			}
			after, err := r.Store().AppliedSeq()
			if err != nil {
				t.Fatal(err)
			}
			if before != after || got.head.Seq != after {
				return fmt.Errorf("listed at %d; the node had applied %d before, %d after", got.head.Seq, before, after)
			}
			return ok(got)
		})
		return got
	}
	// The full node, once it has applied its own writes back from the
	// stream: at the stream's last sequence, with every write.
	fl := listed(full, fullURL, func(l listing) error {
		if last := streamLastSeq(t, nc); l.head.Seq != last || len(l.tokens) != len(jtis) || len(l.revs) != 2 {
			return fmt.Errorf("at %d of %d: %d tokens, revocations %q", l.head.Seq, last, len(l.tokens), sortedKeys(l.revs))
		}
		return nil
	}, "Authorization", admin)
	// The validator at whatever it has committed (its store may trail
	// what it holds in force): what it lists is of the full node's set.
	vl := listed(v, vURL, func(l listing) error {
		if l.head.Seq == 0 {
			return errors.New("nothing applied yet")
		}
		return nil
	}, "Authorization", "Bearer "+feedToken)
	for name, l := range map[string]listing{"full": fl, "validator": vl} {
		if l.head.Seq == 0 || l.head.Stream == "" || l.header.Get(api.HeaderSequence) != strconv.FormatUint(l.head.Seq, 10) ||
			l.header.Get(api.HeaderStream) != l.head.Stream {
			t.Errorf("%s: header line %+v, headers %v", name, l.head, l.header)
		}
		for jti := range l.tokens {
			if _, ok := fl.tokens[jti]; !ok && name != "full" {
				t.Errorf("%s lists %s, which the full node does not", name, jti)
			}
		}
		for k := range l.revs {
			if k != "client:app" && k != "user:7" {
				t.Errorf("%s lists revocation %s", name, k)
			}
		}
	}
	if tokens := sortedKeys(fl.tokens); !slices.Equal(tokens, jtis) {
		t.Errorf("the full node lists %d tokens, want %d", len(tokens), len(jtis))
	}
	if vl.head.Seq > fl.head.Seq || vl.head.Stream != fl.head.Stream {
		t.Errorf("full at %d of %q, validator at %d of %q", fl.head.Seq, fl.head.Stream, vl.head.Seq, vl.head.Stream)
	}
	if d, err := full.Store().Digest(); err != nil || fl.trailer.Get(api.TrailerDigest) != d.String() {
		t.Errorf("the full node lists digest %s, its store has %s (%v)", fl.trailer.Get(api.TrailerDigest), d, err)
	}
	// A write moves the sequence and the ETag on.
	more := blacklistN(t, full.Node, "more", 1)
	listed(full, fullURL, func(l listing) error {
		if l.head.Seq <= fl.head.Seq || l.header.Get("ETag") == fl.header.Get("ETag") {
			return fmt.Errorf("after a write: seq %d, ETag %s", l.head.Seq, l.header.Get("ETag"))
		}
		if _, ok := l.tokens[more[0]]; !ok {
			return fmt.Errorf("%s not listed at %d", more[0], l.head.Seq)
		}
		return nil
	}, "Authorization", admin)
}

// A big store is streamed: the answer reaches the client in chunks of a
// bounded size, flushed as they fill, never as one body built in memory.
func TestRevocationsStreamsABigStore(t *testing.T) {
	const entries = 100_000
	n, srv := newNode(t, nil)
	fillBlacklist(t, n.Store(), entries)

	w := &chunkRecorder{header: http.Header{}}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/revocations", nil)
	req.Header.Set("Authorization", admin)
	n.Handler().ServeHTTP(w, req)
	if w.status != 200 || w.lines != entries+1 {
		t.Fatalf("status %d, %d lines; want 200, %d", w.status, w.lines, entries+1)
	}
	if w.header.Get(api.TrailerTokens) != strconv.Itoa(entries) {
		t.Errorf("%s %q", api.TrailerTokens, w.header.Get(api.TrailerTokens))
	}
	// 100,000 lines of about 100 bytes: many chunks, none larger than the
	// encoder's 64 KiB buffer.
	if w.maxWrite > 64<<10 || w.flushes < w.bytes/(64<<10) {
		t.Errorf("%d bytes written in %d flushes, the largest write %d bytes", w.bytes, w.flushes, w.maxWrite)
	}

	// Over the network: every line arrives.
	resp := getRevocations(t, srv.URL, "Authorization", admin)
	if len(resp.tokens) != entries {
		t.Errorf("%d tokens over HTTP, want %d", len(resp.tokens), entries)
	}
}

// A client that goes away stops the walk: after its connection fails (or
// its request is cancelled) the handler writes nothing more and cuts the
// answer off, so that no one takes a part for the whole.
func TestRevocationsStopsWhenTheClientGoes(t *testing.T) {
	n, _ := newNode(t, nil)
	fillBlacklist(t, n.Store(), 50_000)
	for _, how := range []string{"write fails", "request cancelled"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w := &chunkRecorder{header: http.Header{}, after: 2}
			if how == "write fails" {
				w.fail = errors.New("connection reset by peer")
			} else {
				w.cancel = cancel
			}
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/revocations", nil)
			req.Header.Set("Authorization", admin)
			aborted := func() (v any) {
				defer func() { v = recover() }()
				n.Handler().ServeHTTP(w, req)
				return nil
			}()
			if aborted != http.ErrAbortHandler {
				t.Errorf("the handler ended with %v, want http.ErrAbortHandler (the answer cut off)", aborted)
			}
			if w.writes > w.after+1 {
				t.Errorf("%d writes after the client went at write %d", w.writes-w.after, w.after)
			}
			if w.header.Get(api.TrailerTokens) != "" {
				t.Error("an answer cut off has its trailers")
			}
		})
	}
}

// fillBlacklist bulk-imports n blacklisted tokens, expiring in an hour.
func fillBlacklist(t testing.TB, s *persist.Store, n int) {
	t.Helper()
	now := time.Now()
	ops := make([]persist.ImportOp, 0, 5000)
	for i := range n {
		ops = append(ops, persist.ImportOp{Op: persist.Op{Kind: persist.OpBlacklist, Record: persist.Record{
			JTI: fmt.Sprintf("%032x", i), User: strconv.Itoa(i % 1000), Type: "refresh",
			ExpiresAt: now.Add(time.Hour).Unix(), BlacklistedAt: now.UnixNano()}}})
		if len(ops) == cap(ops) || i == n-1 {
			if res, err := s.Import(ops); err != nil || res.Blacklisted != len(ops) {
				t.Fatalf("import: %+v, %v", res, err)
			}
			ops = ops[:0]
		}
	}
}

// chunkRecorder is an http.ResponseWriter and http.Flusher that keeps
// only what a test of streaming needs: the size of each write, the
// flushes, the lines. With after > 0, the write after the after-th fails
// with fail, or cancel is called after the after-th.
type chunkRecorder struct {
	header                 http.Header
	status                 int
	writes, flushes, lines int
	bytes, maxWrite        int
	after                  int
	fail                   error
	cancel                 context.CancelFunc
}

func (w *chunkRecorder) Header() http.Header { return w.header }

func (w *chunkRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *chunkRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.writes++
	if w.after > 0 && w.writes > w.after && w.fail != nil {
		return 0, w.fail
	}
	if w.after > 0 && w.writes == w.after && w.cancel != nil {
		w.cancel()
	}
	w.bytes += len(p)
	w.maxWrite = max(w.maxWrite, len(p))
	w.lines += strings.Count(string(p), "\n")
	return len(p), nil
}

func (w *chunkRecorder) Flush() { w.flushes++ }
