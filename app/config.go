package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Default configuration values. Each can be overridden by the environment
// variable of the same role (see loadConfig).
const (
	defaultHTTPAddr        = ":8080"
	defaultMetricsAddr     = ":9090"
	defaultAdminAddr       = "127.0.0.1:6060"
	defaultShutdownTimeout = 25 * time.Second
	defaultLogLevel        = "info"
)

// Config is the runtime configuration of the service.
type Config struct {
	// HTTPAddr is the public listener (health, readiness, API).
	HTTPAddr string
	// MetricsAddr serves /metrics only.
	MetricsAddr string
	// AdminAddr serves net/http/pprof only. Keep it on loopback.
	AdminAddr string
	// ShutdownTimeout bounds the graceful shutdown of all servers.
	ShutdownTimeout time.Duration
	// LogLevel is the minimum level written by the logger.
	LogLevel slog.Level
}

// loadConfig builds a Config from getenv (normally os.Getenv). Unset or empty
// variables take their defaults. Every invalid variable is reported in the
// returned error, not just the first.
func loadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{
		HTTPAddr:        defaultHTTPAddr,
		MetricsAddr:     defaultMetricsAddr,
		AdminAddr:       defaultAdminAddr,
		ShutdownTimeout: defaultShutdownTimeout,
		LogLevel:        slog.LevelInfo,
	}
	var errs []error

	addr := func(name string, dst *string) {
		v := getenv(name)
		if v == "" {
			return
		}
		if err := validateAddr(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			return
		}
		*dst = v
	}
	addr("HTTP_ADDR", &cfg.HTTPAddr)
	addr("METRICS_ADDR", &cfg.MetricsAddr)
	addr("ADMIN_ADDR", &cfg.AdminAddr)

	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT=%q: not a Go duration (e.g. \"25s\", \"1m\"): %w", v, err))
		case d <= 0:
			errs = append(errs, fmt.Errorf("SHUTDOWN_TIMEOUT=%q: must be greater than zero", v))
		default:
			cfg.ShutdownTimeout = d
		}
	}

	if v := getenv("LOG_LEVEL"); v != "" {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want one of debug, info, warn, error", v))
		} else {
			cfg.LogLevel = lvl
		}
	}

	return cfg, errors.Join(errs...)
}

// validateAddr checks that s is a "host:port" listen address with a numeric
// port in 0..65535. The host may be empty (all interfaces).
func validateAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

// isLoopbackAddr reports whether the host part of a listen address is a
// loopback address or "localhost".
func isLoopbackAddr(s string) bool {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
