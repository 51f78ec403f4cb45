package httpmetrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/blnode/blnode/node/nodehttp"
)

// Config configures the /metrics endpoint. A zero field means the default
// written beside it.
type Config struct {
	Gatherer  prometheus.Gatherer // what /metrics serves: the node's registry; required
	AdminOnly bool                // ask for the admin token (Guard); default open
	Guard     *nodehttp.Guard     // checks the admin token; required with AdminOnly
	Logger    *slog.Logger        // gathering failures; default slog.Default()
}

// Handler returns GET /metrics: the Prometheus text of cfg.Gatherer. A
// collector that fails is logged and left out; the rest is served.
func Handler(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	h := promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      promErrorLog{log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return nodehttp.Methods(map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
		if cfg.AdminOnly && !cfg.Guard.RequireRead(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}})
}

// promErrorLog sends promhttp's errors to the node's log.
type promErrorLog struct{ log *slog.Logger }

func (l promErrorLog) Println(v ...any) {
	l.log.Warn("metrics: gathering failed", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
