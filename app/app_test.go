package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

func testConfig() Config {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return cfg
}

// do sends one request to h and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestHealthz(t *testing.T) {
	a := newApp(testConfig(), discardLogger())
	// Alive even when not (yet) ready.
	rec := do(t, a.public, http.MethodGet, "/healthz")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Fatalf("GET /healthz = %d %q, want 200 ok", rec.Code, rec.Body)
	}
	if rec := do(t, a.public, http.MethodPost, "/healthz"); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz = %d, want 405", rec.Code)
	}
}

func TestReadyz(t *testing.T) {
	a := newApp(testConfig(), discardLogger())

	if rec := do(t, a.public, http.MethodGet, "/readyz"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("before serving: GET /readyz = %d, want 503", rec.Code)
	}

	a.setReady(true) // as serve does once the servers run
	if rec := do(t, a.public, http.MethodGet, "/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("while serving: GET /readyz = %d, want 200", rec.Code)
	}

	a.setReady(false) // as serve does when shutdown begins
	rec := do(t, a.public, http.MethodGet, "/readyz")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("shutting down: GET /readyz = %d, want 503", rec.Code)
	}
	// Liveness is unaffected by shutdown.
	if rec := do(t, a.public, http.MethodGet, "/healthz"); rec.Code != http.StatusOK {
		t.Fatalf("shutting down: GET /healthz = %d, want 200", rec.Code)
	}
}

func TestGreet(t *testing.T) {
	a := newApp(testConfig(), discardLogger())

	tests := []struct {
		name   string
		method string
		query  string
		code   int
		msg    string // expected "message" on 200
	}{
		{"ok", http.MethodGet, "name=gopher", http.StatusOK, "hello, gopher"},
		{"escaped", http.MethodGet, "name=" + url.QueryEscape("Zoë & co"), http.StatusOK, "hello, Zoë & co"},
		{"default", http.MethodGet, "", http.StatusOK, "hello, world"},
		{"64 chars", http.MethodGet, "name=" + strings.Repeat("a", 64), http.StatusOK, "hello, " + strings.Repeat("a", 64)},
		{"64 runes", http.MethodGet, "name=" + url.QueryEscape(strings.Repeat("é", 64)), http.StatusOK, "hello, " + strings.Repeat("é", 64)},
		{"65 chars", http.MethodGet, "name=" + strings.Repeat("a", 65), http.StatusBadRequest, ""},
		{"post", http.MethodPost, "name=x", http.StatusMethodNotAllowed, ""},
		{"put", http.MethodPut, "name=x", http.StatusMethodNotAllowed, ""},
		{"delete", http.MethodDelete, "", http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, a.public, tt.method, "/api/v1/greet?"+tt.query)
			if rec.Code != tt.code {
				t.Fatalf("%s ?%s = %d, want %d (body %q)", tt.method, tt.query, rec.Code, tt.code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q, want application/json", ct)
			}
			if tt.code != http.StatusOK {
				var e errorResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("error body %q: want JSON {\"error\":...} (%v)", rec.Body, err)
				}
				if tt.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodGet {
					t.Fatalf("Allow = %q, want GET", rec.Header().Get("Allow"))
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			want := map[string]string{"message": tt.msg, "version": version}
			if len(got) != 2 || got["message"] != want["message"] || got["version"] != want["version"] {
				t.Fatalf("body = %v, want %v", got, want)
			}
		})
	}
}

func TestUnknownPath404(t *testing.T) {
	a := newApp(testConfig(), discardLogger())
	for _, p := range []string{"/", "/metrics", "/api/v1/greet/extra", "/nope"} {
		if rec := do(t, a.public, http.MethodGet, p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, rec.Code)
		}
	}
}

func TestPprofOnlyOnAdmin(t *testing.T) {
	a := newApp(testConfig(), discardLogger())

	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1"} {
		rec := do(t, a.admin, http.MethodGet, p)
		if rec.Code != http.StatusOK {
			t.Errorf("admin GET %s = %d, want 200", p, rec.Code)
		}
	}
	if rec := do(t, a.admin, http.MethodGet, "/debug/pprof/"); !strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("admin /debug/pprof/ index does not list profiles: %q", rec.Body)
	}

	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile", "/debug/pprof/symbol", "/debug/pprof/trace", "/debug/pprof/heap"} {
		if rec := do(t, a.public, http.MethodGet, p); rec.Code != http.StatusNotFound {
			t.Errorf("public GET %s = %d, want 404", p, rec.Code)
		}
		if rec := do(t, a.metricsHandler, http.MethodGet, p); rec.Code != http.StatusNotFound {
			t.Errorf("metrics GET %s = %d, want 404", p, rec.Code)
		}
	}
	// The admin listener serves pprof and nothing else.
	for _, p := range []string{"/healthz", "/metrics", "/api/v1/greet"} {
		if rec := do(t, a.admin, http.MethodGet, p); rec.Code != http.StatusNotFound {
			t.Errorf("admin GET %s = %d, want 404", p, rec.Code)
		}
	}
}

func TestRequestLog(t *testing.T) {
	var buf syncBuffer
	a := newApp(testConfig(), slog.New(slog.NewJSONHandler(&buf, nil)))
	do(t, a.public, http.MethodGet, "/api/v1/greet?name=log")
	do(t, a.public, http.MethodPost, "/api/v1/greet")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %d: %q", len(lines), buf.String())
	}
	for i, want := range []struct {
		method string
		code   float64
	}{{"GET", 200}, {"POST", 405}} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d not JSON: %v: %q", i, err, lines[i])
		}
		if rec["level"] != "INFO" || rec["msg"] != "request" || rec["method"] != want.method ||
			rec["path"] != "/api/v1/greet" || rec["code"] != want.code {
			t.Errorf("line %d = %v", i, rec)
		}
		if _, ok := rec["duration_ms"].(float64); !ok {
			t.Errorf("line %d: duration_ms missing or not a number: %v", i, rec)
		}
	}
}
