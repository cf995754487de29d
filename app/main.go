// Command app is the gosvc sample HTTP service.
//
// It serves a public API with health and readiness probes on HTTP_ADDR,
// Prometheus metrics on METRICS_ADDR and pprof on ADMIN_ADDR (loopback by
// default), and shuts down gracefully on SIGTERM or SIGINT.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "app: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}

	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// After the first signal, restore default handling so a second
		// one kills the process without waiting for the drain.
		<-ctx.Done()
		stop()
	}()

	logger.Info("starting", slog.String("version", version))
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("exiting with error", slog.Any("error", err))
		os.Exit(1)
	}
}
