"""The generated filebeat.yml in real Filebeat, shipping container logs to the dev broker, and through a broker outage.

Filebeat is the newest release the Go module proxy serves (7.17.x), not the 9.x the image pins;
report.json's `pipeline.filebeat` says which ran. The broker is the dev stack's, as in
test_pipeline_kafka.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.test_pipeline_kafka import stack_spec
from tools.pipeline.filebeat import FilebeatPod, container_line
from tools.pipeline.kafka import KafkaPods

pytestmark = pytest.mark.e2e

LOG = "gosvc-7d9f8-x2x4q_default_gosvc-0123456789abcdef.log"
"""A name as the kubelet links it under /var/log/containers: <pod>_<namespace>_<container>-<id>.log."""


@pytest.fixture(scope="module")
def pipeline(pipeline_runtime, tmp_path_factory, report):
    spec = stack_spec("dev")
    workdir = tmp_path_factory.mktemp("filebeat")
    with KafkaPods(pipeline_runtime, spec, workdir / "kafka") as pods:
        pods.start_all()
        pods.run_topic_job()
        beat = FilebeatPod(pipeline_runtime, spec, workdir / "filebeat", pods.hosts)
        entry = report.data["pipeline"].setdefault("filebeat", {})
        entry.update(version=pipeline_runtime.versions["filebeat"], pinned_image_version=pipeline_runtime.versions["filebeat_pinned_image"], overlay=beat.changes)
        try:
            yield pods, beat, entry
        finally:
            beat.stop()


def events(pods: KafkaPods) -> list[dict]:
    return [json.loads(value) for value in pods.consume_all(idle_ms=4000)]


def app_line(seq: int) -> str:
    """A line as the Go service logs it (slog's JSON handler)."""
    return json.dumps({"time": "2026-11-28T00:00:00Z", "level": "INFO", "msg": "request served", "seq": seq})


def test_filebeat_accepts_the_generated_config(pipeline):
    _, beat, entry = pipeline
    checked = beat.test_config()
    assert checked.returncode == 0 and "Config OK" in checked.stdout, checked.stdout + checked.stderr[-2000:]
    entry["test_config"] = checked.stdout.strip()


def test_container_log_lines_reach_the_topic_decoded_and_joined(pipeline):
    pods, beat, entry = pipeline
    log = beat.log_file(LOG)
    with log.open("a") as out:
        for seq in range(100):
            out.write(container_line(app_line(seq)))
        out.write(container_line("plain text from the runtime", stream="stderr"))
        # The runtime splits a long line into partial (P) pieces; the container parser joins them.
        out.write(container_line("first half, ", partial=True))
        out.write(container_line("second half"))
    beat.start()
    beat.wait_serving()
    shipped = wait_for("102 events in the topic", lambda: (found := events(pods)) and len(found) >= 102 and found, timeout=120)
    by_seq = Counter(e["app"]["seq"] for e in shipped if "app" in e)
    assert by_seq == Counter(range(100)), "every JSON line once, decoded into app.*"
    plain = [e for e in shipped if e["message"] == "plain text from the runtime"]
    assert len(plain) == 1 and plain[0]["stream"] == "stderr" and "app" not in plain[0]
    assert [e["message"] for e in shipped if "half" in e["message"]] == ["first half, second half"]
    assert all(e["log"]["file"]["path"] == str(log) for e in shipped)
    output = beat.stats()["libbeat"]["output"]["events"]
    assert output["acked"] == 102 and output["dropped"] == 0
    assert beat.registry()[str(log)] == log.stat().st_size, "the registry reached the end of the file once Kafka acknowledged it all"
    entry["shipped"] = {"events": len(shipped), "acked": output["acked"], "agent": shipped[0]["agent"]["version"]}


def test_no_event_the_registry_marks_read_is_lost_across_a_broker_outage(pipeline):
    """The service keeps logging while the only broker stops mid-batch and returns 20 s later: every
    line whose end the registry recorded as read must be in the topic, and in the end every line is."""
    pods, beat, entry = pipeline
    log = beat.log_file(LOG)
    first = 1000
    ends: dict[int, int] = {}
    stop = threading.Event()

    def write() -> None:
        seq = first
        with log.open("a") as out:
            while not stop.is_set():
                out.write(container_line(app_line(seq)))
                out.flush()
                ends[seq] = out.tell()
                seq += 1
                time.sleep(0.01)

    acked_before = beat.stats()["libbeat"]["output"]["events"]["acked"]
    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_for("Filebeat ships a batch of the new lines", lambda: beat.stats()["libbeat"]["output"]["events"]["acked"] > acked_before, timeout=60)
        pods.stop(0)
        marked = 0
        down_until = time.monotonic() + 20
        while time.monotonic() < down_until:
            marked = max(marked, beat.registry().get(str(log), 0))
            time.sleep(1)
        during = beat.stats()["libbeat"]["output"]["events"]
        pods.start(0)
        pods.wait_started(0)
        time.sleep(5)
    finally:
        stop.set()
        writer.join()
    written = sorted(ends)
    size = log.stat().st_size
    wait_for("the registry reaches the end of the file", lambda: beat.registry().get(str(log), 0) == size, timeout=120)
    seen = Counter(e["app"]["seq"] for e in events(pods) if "app" in e and e["app"]["seq"] >= first)
    lost_marked = [s for s in written if ends[s] <= marked and seen[s] == 0]
    missing = [s for s in written if seen[s] == 0]
    entry["outage"] = {
        "lines_written": len(written),
        "marked_read_while_down": sum(1 for s in written if ends[s] <= marked),
        "output_while_down": during,
        "missing": len(missing),
        "marked_read_but_missing": lost_marked[:50],
        "delivered_more_than_once": sum(1 for n in seen.values() if n > 1),
    }
    assert not lost_marked, f"Filebeat recorded {len(lost_marked)} lines as read that never reached Kafka"
    assert not missing, f"{len(missing)} lines never reached Kafka: {missing[:20]}"
