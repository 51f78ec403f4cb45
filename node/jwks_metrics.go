package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blnode/blnode/node/token"
)

// The JWKS metrics, one series per --jwks-url.
var (
	jwksKeysDesc = prometheus.NewDesc("blnode_jwks_keys",
		"Keys in use from a JWK Set (0 until its first fetch).", []string{"url"}, nil)
	jwksFetchedDesc = prometheus.NewDesc("blnode_jwks_last_success_timestamp_seconds",
		"When a JWK Set was last fetched and put in use (Unix seconds; 0: never).", []string{"url"}, nil)
	jwksFetchesDesc = prometheus.NewDesc("blnode_jwks_fetches_total",
		"JWK Set fetches, by result: ok (the set is in use) or error (the last good set stays).", []string{"url", "result"}, nil)
)

// jwksCollector reads the verifier's JWKS status at each scrape.
type jwksCollector struct{ v *token.Verifier }

func (jwksCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jwksKeysDesc
	ch <- jwksFetchedDesc
	ch <- jwksFetchesDesc
}

func (c jwksCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.v.JWKS() {
		var fetched float64
		if !st.Fetched.IsZero() {
			fetched = float64(st.Fetched.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(jwksKeysDesc, prometheus.GaugeValue, float64(st.Keys), st.URL)
		ch <- prometheus.MustNewConstMetric(jwksFetchedDesc, prometheus.GaugeValue, fetched, st.URL)
		ch <- prometheus.MustNewConstMetric(jwksFetchesDesc, prometheus.CounterValue, float64(st.OK), st.URL, "ok")
		ch <- prometheus.MustNewConstMetric(jwksFetchesDesc, prometheus.CounterValue, float64(st.Failed), st.URL, "error")
	}
}
