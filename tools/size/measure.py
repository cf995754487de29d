"""The capacity curve of the sample service: built as its image builds it, run with one CPU's worth of Go
scheduler, and loaded step by step by vegeta (tools/size/go/loadgen) from another process on loopback.

Each step records what the load generator achieved (requests per second, p50/p99 latency, success)
beside what the service spent (CPU seconds from /proc/<pid>/stat, peak RSS from /proc/<pid>/status,
the Go heap from its own /metrics).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.e2e.cluster import free_port
from tools.image_build import build_as_image

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = Path(__file__).resolve().parent / "go" / "loadgen"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCENARIOS = {
    "greet": ["/api/v1/greet?name=size"],
    # Nine API calls to one health check, about what a pod sees from clients and its kubelet.
    "mix": ["/api/v1/greet?name=size"] * 9 + ["/healthz"],
}


@dataclass
class Step:
    """One offered rate held for a while, and what it cost."""

    offered_rps: float
    achieved_rps: float
    requests: int
    success_ratio: float
    p50_seconds: float
    p99_seconds: float
    seconds: float
    cpu_seconds: float
    cpu_seconds_per_request: float
    peak_rss_bytes: int
    heap_inuse_bytes: int


@dataclass
class Curve:
    """Steps of one scenario under one GOMEMLIMIT, in offered order."""

    scenario: str
    gomemlimit: str
    steps: list[Step] = field(default_factory=list)
    saturated: bool = False
    generator_bound: bool = False
    """The load generator could not send the rate asked of it: the curve stops there, short of the service's knee."""

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "gomemlimit": self.gomemlimit,
            "saturated": self.saturated,
            "generator_bound": self.generator_bound,
            "steps": [asdict(s) for s in self.steps],
        }


def build(out: Path) -> tuple[Path, Path]:
    """The service, with the flags of its generated Dockerfile, and the load generator."""
    out.mkdir(parents=True, exist_ok=True)
    build_as_image(out / "app", tag="size")
    return out / "app", build_loadgen(out)


def build_loadgen(out: Path) -> Path:
    """The load generator (vegeta's attacker behind a small command), built into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "build", "-o", str(out / "loadgen"), "."], cwd=LOADGEN, check=True, capture_output=True, timeout=900)
    return out / "loadgen"


def cores() -> tuple[list[str], list[str]]:
    """taskset prefixes pinning the service to core 0 and the load generator to the others, where there are two or more."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return [], []
    rest = ",".join(str(c) for c in available[1:])
    return ["taskset", "-c", str(available[0])], ["taskset", "-c", rest]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _peak_rss(pid: int) -> int:
    match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) * 1024 if match else 0


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


class Service:
    """The built service running with GOMAXPROCS=1 and a GOMEMLIMIT, on free loopback ports."""

    ATTEMPTS = 3

    def __init__(self, binary: Path, gomemlimit: str, pin: list[str]) -> None:
        for attempt in range(self.ATTEMPTS):
            try:
                self._start(binary, gomemlimit, pin)
                return
            except RuntimeError:
                # A port picked free can be taken before the service binds it; new ports, up to ATTEMPTS times.
                if attempt == self.ATTEMPTS - 1:
                    raise

    def _start(self, binary: Path, gomemlimit: str, pin: list[str]) -> None:
        self.http, self.metrics, self.admin = free_port(), free_port(), free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GOMAXPROCS": "1",
            "GOMEMLIMIT": gomemlimit,
            "HTTP_ADDR": f"127.0.0.1:{self.http}",
            "METRICS_ADDR": f"127.0.0.1:{self.metrics}",
            "ADMIN_ADDR": f"127.0.0.1:{self.admin}",
            "LOG_LEVEL": "info",
        }
        # It logs a JSON line per request; a thread drains the pipe as a container runtime would, keeping the tail.
        self.process = subprocess.Popen([*pin, str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.tail = b""
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the service did not become ready (exit code {self.process.poll()}): {self.tail[-500:].decode(errors='replace')}")
            time.sleep(0.1)

    def _drain(self) -> None:
        while chunk := self.process.stdout.read(65536):
            self.tail = (self.tail + chunk)[-4096:]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def step(service: Service, loadgen: Path, pin: list[str], targets: list[str], rate: int, seconds: float) -> Step:
    pid = service.process.pid
    before = _cpu_seconds(pid)
    proc = subprocess.run(
        [*pin, str(loadgen), f"-rate={rate}", f"-duration={seconds}s", "-targets=" + ",".join(service.url(t) for t in targets)],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    )
    cpu = _cpu_seconds(pid) - before
    result = json.loads(proc.stdout)
    ok = max(1, round(result["requests"] * result["success_ratio"]))
    return Step(
        offered_rps=round(result["offered_rps"], 1),
        achieved_rps=round(result["achieved_rps"], 1),
        requests=result["requests"],
        success_ratio=round(result["success_ratio"], 4),
        p50_seconds=result["p50_seconds"],
        p99_seconds=result["p99_seconds"],
        seconds=round(result["seconds"], 3),
        cpu_seconds=round(cpu, 3),
        cpu_seconds_per_request=cpu / ok,
        peak_rss_bytes=_peak_rss(pid),
        heap_inuse_bytes=int(_metric(f"http://127.0.0.1:{service.metrics}/metrics", "go_memstats_heap_inuse_bytes")),
    )


def saturated(s: Step, latency_ceiling: float) -> bool:
    """The service no longer keeps up: it serves under 90% of what is offered, fails requests, or p99 passes the ceiling."""
    return s.achieved_rps < 0.9 * s.offered_rps or s.success_ratio < 0.999 or s.p99_seconds > latency_ceiling


def curve(app: Path, loadgen: Path, scenario: str, gomemlimit: str, rates: list[int], seconds: float, latency_ceiling: float) -> Curve:
    """Steps through `rates` until the service saturates (then one step more, to see past the knee)."""
    service_pin, load_pin = cores()
    service = Service(app, gomemlimit, service_pin)
    result = Curve(scenario, gomemlimit)
    try:
        for rate in rates:
            s = step(service, loadgen, load_pin, SCENARIOS[scenario], rate, seconds)
            result.steps.append(s)
            if saturated(s, latency_ceiling):
                result.saturated = True
                break
            if s.offered_rps < 0.9 * rate:
                result.generator_bound = True
                break
    finally:
        service.stop()
    return result


def geometric_rates(start: int, stop: int, factor: float = 1.5) -> list[int]:
    rates, rate = [], float(start)
    while rate <= stop:
        rates.append(int(rate))
        rate *= factor
    return rates
