package server

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssooidc/ssooidc/internal/audit"
	"github.com/ssooidc/ssooidc/internal/reqinfo"
)

// metrics are the server's Prometheus metrics, on a private registry (no
// global state, so several servers can run in one test process).
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	awsErrors *prometheus.CounterVec
	events    *prometheus.CounterVec
	storeGC   prometheus.Counter
	// series are the resolved series of requests seen (requestLabels →
	// *requestSeries); seriesCount is how many it holds.
	series      sync.Map
	seriesCount atomic.Int32
}

// requestLabels are the label values one request observes.
type requestLabels struct {
	route, method string
	status        int
	awsException  string // "" when the answer is not an AWS error
}

// requestSeries are the series a combination of requestLabels updates,
// resolved once: WithLabelValues hashes and checks every label value on
// each call, a measurable share of the CPU of a pending poll.
type requestSeries struct {
	requests  prometheus.Counter
	latency   prometheus.Observer
	awsErrors prometheus.Counter // nil without an exception
}

// maxRequestSeries bounds the series kept. Routes are the mux's patterns
// and statuses and exceptions are the server's own, but the method of a
// pattern without one (and of an unmatched request) is the client's
// choice; beyond the bound, a combination is resolved on each request.
const maxRequestSeries = 1024

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssooidc_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ssooidc_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		awsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssooidc_aws_errors_total",
			Help: "AWS-dialect error answers by exception name (AuthorizationPendingException counts pending polls).",
		}, []string{"exception"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ssooidc_events_total",
			Help: "Security events: device grants started/approved/denied/expired/redeemed, tokens issued/refreshed, refresh reuse, sign-ins, administration.",
		}, []string{"event"}),
		storeGC: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ssooidc_expired_rows_removed_total",
			Help: "Expired rows removed by the collector.",
		}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ssooidc_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	version, goVersion := "(devel)", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if info.Main.Version != "" {
			version = info.Main.Version
		}
	}
	build.WithLabelValues(version, goVersion).Set(1)
	m.registry.MustRegister(m.requests, m.latency, m.awsErrors, m.events, m.storeGC, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// poolStater is a backend with a connection pool (PostgreSQL).
type poolStater interface {
	PoolStats() (total, idle, acquired, max int32)
}

// watchPool exports the pool of st, when it has one.
func (m *metrics) watchPool(st any) {
	p, ok := st.(poolStater)
	if !ok {
		return
	}
	gauge := func(name, help string, pick func(total, idle, acquired, max int32) int32) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return float64(pick(p.PoolStats()))
		})
	}
	m.registry.MustRegister(
		gauge("ssooidc_db_pool_connections", "Open database connections.", func(t, _, _, _ int32) int32 { return t }),
		gauge("ssooidc_db_pool_idle_connections", "Idle database connections.", func(_, i, _, _ int32) int32 { return i }),
		gauge("ssooidc_db_pool_acquired_connections", "Database connections in use.", func(_, _, a, _ int32) int32 { return a }),
		gauge("ssooidc_db_pool_max_connections", "The most database connections allowed (db_max_conns).", func(_, _, _, mx int32) int32 { return mx }),
	)
}

// handler serves the exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *metrics) observeRequest(route, method string, status int, d time.Duration, awsException string) {
	if route == "" {
		route = "unmatched"
	}
	labels := requestLabels{route: route, method: method, status: status, awsException: awsException}
	var s *requestSeries
	if v, ok := m.series.Load(labels); ok {
		s = v.(*requestSeries)
	} else {
		s = m.resolve(labels)
	}
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
	if s.awsErrors != nil {
		s.awsErrors.Inc()
	}
}

// resolve looks up the series of l and keeps them while there is room.
func (m *metrics) resolve(l requestLabels) *requestSeries {
	s := &requestSeries{
		requests: m.requests.WithLabelValues(l.route, l.method, strconv.Itoa(l.status)),
		latency:  m.latency.WithLabelValues(l.route),
	}
	if l.awsException != "" {
		s.awsErrors = m.awsErrors.WithLabelValues(l.awsException)
	}
	if m.seriesCount.Load() < maxRequestSeries {
		if _, loaded := m.series.LoadOrStore(l, s); !loaded {
			m.seriesCount.Add(1)
		}
	}
	return s
}

// recorder is the audit.Recorder of a server: every security event is
// counted and written to the log stream as one structured record.
type recorder struct {
	log     *slog.Logger
	metrics *metrics
	sink    *auditSink // the store's copy (security.go); nil: log and metrics only
}

func (r recorder) Record(ctx context.Context, e audit.Event) {
	r.metrics.events.WithLabelValues(string(e.Type)).Inc()
	r.sink.add(ctx, e)
	if !r.log.Enabled(ctx, slog.LevelInfo) {
		return // the record's attributes cost an allocation per event
	}
	attrs := []slog.Attr{slog.String("event", string(e.Type))}
	if info := reqinfo.From(ctx); info.ID != "" {
		attrs = append(attrs, slog.String("request_id", info.ID), slog.String("client_ip", info.ClientIP))
	}
	if e.UserID != "" {
		attrs = append(attrs, slog.String("user_id", e.UserID))
	}
	if e.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", e.ClientID))
	}
	if e.Detail != "" {
		attrs = append(attrs, slog.String("detail", e.Detail))
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}
