"""Logging images deploy by digest when asked: resolved from the registry at `pulumi up`, or pinned in config."""

from tools.offline.engine import PLACEHOLDERS, run
from components.logging import LoggingPipeline
from components.logging import versions

SMALL = {"kafka": {"brokers": 1, "replication_factor": 1, "min_insync_replicas": 1}, "elasticsearch": {"nodes": 1, "index_replicas": 0}}


def images(result):
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "image" and isinstance(v, str):
                    found.add(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for reg in result.registrations:
        if reg.custom:
            walk(reg.inputs)
    return found


def test_tags_only_by_default():
    result = run(lambda: LoggingPipeline("logging", SMALL))
    assert images(result) == set(versions.IMAGES)
    assert [t for t, _ in result.calls if "getRegistryImage" in t] == []


def test_resolve_digests_pins_every_image_through_the_registry_lookup():
    result = run(lambda: LoggingPipeline("logging", {**SMALL, "resolve_digests": True}))
    assert images(result) == {f"{image}@{PLACEHOLDERS['registry_digest']}" for image in versions.IMAGES}
    looked_up = sorted(args["name"] for token, args in result.calls if token == "docker:index/getRegistryImage:getRegistryImage")
    assert looked_up == sorted(versions.IMAGES)


def test_explicit_digest_wins_over_resolution():
    kafka_repo = versions.KAFKA_IMAGE.rsplit(":", 1)[0]
    pin = f"{kafka_repo}@sha256:{'ab' * 32}"
    result = run(lambda: LoggingPipeline("logging", {**SMALL, "resolve_digests": True, "image_digests": [pin]}))
    assert f"{versions.KAFKA_IMAGE}@sha256:{'ab' * 32}" in images(result)
    looked_up = {args["name"] for token, args in result.calls if "getRegistryImage" in token}
    assert versions.KAFKA_IMAGE not in looked_up and len(looked_up) == len(versions.IMAGES) - 1
