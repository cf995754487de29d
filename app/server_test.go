package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loopbackConfig listens on ephemeral loopback ports.
func loopbackConfig(timeout time.Duration) Config {
	cfg := testConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.ShutdownTimeout = timeout
	return cfg
}

// waitFor polls cond every 10ms until it holds or d elapses.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// slowApp is an App whose public mux has an extra /test/slow route that
// blocks until release is closed. started is closed once it is entered.
func slowApp(cfg Config) (a *App, started, release chan struct{}) {
	a = newApp(cfg, discardLogger())
	started = make(chan struct{})
	release = make(chan struct{})
	a.publicMux.HandleFunc("GET /test/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		writeText(w, http.StatusOK, "slow done")
	})
	return a, started, release
}

func TestRunReturnsNilOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, loopbackConfig(5*time.Second), discardLogger()) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within the shutdown timeout")
	}
}

func TestRunListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := loopbackConfig(time.Second)
	cfg.MetricsAddr = busy.Addr().String()
	err = run(context.Background(), cfg, discardLogger())
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("run = %v, want a METRICS_ADDR listen error", err)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	cfg := loopbackConfig(5 * time.Second)
	a, started, release := slowApp(cfg)
	ln, err := listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.public.Addr().String()
	metricsURL := "http://" + ln.metrics.Addr().String() + "/metrics"
	adminURL := "http://" + ln.admin.Addr().String() + "/debug/pprof/"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()

	waitFor(t, 5*time.Second, "ready", a.isReady)
	if code, body := get(t, public+"/readyz"); code != http.StatusOK {
		t.Fatalf("GET /readyz = %d %q, want 200", code, body)
	}
	if code, body := get(t, public+"/api/v1/greet?name=net"); code != http.StatusOK || !strings.Contains(body, `"hello, net"`) {
		t.Fatalf("GET greet = %d %q", code, body)
	}
	if code, body := get(t, metricsURL); code != http.StatusOK || !strings.Contains(body, `http_requests_total{code="200",method="get"} 2`) {
		t.Fatalf("GET /metrics = %d, body lacks the 2 requests:\n%s", code, body)
	}
	if code, _ := get(t, adminURL); code != http.StatusOK {
		t.Fatalf("GET admin /debug/pprof/ = %d, want 200", code)
	}
	if code, _ := get(t, public+"/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("GET public /debug/pprof/ = %d, want 404", code)
	}

	// Start a request that is still in flight when shutdown begins.
	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := http.Get(public + "/test/slow")
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slow <- result{resp.StatusCode, string(b), err}
	}()
	<-started

	cancel()
	waitFor(t, 5*time.Second, "not ready after cancel", func() bool { return !a.isReady() })
	// New connections are refused once Shutdown has closed the listener.
	waitFor(t, 5*time.Second, "public listener closed", func() bool {
		c, err := net.DialTimeout("tcp", ln.public.Addr().String(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("serve returned %v while a request was in flight", err)
	default:
	}

	time.Sleep(50 * time.Millisecond)
	close(release)

	select {
	case r := <-slow:
		if r.err != nil || r.code != http.StatusOK || strings.TrimSpace(r.body) != "slow done" {
			t.Fatalf("in-flight request = %d %q %v, want 200 \"slow done\"", r.code, r.body, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request did not complete")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v, want nil", err)
		}
	case <-time.After(cfg.ShutdownTimeout):
		t.Fatal("serve did not return within the shutdown timeout")
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	cfg := loopbackConfig(200 * time.Millisecond)
	a, started, release := slowApp(cfg)
	defer close(release)
	ln, err := listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	waitFor(t, 5*time.Second, "ready", a.isReady)

	go func() {
		if resp, err := http.Get("http://" + ln.public.Addr().String() + "/test/slow"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("serve = %v, want a deadline-exceeded error", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("serve took %v to give up, timeout is %v", el, cfg.ShutdownTimeout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after the shutdown timeout")
	}
}

func TestServeStopsWhenAServerFails(t *testing.T) {
	cfg := loopbackConfig(2 * time.Second)
	a := newApp(cfg, discardLogger())
	ln, err := listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln.metrics.Close() // the metrics server's Serve fails at once
	done := make(chan error, 1)
	go func() { done <- a.serve(context.Background(), ln) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "metrics server") {
			t.Fatalf("serve = %v, want a metrics server error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after a server failed")
	}
	if a.isReady() {
		t.Fatal("still ready after serve returned")
	}
}

// The tests below run main itself in a child process (this test binary,
// re-executed with APP_TEST_RUN_MAIN=1) to check exit codes and signals.

func TestMain(m *testing.M) {
	if os.Getenv("APP_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func mainCmd(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "APP_TEST_RUN_MAIN=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func TestMainInvalidConfigExits2(t *testing.T) {
	cmd := mainCmd("SHUTDOWN_TIMEOUT=forever", "HTTP_ADDR=127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit = %v, want code 2; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("output does not name the bad variable:\n%s", out)
	}
}

func TestMainSIGTERMExits0(t *testing.T) {
	cmd := mainCmd(
		"HTTP_ADDR=127.0.0.1:0", "METRICS_ADDR=127.0.0.1:0", "ADMIN_ADDR=127.0.0.1:0",
		"SHUTDOWN_TIMEOUT=5s", "LOG_LEVEL=info",
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// Read JSON log lines until the "serving" line gives the bound address.
	lines := make(chan map[string]any, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	var httpAddr string
	timeout := time.After(10 * time.Second)
	for httpAddr == "" {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("child exited before serving")
			}
			if m["msg"] == "serving" {
				httpAddr, _ = m["http_addr"].(string)
			}
		case <-timeout:
			t.Fatal("no serving log line from child")
		}
	}
	if code, _ := get(t, fmt.Sprintf("http://%s/readyz", httpAddr)); code != http.StatusOK {
		t.Fatalf("child /readyz = %d, want 200", code)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for m := range lines {
		msgs = append(msgs, fmt.Sprint(m["msg"]))
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("child exit = %v, want 0; log msgs %v", err, msgs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child did not exit after SIGTERM")
	}
	if got := strings.Join(msgs, ","); !strings.Contains(got, "shutdown requested") || !strings.Contains(got, "shutdown complete") {
		t.Fatalf("log msgs after SIGTERM = %v", msgs)
	}
}
