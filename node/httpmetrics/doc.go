// Package httpmetrics is a node's metrics surface: GET /metrics, which
// serves the node's Prometheus registry (Handler), and the metrics of the
// HTTP requests themselves (Requests): blnode_http_requests_total by route
// pattern and status code, and blnode_http_request_duration_seconds by
// route pattern. The node's own counters and its scrape-time collector
// stay in package node, which registers Requests in its registry and wraps
// its handler with Requests.Instrument.
//
// # Caveats
//
//   - The route label is the pattern the mux matched, never the raw path:
//     "redirect" for the mux's own trailing-slash and path-cleaning
//     redirects, "other" when nothing matched or past 128 patterns, so a
//     scanner cannot grow the label set.
//   - /metrics is open, as most exporters are, unless Config.AdminOnly asks
//     for the admin token.
//   - A handler that panics before it answers is counted as a 500: the
//     node's recoverer, outside Instrument, answers it so.
package httpmetrics
