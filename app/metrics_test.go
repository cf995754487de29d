package main

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestMetricsEndpoint(t *testing.T) {
	a := newApp(testConfig(), discardLogger())
	a.setReady(true)

	do(t, a.public, http.MethodGet, "/healthz")
	do(t, a.public, http.MethodGet, "/readyz")
	do(t, a.public, http.MethodGet, "/api/v1/greet?name=m")
	do(t, a.public, http.MethodGet, "/api/v1/greet?name="+strings.Repeat("x", 65))
	do(t, a.public, http.MethodPost, "/api/v1/greet")
	do(t, a.public, "BREW", "/api/v1/greet")
	do(t, a.public, http.MethodGet, "/debug/pprof/")

	rec := do(t, a.metricsHandler, http.MethodGet, "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	body := rec.Body.String()

	// promhttp lower-cases the method label and maps unknown methods to
	// "unknown"; the code label is the numeric status.
	want := []string{
		`http_requests_total{code="200",method="get"} 3`,
		`http_requests_total{code="400",method="get"} 1`,
		`http_requests_total{code="404",method="get"} 1`,
		`http_requests_total{code="405",method="post"} 1`,
		`http_requests_total{code="405",method="unknown"} 1`,
		`# TYPE http_requests_total counter`,
		`# TYPE http_request_duration_seconds histogram`,
		`http_request_duration_seconds_bucket{code="200",method="get",le="0.005"}`,
		`http_request_duration_seconds_bucket{code="200",method="get",le="+Inf"} 3`,
		`http_request_duration_seconds_count{code="200",method="get"} 3`,
		`http_request_duration_seconds_sum{code="200",method="get"}`,
		`go_goroutines `,
		`go_info{version="` + runtime.Version() + `"} 1`,
		`gosvc_build_info{goversion="` + runtime.Version() + `",version="` + version + `"} 1`,
		`promhttp_metric_handler_requests_total{code="200"}`,
	}
	if runtime.GOOS == "linux" {
		// The process collector is only implemented on some platforms.
		want = append(want, `process_resident_memory_bytes `, `process_open_fds `)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("/metrics body:\n%s", body)
	}

	if rec := do(t, a.metricsHandler, http.MethodGet, "/"); rec.Code != http.StatusNotFound {
		t.Errorf("metrics GET / = %d, want 404", rec.Code)
	}
}

// Two Apps must not share collectors (each has its own registry), otherwise
// a second newApp would panic on duplicate registration.
func TestMetricsRegistryPerApp(t *testing.T) {
	a1 := newApp(testConfig(), discardLogger())
	a2 := newApp(testConfig(), discardLogger())
	do(t, a1.public, http.MethodGet, "/healthz")
	body := do(t, a2.metricsHandler, http.MethodGet, "/metrics").Body.String()
	if strings.Contains(body, `http_requests_total{`) {
		t.Fatalf("second app saw the first app's requests:\n%s", body)
	}
}
