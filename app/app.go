package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// maxNameLen is the longest name, in characters, that /api/v1/greet accepts.
const maxNameLen = 64

// App holds the handlers and state shared by the three listeners.
type App struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics

	// ready is true while the public server is serving and false before it
	// starts and as soon as shutdown begins.
	ready atomic.Bool

	// publicMux holds the public routes; public is publicMux wrapped with
	// metrics and access logging.
	publicMux *http.ServeMux
	public    http.Handler
	// metricsHandler serves /metrics; admin serves /debug/pprof/ only.
	metricsHandler http.Handler
	admin          http.Handler
}

// newApp builds the handlers for cfg. It does not listen; see run and serve.
func newApp(cfg Config, logger *slog.Logger) *App {
	a := &App{
		cfg:     cfg,
		logger:  logger,
		metrics: newMetrics(),
	}

	a.publicMux = http.NewServeMux()
	a.publicMux.HandleFunc("GET /healthz", a.handleHealthz)
	a.publicMux.HandleFunc("GET /readyz", a.handleReadyz)
	// No method in the pattern: handleGreet answers non-GET with a JSON 405.
	a.publicMux.HandleFunc("/api/v1/greet", a.handleGreet)
	a.public = a.logRequests(a.metrics.instrument(a.publicMux))

	a.metricsHandler = a.metrics.handler()
	a.admin = newAdminMux()
	return a
}

// newAdminMux returns a mux with only the pprof handlers. It is a fresh mux:
// http.DefaultServeMux (where importing net/http/pprof also registers them)
// is never served.
func newAdminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// setReady marks the service ready (true) or not ready (false).
func (a *App) setReady(v bool) { a.ready.Store(v) }

// isReady reports whether /readyz currently answers 200.
func (a *App) isReady() bool { return a.ready.Load() }

func (a *App) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

func (a *App) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if !a.isReady() {
		writeText(w, http.StatusServiceUnavailable, "not ready")
		return
	}
	writeText(w, http.StatusOK, "ok")
}

type greetResponse struct {
	Message string `json:"message"`
	Version string `json:"version"`
}

type errorResponse struct {
	Error string `json:"error"`
}

func (a *App) handleGreet(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, errorResponse{Error: "method not allowed"})
		return
	}
	name := r.URL.Query().Get("name")
	if utf8.RuneCountInString(name) > maxNameLen {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: "name must be at most 64 characters"})
		return
	}
	if name == "" {
		name = "world"
	}
	writeJSON(w, http.StatusOK, greetResponse{Message: "hello, " + name, Version: version})
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one info line per request.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		a.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("code", code),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		)
	})
}
