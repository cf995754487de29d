package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// listeners are the three bound sockets the service serves on.
type listeners struct {
	public  net.Listener
	metrics net.Listener
	admin   net.Listener
}

// listen binds the three addresses of cfg. If one fails, those already bound
// are closed.
func listen(cfg Config) (*listeners, error) {
	var ln listeners
	for _, l := range []struct {
		name string
		addr string
		dst  *net.Listener
	}{
		{"HTTP_ADDR", cfg.HTTPAddr, &ln.public},
		{"METRICS_ADDR", cfg.MetricsAddr, &ln.metrics},
		{"ADMIN_ADDR", cfg.AdminAddr, &ln.admin},
	} {
		nl, err := net.Listen("tcp", l.addr)
		if err != nil {
			ln.close()
			return nil, fmt.Errorf("listen %s %s: %w", l.name, l.addr, err)
		}
		*l.dst = nl
	}
	return &ln, nil
}

func (ln *listeners) close() {
	for _, l := range []net.Listener{ln.public, ln.metrics, ln.admin} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// run serves the service on the addresses of cfg until ctx is cancelled,
// then shuts down gracefully. It returns nil after a clean shutdown.
func run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	a := newApp(cfg, logger)
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	return a.serve(ctx, ln)
}

// serve runs the public, metrics and admin servers on ln until ctx is
// cancelled or one server fails. Shutdown then marks the service not ready
// first and shuts all servers down within cfg.ShutdownTimeout, letting
// in-flight requests finish. Servers still busy at the deadline are closed
// and an error is returned.
func (a *App) serve(ctx context.Context, ln *listeners) error {
	errorLog := slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn)
	servers := []struct {
		name string
		srv  *http.Server
		ln   net.Listener
	}{
		{"public", &http.Server{
			Handler:           a.public,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          errorLog,
		}, ln.public},
		{"metrics", &http.Server{
			Handler:           a.metricsHandler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          errorLog,
		}, ln.metrics},
		// No WriteTimeout on admin: pprof profile and trace stream for
		// as long as the ?seconds= parameter asks.
		{"admin", &http.Server{
			Handler:           a.admin,
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          errorLog,
		}, ln.admin},
	}

	if !isLoopbackAddr(ln.admin.Addr().String()) {
		a.logger.Warn("admin (pprof) listener is not on loopback; do not expose it",
			slog.String("addr", ln.admin.Addr().String()))
	}

	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			err := s.srv.Serve(s.ln)
			if errors.Is(err, http.ErrServerClosed) {
				errc <- nil
				return
			}
			errc <- fmt.Errorf("%s server: %w", s.name, err)
		}()
	}
	a.setReady(true)
	a.logger.Info("serving",
		slog.String("version", version),
		slog.String("go_version", runtime.Version()),
		slog.String("http_addr", ln.public.Addr().String()),
		slog.String("metrics_addr", ln.metrics.Addr().String()),
		slog.String("admin_addr", ln.admin.Addr().String()),
		slog.String("shutdown_timeout", a.cfg.ShutdownTimeout.String()),
	)

	pending := len(servers)
	var errs []error
	select {
	case <-ctx.Done():
		a.logger.Info("shutdown requested", slog.String("cause", context.Cause(ctx).Error()))
	case err := <-errc:
		pending--
		errs = append(errs, err)
		a.logger.Error("server failed; shutting down", slog.Any("error", err))
	}

	// Not ready first, so /readyz answers 503 while connections drain.
	a.setReady(false)

	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.Shutdown(sctx); err != nil {
				_ = s.srv.Close()
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s server shutdown: %w", s.name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}

	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.logger.Info("shutdown complete")
	return nil
}
