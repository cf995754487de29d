package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(envFrom(nil))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := Config{
		HTTPAddr:        ":8080",
		MetricsAddr:     ":9090",
		AdminAddr:       "127.0.0.1:6060",
		ShutdownTimeout: 25 * time.Second,
		LogLevel:        slog.LevelInfo,
	}
	if cfg != want {
		t.Fatalf("defaults = %+v, want %+v", cfg, want)
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	cfg, err := loadConfig(envFrom(map[string]string{
		"HTTP_ADDR":        "127.0.0.1:18080",
		"METRICS_ADDR":     "[::1]:19090",
		"ADMIN_ADDR":       "localhost:0",
		"SHUTDOWN_TIMEOUT": "1m30s",
		"LOG_LEVEL":        "DEBUG",
	}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := Config{
		HTTPAddr:        "127.0.0.1:18080",
		MetricsAddr:     "[::1]:19090",
		AdminAddr:       "localhost:0",
		ShutdownTimeout: 90 * time.Second,
		LogLevel:        slog.LevelDebug,
	}
	if cfg != want {
		t.Fatalf("cfg = %+v, want %+v", cfg, want)
	}
}

func TestLoadConfigLogLevels(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn,
		"error": slog.LevelError, "ERROR": slog.LevelError,
	} {
		cfg, err := loadConfig(envFrom(map[string]string{"LOG_LEVEL": in}))
		if err != nil {
			t.Errorf("LOG_LEVEL=%q: %v", in, err)
			continue
		}
		if cfg.LogLevel != want {
			t.Errorf("LOG_LEVEL=%q: got %v, want %v", in, cfg.LogLevel, want)
		}
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		contains []string
	}{
		{"bad duration", map[string]string{"SHUTDOWN_TIMEOUT": "25"}, []string{"SHUTDOWN_TIMEOUT", "duration"}},
		{"garbage duration", map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, []string{"SHUTDOWN_TIMEOUT"}},
		{"zero duration", map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, []string{"SHUTDOWN_TIMEOUT", "greater than zero"}},
		{"negative duration", map[string]string{"SHUTDOWN_TIMEOUT": "-5s"}, []string{"SHUTDOWN_TIMEOUT"}},
		{"no port", map[string]string{"HTTP_ADDR": "localhost"}, []string{"HTTP_ADDR", "host:port"}},
		{"bad port", map[string]string{"METRICS_ADDR": ":http"}, []string{"METRICS_ADDR", "port"}},
		{"port range", map[string]string{"ADMIN_ADDR": "127.0.0.1:70000"}, []string{"ADMIN_ADDR", "port"}},
		{"bad level", map[string]string{"LOG_LEVEL": "verbose"}, []string{"LOG_LEVEL"}},
		{
			"all reported",
			map[string]string{"SHUTDOWN_TIMEOUT": "x", "LOG_LEVEL": "y", "HTTP_ADDR": "z"},
			[]string{"SHUTDOWN_TIMEOUT", "LOG_LEVEL", "HTTP_ADDR"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(envFrom(tt.env))
			if err == nil {
				t.Fatal("want error, got nil")
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6060": true, "localhost:6060": true, "[::1]:6060": true,
		":6060": false, "0.0.0.0:6060": false, "10.0.0.1:6060": false, "bogus": false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
