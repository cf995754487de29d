"""The pipeline tier: the logging pipeline's generated Kafka and Filebeat configs run in the real software.

`build` fetches Kafka from Maven Central and builds Filebeat from the Go module proxy, once per
machine; `overlay` is the small, documented set of changes that lets the generated files run on
one machine's loopback instead of in pods; `kafka` and `filebeat` run them; `tests/e2e/test_pipeline_*`
assert what they show and write `pipeline` into `build/e2e/report.json`.
"""
