package main

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics holds the service's own Prometheus registry and HTTP instruments.
// A custom registry (not prometheus.DefaultRegisterer) keeps each App, and so
// each test, isolated.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "Total HTTP requests served by the public listener, by status code and method.",
		}, []string{"code", "method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Latency of HTTP requests served by the public listener, by status code and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"code", "method"}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gosvc_build_info",
		Help: "Always 1; labels carry the build version and Go version.",
		ConstLabels: prometheus.Labels{
			"version":   version,
			"goversion": runtime.Version(),
		},
	})
	buildInfo.Set(1)

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests,
		m.duration,
		buildInfo,
	)
	return m
}

// instrument wraps next so every request is counted and timed.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.duration,
		promhttp.InstrumentHandlerCounter(m.requests, next))
}

// handler returns the mux for the metrics listener: /metrics only.
func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.registry,
		promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
			Registry:            m.registry, // exposes promhttp_metric_handler_errors_total
			MaxRequestsInFlight: 4,
		})))
	return mux
}
