package httpmetrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxRouteLabels bounds the route label's values; a node registers far
// fewer patterns, so reaching it means something unexpected: the rest are
// counted as "other".
const maxRouteLabels = 128

// Requests counts the HTTP requests a handler answers, by route pattern
// and status code, and times them by route pattern. It is a
// prometheus.Collector: register it once in the registry that /metrics
// serves.
type Requests struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	routes  sync.Map     // route label values in use: pattern → struct{}
	mu      sync.Mutex   // serialises adding to routes
	nRoutes atomic.Int64 // len(routes)
}

// NewRequests returns the request metrics, not yet registered.
func NewRequests() *Requests {
	return &Requests{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blnode_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "blnode_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"route"}),
	}
}

// Describe is prometheus.Collector's.
func (m *Requests) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.latency.Describe(ch)
}

// Collect is prometheus.Collector's.
func (m *Requests) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.latency.Collect(ch)
}

// route returns the route label of a request the mux has routed: its
// pattern, "redirect" for the mux's own trailing-slash and path-cleaning
// redirects (whose pattern is the request's path), and "other" past
// maxRouteLabels or when nothing matched.
func (m *Requests) route(r *http.Request, code int) string {
	p := r.Pattern
	switch {
	case code == http.StatusMovedPermanently:
		return "redirect"
	case p == "":
		return "other"
	}
	if _, ok := m.routes.Load(p); ok {
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.routes.Load(p); ok {
		return p
	}
	if m.nRoutes.Load() >= maxRouteLabels {
		return "other"
	}
	m.routes.Store(p, struct{}{})
	m.nRoutes.Add(1)
	return p
}

// codeLabel is strconv.Itoa(code), without an allocation for the usual
// codes.
func codeLabel(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusBadRequest:
		return "400"
	case http.StatusUnauthorized:
		return "401"
	case http.StatusForbidden:
		return "403"
	case http.StatusNotFound:
		return "404"
	}
	return strconv.Itoa(code)
}

// Instrument wraps h with request metrics: a count by route and status,
// and a latency histogram by route. h should be a mux (or route to one),
// so the request carries the pattern it matched.
func (m *Requests) Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		finished := false
		defer func() {
			code := sw.code
			if !finished && code == 0 {
				code = http.StatusInternalServerError // a panic: the recoverer answers 500
			}
			if code == 0 {
				code = http.StatusOK
			}
			route := m.route(r, code)
			m.requests.WithLabelValues(route, codeLabel(code)).Inc()
			m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(sw, r)
		finished = true
	})
}
