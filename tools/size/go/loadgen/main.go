// Command loadgen offers one constant request rate to a set of targets for a while, with vegeta's
// attacker, and prints what it achieved as one JSON object: the step of a capacity curve.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type step struct {
	OfferedRPS  float64        `json:"offered_rps"`
	AchievedRPS float64        `json:"achieved_rps"`
	Requests    uint64         `json:"requests"`
	Success     float64        `json:"success_ratio"`
	P50Seconds  float64        `json:"p50_seconds"`
	P90Seconds  float64        `json:"p90_seconds"`
	P99Seconds  float64        `json:"p99_seconds"`
	MaxSeconds  float64        `json:"max_seconds"`
	Seconds     float64        `json:"seconds"`
	StatusCodes map[string]int `json:"status_codes"`
	Errors      []string       `json:"errors"`
}

func main() {
	rate := flag.Int("rate", 100, "requests per second to offer")
	duration := flag.Duration("duration", 5*time.Second, "how long to offer it")
	targets := flag.String("targets", "", "comma-separated GET URLs, taken round-robin (repeat one to weight it)")
	workers := flag.Uint64("workers", 16, "initial workers; vegeta adds more when they cannot keep the rate")
	maxWorkers := flag.Uint64("max-workers", 256, "most concurrent requests, as a proxy's connection pool bounds them")
	keepAlive := flag.Bool("keepalive", true, "reuse connections; false opens one per request, as many separate clients do, so a Service's per-connection balancing spreads requests")
	flag.Parse()
	if *targets == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -targets is required")
		os.Exit(2)
	}
	var list []vegeta.Target
	for _, url := range strings.Split(*targets, ",") {
		list = append(list, vegeta.Target{Method: http.MethodGet, URL: url})
	}
	attacker := vegeta.NewAttacker(vegeta.Workers(*workers), vegeta.MaxWorkers(*maxWorkers), vegeta.KeepAlive(*keepAlive), vegeta.Timeout(10*time.Second))
	var metrics vegeta.Metrics
	for res := range attacker.Attack(vegeta.NewStaticTargeter(list...), vegeta.Rate{Freq: *rate, Per: time.Second}, *duration, "step") {
		metrics.Add(res)
	}
	metrics.Close()
	out := step{
		OfferedRPS:  metrics.Rate,
		AchievedRPS: metrics.Throughput,
		Requests:    metrics.Requests,
		Success:     metrics.Success,
		P50Seconds:  metrics.Latencies.P50.Seconds(),
		P90Seconds:  metrics.Latencies.P90.Seconds(),
		P99Seconds:  metrics.Latencies.P99.Seconds(),
		MaxSeconds:  metrics.Latencies.Max.Seconds(),
		Seconds:     metrics.Duration.Seconds() + metrics.Wait.Seconds(),
		StatusCodes: metrics.StatusCodes,
		Errors:      metrics.Errors,
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
