package node

import (
	"errors"
	"github.com/blnode/blnode/events"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/blnode/blnode/node/httpmetrics"
	"github.com/blnode/blnode/persist"
)

// Metrics. Every node has its own registry (no global default registry):
// the counters below are updated as the node works, and everything the
// node already counts elsewhere (cache hits, store entries, stream position,
// publisher and subscriber counters) is read at scrape time by
// nodeCollector, so the hot paths pay nothing for it.
//
// The HTTP request metrics and the /metrics endpoint are in node/httpmetrics.
//
// Names: blnode_ prefix, counters end in _total, durations are seconds
// histograms. Label values are bounded: routes are the patterns the node
// registered (never the raw path), check results and flush kinds are fixed.

// Check results, the values of blnode_checks_total's result label.
const (
	checkValid       = "valid"
	checkBlacklisted = "blacklisted"
	checkRevoked     = "revoked"
	checkInvalid     = "invalid"
	checkUnavailable = "unavailable"
)

// metrics is a node's registry and the collectors it updates itself.
type metrics struct {
	reg *prometheus.Registry

	requests      *httpmetrics.Requests // by route and code, and their latency
	checks        *prometheus.CounterVec
	flushRuns     *prometheus.CounterVec
	flushRemoved  *prometheus.CounterVec
	flushDuration prometheus.Histogram
	applyBatch    prometheus.Histogram
	applyInvalid  prometheus.Counter
	applyOwn      prometheus.Counter
	eventsBounded *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
}

// newMetrics builds n's registry: the node's own metrics, the Go runtime
// and the process.
func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		requests: httpmetrics.NewRequests(),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blnode_checks_total",
			Help: "Token checks (verify, /v1/check, /auth, introspection, the middleware) by result: valid, blacklisted, revoked (user or family revocation), invalid (signature, expiry, claims), unavailable (store unreadable).",
		}, []string{"result"}),
		flushRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blnode_flush_runs_total",
			Help: "Flushes of expired entries run on this node (scheduled, requested, or applied from a flush event), by result: ok or error.",
		}, []string{"result"}),
		flushRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blnode_flush_removed_total",
			Help: "Entries removed by flushes, by kind: outstanding, blacklisted, user_revocations.",
		}, []string{"kind"}),
		flushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "blnode_flush_duration_seconds",
			Help:    "Time a flush took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		applyBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "blnode_events_apply_batch_size",
			Help:    "Events applied per batch (one store transaction each).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		applyInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blnode_events_invalid_total",
			Help: "Events that decoded but that the store refused as invalid, and skipped.",
		}),
		applyOwn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blnode_events_own_total",
			Help: "Token events this node wrote that came back from the stream and were not written to the store again (it holds them since their write).",
		}),
		eventsBounded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blnode_events_bounded_total",
			Help: "Stream events this node applied only in part because they asked for more than its own clock allows, by what was bounded: flush_cutoff (a flush cutoff after this node's own, lowered to it) or not_before (a revocation's not-before further in the future than Config.MaxEventSkew, lowered to the time the stream stored the event).",
		}, []string{"bound"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blnode_auth_failures_total",
			Help: "Failed admin and OAuth client authentications, by result: wrong (a wrong credential, counted against its client IP), refused (not checked: the client IP has no failure left; answered 429).",
		}, []string{"result"}),
	}
	for _, b := range []string{boundFlushCutoff, boundNotBefore} {
		m.eventsBounded.WithLabelValues(b)
	}
	for _, r := range []string{"wrong", "refused"} {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{checkValid, checkBlacklisted, checkRevoked, checkInvalid, checkUnavailable} {
		m.checks.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.flushRuns.WithLabelValues(r)
	}
	for _, k := range []string{"outstanding", "blacklisted", "user_revocations"} {
		m.flushRemoved.WithLabelValues(k)
	}
	m.reg.MustRegister(m.requests, m.checks, m.flushRuns, m.flushRemoved, m.flushDuration,
		m.applyBatch, m.applyInvalid, m.applyOwn, m.eventsBounded, m.authFailures, newNodeCollector(n), jwksCollector{n.verifier},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the node's Prometheus registry: what /metrics serves. A
// program that embeds a node and serves its own /metrics can gather it, or
// register its own collectors in it.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.reg }

// check counts the outcome of a token check.
func (m *metrics) check(err error) {
	r := checkValid
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		r = checkUnavailable
	case errors.Is(err, ErrBlacklisted):
		r = checkBlacklisted
	case errors.Is(err, ErrUserRevoked):
		r = checkRevoked
	default:
		r = checkInvalid
	}
	m.checks.WithLabelValues(r).Inc()
}

// flushed counts one flush and what it removed.
func (m *metrics) flushed(res persist.FlushResult, took time.Duration, err error) {
	if err != nil {
		m.flushRuns.WithLabelValues("error").Inc()
	} else {
		m.flushRuns.WithLabelValues("ok").Inc()
	}
	m.flushRemoved.WithLabelValues("outstanding").Add(float64(res.Outstanding))
	m.flushRemoved.WithLabelValues("blacklisted").Add(float64(res.Blacklisted))
	m.flushRemoved.WithLabelValues("user_revocations").Add(float64(res.UserRevocations))
	m.flushDuration.Observe(took.Seconds())
}

// applied counts one applied batch of events and those the store refused.
func (m *metrics) applied(events, invalid, own int) {
	m.applyBatch.Observe(float64(events))
	m.applyInvalid.Add(float64(invalid))
	m.applyOwn.Add(float64(own))
}

// The values of blnode_events_bounded_total's bound label.
const (
	boundFlushCutoff = "flush_cutoff"
	boundNotBefore   = "not_before"
)

// bounded counts an event whose effect the node bounded.
func (m *metrics) bounded(bound string) { m.eventsBounded.WithLabelValues(bound).Inc() }

// storeCountsMaxAge is how old the store's entry counts in a scrape may
// be: a scrape reuses the last reading for that long, so that frequent
// scrapes of a busy node do not each read the store's counts (a read that
// grows with the unmerged journal, persist.Store.Counts). A reading that
// took long is reused for storeCountsCost times as long: a node taking
// writes had its unmerged journal (up to 256k ops) read every second,
// ~60 ms of CPU at 30k ops, and the writes slowed by as much; now such
// reads take at most 1/storeCountsCost of a core. The outbox depth is read
// at every scrape (persist.Store.OutboxDepth does not read the journal).
const (
	storeCountsMaxAge = time.Second
	storeCountsCost   = 50
)

// nodeCollector reads, at scrape time, what the node counts elsewhere.
type nodeCollector struct {
	n *Node

	countsMu sync.Mutex
	countsAt time.Time     // when counts was read; zero: never
	countsIn time.Duration // how long that read took
	counts   persist.Counts

	info, cacheHits, cacheMisses, storeBytes, storeEntries, outbox,
	published, publishFailures, applied, skipped, applyErrors,
	lag, lastApplied, streamLast, ready, natsConnected, live, liveGaps, liveConfirms *prometheus.Desc
	feedReaders, feedFollowers, feedRingEvents, feedCatchUps *prometheus.Desc
}

func newNodeCollector(n *Node) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &nodeCollector{
		n:               n,
		info:            d("blnode_info", "Always 1: the node's identity in its labels (nats: disabled, embedded or external).", "node_id", "role", "region", "nats"),
		cacheHits:       d("blnode_cache_hits_total", "Checks answered from the cache, by cache: tokens (jti → blacklisted) or users (user and family not-before).", "cache"),
		cacheMisses:     d("blnode_cache_misses_total", "Checks that read the store, by cache.", "cache"),
		storeBytes:      d("blnode_store_size_bytes", "Size of the bbolt file (it never shrinks: see blnode compact)."),
		storeEntries:    d("blnode_store_entries", "Entries in the store, by kind: outstanding, blacklisted, user_revocations.", "kind"),
		outbox:          d("blnode_outbox_depth", "Events written to the outbox and not yet acknowledged by the stream."),
		published:       d("blnode_events_published_total", "Events the stream acknowledged from this node's outbox (duplicates included)."),
		publishFailures: d("blnode_events_publish_failures_total", "Failed publish attempts (retried)."),
		applied:         d("blnode_events_applied_total", "Stream events applied to this node's store."),
		skipped:         d("blnode_events_skipped_total", "Stream messages skipped because they did not decode."),
		applyErrors:     d("blnode_events_apply_errors_total", "Failed attempts to apply a batch of events (retried)."),
		lag:             d("blnode_stream_lag", "Events in the stream not yet applied here."),
		lastApplied:     d("blnode_stream_last_applied_sequence", "Stream sequence of the last event applied here."),
		streamLast:      d("blnode_stream_last_sequence", "Last sequence in the stream, as last seen."),
		ready:           d("blnode_ready", "1 once the node has caught up with the stream as it stood at start (what /readyz answers), else 0."),
		natsConnected:   d("blnode_nats_connected", "1 while the NATS connection is up, 0 when it is down or NATS is disabled."),
		live:            d("blnode_events_live", "1 while the node follows the stream's live (republished) subject, 0 while it consumes with a JetStream consumer."),
		liveGaps:        d("blnode_events_live_gaps_total", "Live sessions ended by a gap, a dropped message or a reconnect, each followed by a replay from the stream."),
		liveConfirms:    d("blnode_events_live_confirms_total", "Checks of the live subject against the stream (one direct get each)."),
		feedReaders:     d("blnode_feed_readers", "Clients reading GET /v1/feed now."),
		feedFollowers:   d("blnode_feed_followers", "Consumers the feed follows the stream with (one per set of kinds read)."),
		feedRingEvents:  d("blnode_feed_ring_events", "Recent events the feed holds in memory for its readers."),
		feedCatchUps:    d("blnode_feed_catch_ups_total", "Batches feed readers read from the stream itself (behind what the feed holds in memory)."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.cacheHits, c.cacheMisses, c.storeBytes, c.storeEntries, c.outbox,
		c.published, c.publishFailures, c.applied, c.skipped, c.applyErrors, c.lag, c.lastApplied, c.streamLast,
		c.ready, c.natsConnected, c.live, c.liveGaps, c.liveConfirms, c.feedReaders, c.feedFollowers, c.feedRingEvents, c.feedCatchUps} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	mode := "disabled"
	switch {
	case n.fleet != nil && n.fleet.emb != nil:
		mode = "embedded"
	case n.fleet != nil:
		mode = "external"
	}
	gauge(c.info, 1, n.nodeID, string(n.cfg.Role), n.cfg.Region, mode)

	for name, cs := range map[string]func() (uint64, uint64){
		"tokens": func() (uint64, uint64) { s := n.revoked.Stats(); return s.Hits, s.Misses },
		"users":  func() (uint64, uint64) { s := n.users.Stats(); return s.Hits, s.Misses },
	} {
		h, m := cs()
		counter(c.cacheHits, h, name)
		counter(c.cacheMisses, m, name)
	}

	if counts, err := c.storeCounts(); err == nil {
		gauge(c.storeBytes, float64(n.store.Size()))
		gauge(c.storeEntries, float64(counts.Outstanding), "outstanding")
		gauge(c.storeEntries, float64(counts.Blacklisted), "blacklisted")
		gauge(c.storeEntries, float64(counts.UserRevocations), "user_revocations")
	} else {
		ch <- prometheus.NewInvalidMetric(c.storeEntries, err)
	}
	if depth, err := n.store.OutboxDepth(); err == nil {
		gauge(c.outbox, float64(depth))
	} else {
		ch <- prometheus.NewInvalidMetric(c.outbox, err)
	}

	var sub struct {
		applied, skipped, applyErrors, lag, lastApplied, streamLast, gaps, confirms uint64
		connected, live                                                             bool
	}
	var published, failures uint64
	if f := n.fleet; f != nil {
		st := f.sub.Status()
		sub.applied, sub.skipped, sub.applyErrors = st.Applied, st.Skipped, st.ApplyErrors
		sub.lag, sub.lastApplied, sub.streamLast = st.Lag, st.LastApplied, st.StreamLast
		sub.connected = f.nc.IsConnected()
		sub.live, sub.gaps, sub.confirms = st.Live, st.Gaps, st.Confirms
		if f.pub != nil {
			ps := f.pub.Stats()
			published, failures = ps.Published, ps.Failures
		}
	}
	counter(c.published, published)
	counter(c.publishFailures, failures)
	counter(c.applied, sub.applied)
	counter(c.skipped, sub.skipped)
	counter(c.applyErrors, sub.applyErrors)
	gauge(c.lag, float64(sub.lag))
	gauge(c.lastApplied, float64(sub.lastApplied))
	gauge(c.streamLast, float64(sub.streamLast))
	gauge(c.ready, boolGauge(n.Ready() && n.verifier.Ready() == nil))
	gauge(c.natsConnected, boolGauge(sub.connected))
	gauge(c.live, boolGauge(sub.live))
	counter(c.liveGaps, sub.gaps)
	counter(c.liveConfirms, sub.confirms)
	var feed events.FeedStatus
	if n.fleet != nil {
		feed = n.fleet.feed.Status()
	}
	gauge(c.feedReaders, float64(feed.Readers))
	gauge(c.feedFollowers, float64(feed.Followers))
	gauge(c.feedRingEvents, float64(feed.Events))
	counter(c.feedCatchUps, feed.CatchUps)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// storeCounts returns the store's counts, read at most storeCountsMaxAge
// ago, or storeCountsCost times as long as the last read took if longer.
func (c *nodeCollector) storeCounts() (persist.Counts, error) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	if !c.countsAt.IsZero() && time.Since(c.countsAt) < max(storeCountsMaxAge, storeCountsCost*c.countsIn) {
		return c.counts, nil
	}
	start := time.Now()
	counts, err := c.n.store.Counts()
	if err != nil {
		return counts, err
	}
	c.counts, c.countsAt, c.countsIn = counts, time.Now(), time.Since(start)
	return counts, nil
}
