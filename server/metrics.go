package server

import (
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// statusCodes are the statuses the API returns; each gets a counter per route up front so
// that counting a request never allocates.
var statusCodes = []int{200, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503}

type routeMetrics struct {
	set       *metrics.Set
	forwarded *metrics.Counter
	// forwardRetries counts forwards sent again to a (new) leader: after a refusal, or with an
	// unknown outcome on a resend route (forward.go); forwardResends the latter alone.
	forwardRetries, forwardResends *metrics.Counter
	requests                       [][]*metrics.Counter // parallel to statusCodes; last is "other"
	seconds                        []*metrics.PrometheusHistogram
}

func newRouteMetrics(set *metrics.Set) *routeMetrics {
	m := &routeMetrics{set: set, forwarded: set.GetOrCreateCounter("paimon_http_forwarded_total"),
		forwardRetries: set.GetOrCreateCounter("paimon_http_forward_retries_total"),
		forwardResends: set.GetOrCreateCounter("paimon_http_forward_resends_total")}
	m.requests = make([][]*metrics.Counter, len(routes))
	m.seconds = make([]*metrics.PrometheusHistogram, len(routes))
	for id := range routes {
		name := routes[id].name
		m.requests[id] = make([]*metrics.Counter, len(statusCodes)+1)
		for i, code := range statusCodes {
			m.requests[id][i] = set.GetOrCreateCounter(fmt.Sprintf(`paimon_http_requests_total{route=%q,code="%d"}`, name, code))
		}
		m.requests[id][len(statusCodes)] = set.GetOrCreateCounter(fmt.Sprintf(`paimon_http_requests_total{route=%q,code="other"}`, name))
		m.seconds[id] = set.GetOrCreatePrometheusHistogramExt(fmt.Sprintf(`paimon_http_request_seconds{route=%q}`, name),
			[]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
	}
	return m
}

func (m *routeMetrics) observe(id routeID, status int, start time.Time) {
	cs := m.requests[id]
	i := len(statusCodes)
	for j, c := range statusCodes {
		if c == status {
			i = j
			break
		}
	}
	cs[i].Inc()
	m.seconds[id].UpdateDuration(start)
}

func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.SetContentType("text/plain; version=0.0.4")
	if err := s.risk.update(s.store); err != nil {
		s.logger.Warn("risk metrics", "error", err) // the other metrics are still worth serving
	}
	s.deps.Metrics.WritePrometheus(ctx)
	metrics.WriteProcessMetrics(ctx)
	return nil
}
