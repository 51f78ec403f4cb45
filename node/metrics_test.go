package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/blnode/blnode/events/eventstest"
	"github.com/blnode/blnode/internal/poll"
	"github.com/blnode/blnode/internal/sjwt"
	"github.com/blnode/blnode/node"
)

// gather reads n's registry (what /metrics serves) by metric name.
func gather(t testing.TB, n *node.Node) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	return byName
}

// scrape GETs /metrics and parses the text format.
func scrape(t testing.TB, base string, hdr ...string) map[string]*dto.MetricFamily {
	t.Helper()
	got := do(t, http.MethodGet, base+"/metrics", "", "", hdr...)
	if got.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", got.status, got.body)
	}
	if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(got.body + "\n"))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels include
// the given name/value pairs; ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestMetricsCountTrafficChecksAndFlushes(t *testing.T) {
	n, srv := newNode(t, nil)
	tok, jti := refresh(t)
	other, _ := refresh(t)
	// A token of user 7 issued an hour ago, then user 7 logged out everywhere.
	revoked, _ := sjwt.Token{Type: "access", User: 7, Now: time.Now().Add(-time.Hour), TTL: 2 * time.Hour}.Mint(secret)
	if _, err := n.RevokeUser(t.Context(), "7", time.Now()); err != nil {
		t.Fatal(err)
	}

	verify := func(tok string) int {
		return postJSON(t, srv.URL+"/api/token/verify/", `{"token":`+jsonString(tok)+`}`).status
	}
	for _, c := range []struct {
		name string
		do   func() int
		want int
	}{
		{"valid", func() int { return verify(tok) }, 200},
		{"blacklist", func() int {
			return postJSON(t, srv.URL+"/api/token/blacklist/", `{"refresh":`+jsonString(tok)+`}`).status
		}, 200},
		{"blacklisted", func() int { return verify(tok) }, 400},
		{"blacklisted again", func() int { return verify(tok) }, 400},
		{"revoked", func() int { return verify(revoked) }, 400},
		{"invalid", func() int { return verify("not.a.token") }, 401},
		{"check valid", func() int {
			return postJSON(t, srv.URL+"/v1/check", `{"token":`+jsonString(other)+`}`).status
		}, 200},
		{"by jti", func() int { return do(t, http.MethodGet, srv.URL+"/v1/blacklist/"+jti, "", "").status }, 200},
		{"no such route", func() int { return do(t, http.MethodGet, srv.URL+"/no/such/"+jti, "", "").status }, 404},
		{"redirect", func() int { return postJSON(t, srv.URL+"/api/token/verify", `{}`).status }, 301},
		{"flush", func() int { return postJSON(t, srv.URL+"/v1/flush", `{}`, "Authorization", admin).status }, 200},
	} {
		if got := c.do(); got != c.want {
			t.Fatalf("%s: status %d, want %d", c.name, got, c.want)
		}
	}

	fams := scrape(t, srv.URL)
	for _, name := range []string{
		"blnode_http_requests_total", "blnode_http_request_duration_seconds", "blnode_checks_total",
		"blnode_cache_hits_total", "blnode_cache_misses_total", "blnode_store_size_bytes", "blnode_store_entries",
		"blnode_outbox_depth", "blnode_events_published_total", "blnode_events_applied_total",
		"blnode_events_skipped_total", "blnode_events_apply_batch_size", "blnode_stream_lag", "blnode_nats_connected",
		"blnode_flush_runs_total", "blnode_flush_removed_total", "blnode_flush_duration_seconds", "blnode_info",
		"blnode_ready", "go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total",
		"process_resident_memory_bytes",
	} {
		if fams[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"blnode_checks_total", []string{"result", "valid"}, 2},       // verify and /v1/check of a good token
		{"blnode_checks_total", []string{"result", "blacklisted"}, 2}, // verify twice after the blacklist
		{"blnode_checks_total", []string{"result", "revoked"}, 1},
		{"blnode_checks_total", []string{"result", "invalid"}, 1},
		{"blnode_checks_total", []string{"result", "unavailable"}, 0},
		{"blnode_http_requests_total", []string{"route", "/api/token/verify/{$}", "code", "200"}, 1},
		{"blnode_http_requests_total", []string{"route", "/api/token/verify/{$}", "code", "400"}, 3},
		{"blnode_http_requests_total", []string{"route", "/api/token/verify/{$}", "code", "401"}, 1},
		{"blnode_http_requests_total", []string{"route", "/v1/blacklist/{jti}", "code", "200"}, 1},
		{"blnode_http_requests_total", []string{"route", "/", "code", "404"}, 1},
		{"blnode_http_request_duration_seconds", []string{"route", "/api/token/verify/{$}"}, 5},
		{"blnode_store_entries", []string{"kind", "blacklisted"}, 1},
		{"blnode_store_entries", []string{"kind", "outstanding"}, 1},
		{"blnode_store_entries", []string{"kind", "user_revocations"}, 1},
		{"blnode_outbox_depth", nil, 0},
		{"blnode_flush_runs_total", []string{"result", "ok"}, 1},
		{"blnode_flush_removed_total", []string{"kind", "blacklisted"}, 0},
		{"blnode_flush_duration_seconds", nil, 1},
		{"blnode_nats_connected", nil, 0},
		{"blnode_ready", nil, 1},
		{"blnode_info", []string{"nats", "disabled", "role", "full", "node_id", n.ID()}, 1},
	} {
		got, ok := value(fams, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// The path never becomes a label: only registered patterns, bounded.
	for _, m := range fams["blnode_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if strings.Contains(l.GetValue(), jti) {
				t.Errorf("label %s=%q holds a raw path", l.GetName(), l.GetValue())
			}
		}
	}
	if v, _ := value(fams, "blnode_http_requests_total", "route", "redirect", "code", "301"); v != 1 {
		t.Errorf("the trailing-slash redirect counted %v times under route=redirect, want 1", v)
	}
	if hits, _ := value(fams, "blnode_cache_hits_total", "cache", "tokens"); hits < 1 {
		t.Errorf("token cache hits = %v: the repeated verify of a blacklisted token should hit", hits)
	}
	if misses, _ := value(fams, "blnode_cache_misses_total", "cache", "tokens"); misses < 1 {
		t.Errorf("token cache misses = %v, want at least the first look-up", misses)
	}
	if size, _ := value(fams, "blnode_store_size_bytes"); size <= 0 {
		t.Errorf("store size = %v", size)
	}
}

func TestMetricsAdminOnly(t *testing.T) {
	for _, c := range []struct {
		name      string
		adminOnly bool
		hdr       []string
		want      int
	}{
		{"open by default", false, nil, 200},
		{"admin only without token", true, nil, 401},
		{"admin only with a wrong token", true, []string{"Authorization", "Bearer nope"}, 401},
		{"admin only with the token", true, []string{"Authorization", admin}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, srv := newNode(t, func(cfg *node.Config) { cfg.MetricsAdminOnly = c.adminOnly })
			got := do(t, http.MethodGet, srv.URL+"/metrics", "", "", c.hdr...)
			if got.status != c.want {
				t.Fatalf("GET /metrics: %d, want %d: %s", got.status, c.want, got.body)
			}
			if c.want == 200 && !strings.Contains(got.body, "blnode_checks_total") {
				t.Errorf("body lacks blnode_checks_total:\n%.500s", got.body)
			}
		})
	}
	_, srv := newNode(t, nil)
	if got := do(t, http.MethodPost, srv.URL+"/metrics", "", ""); got.status != 405 {
		t.Errorf("POST /metrics: %d, want 405", got.status)
	}
}

func TestMetricsFollowTheEventStream(t *testing.T) {
	s := eventstest.RunServer(t)
	writer := startNode(t, fleetConfig(node.RoleFull, 1, s))
	reader := startNode(t, fleetConfig(node.RoleValidator, 1, s))
	srv := httptestServer(t, reader.Handler())
	wsrv := httptestServer(t, writer.Handler())
	jtis := blacklistN(t, writer.Node, "m", 5)
	waitHasAll(t, jtis, writer, reader)

	// The writer publishes all five; both apply them (the writer its own).
	poll.For(t, waitLong, pollEvery, func() error {
		w := scrape(t, wsrv)
		if v, _ := value(w, "blnode_events_published_total"); v != 5 {
			return fmt.Errorf("writer published %v, want 5", v)
		}
		if v, _ := value(w, "blnode_outbox_depth"); v != 0 {
			return fmt.Errorf("writer outbox depth %v, want 0", v)
		}
		r := scrape(t, srv)
		if v, _ := value(r, "blnode_events_applied_total"); v != 5 {
			return fmt.Errorf("reader applied %v, want 5", v)
		}
		if v, _ := value(r, "blnode_stream_lag"); v != 0 {
			return fmt.Errorf("reader lag %v, want 0", v)
		}
		// The store's counts in a scrape may be up to a second old.
		if v, _ := value(r, "blnode_store_entries", "kind", "blacklisted"); v != 5 {
			return fmt.Errorf("reader blacklisted entries %v, want 5", v)
		}
		return nil
	})
	r := scrape(t, srv)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"blnode_nats_connected", nil, 1},
		{"blnode_ready", nil, 1},
		{"blnode_stream_last_applied_sequence", nil, 5},
		{"blnode_events_skipped_total", nil, 0},
		{"blnode_events_published_total", nil, 0}, // a validator publishes nothing
		{"blnode_info", []string{"role", "validator", "nats", "external"}, 1},
	} {
		if got, ok := value(r, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("reader %s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Batches of one or more events: their count is at least one and at
	// most the number of events; their sizes add up to the events applied.
	h := r["blnode_events_apply_batch_size"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() < 1 || h.GetSampleCount() > 5 || h.GetSampleSum() != 5 {
		t.Errorf("apply batch size: %d batches summing %v, want 1..5 batches summing 5", h.GetSampleCount(), h.GetSampleSum())
	}
}

// TestGrafanaDashboardUsesExposedMetrics checks that every query of the
// dashboard in deploy/ names only metrics a node exposes.
func TestGrafanaDashboardUsesExposedMetrics(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/blnode-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			GridPos *struct {
				H, W, X, Y int
			} `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) < 8 {
		t.Fatalf("dashboard: title %q, uid %q, %d panels; want a titled dashboard with its panels", dash.Title, dash.UID, len(dash.Panels))
	}

	// Scrape a node that has served a request, so that every family,
	// histograms by route included, is present.
	_, srv := newNode(t, nil)
	do(t, http.MethodGet, srv.URL+"/healthz", "", "")
	exposed := map[string]bool{}
	for name, f := range scrape(t, srv.URL) {
		exposed[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exposed[name+s] = true
			}
		}
	}

	var exprs []string
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.GridPos == nil || len(p.Targets) == 0 {
			t.Errorf("panel %q: want a title, a gridPos and at least one target", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q has an empty expr", p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		switch q := v.Query.(type) {
		case string:
			if v.Type == "query" {
				exprs = append(exprs, q)
			}
		case map[string]any:
			if s, ok := q["query"].(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names, err := promqlMetricNames(e)
		if err != nil {
			t.Errorf("expr %q: %v", e, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("expr %q names no metric", e)
		}
		for _, n := range names {
			used[n] = true
			if !exposed[n] {
				t.Errorf("expr %q uses %s, which /metrics does not expose", e, n)
			}
		}
	}
	// And the dashboard shows what the issue lists.
	for _, want := range []string{
		"blnode_http_requests_total", "blnode_http_request_duration_seconds_bucket", "blnode_checks_total",
		"blnode_cache_hits_total", "blnode_cache_misses_total", "blnode_store_size_bytes", "blnode_store_entries",
		"blnode_events_published_total", "blnode_events_applied_total", "blnode_events_skipped_total",
		"blnode_events_apply_batch_size_bucket", "blnode_stream_lag", "blnode_outbox_depth", "blnode_nats_connected",
		"blnode_flush_runs_total", "blnode_flush_removed_total",
	} {
		if !used[want] {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promFunc     = regexp.MustCompile(`^\s*\(`)
)

// promKeywords are PromQL words that are not metric names.
var promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan", "Inf", "NaN"}

// promqlMetricNames returns the metric names a PromQL expression (or a
// Grafana label_values query) selects: identifiers left once strings,
// label matchers, ranges, groupings, function names, keywords and numbers
// are removed. It is strict on purpose: an identifier it cannot place is
// returned as a metric name, and then must be one the node exposes.
func promqlMetricNames(expr string) ([]string, error) {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	if strings.ContainsAny(s, "{}[]") {
		return nil, fmt.Errorf("unbalanced braces or brackets")
	}
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] == '$' || (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9') || s[loc[0]-1] == '.') {
			continue // a Grafana variable, or the exponent or unit of a number
		}
		if promFunc.MatchString(s[loc[1]:]) || slices.Contains(promKeywords, id) {
			continue
		}
		if !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	// label_values(metric, label): the label is not a metric.
	if strings.HasPrefix(strings.TrimSpace(expr), "label_values(") && len(names) == 2 {
		names = names[:1]
	}
	return names, nil
}
