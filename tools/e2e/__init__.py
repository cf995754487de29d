"""The real-engine tier: the Pulumi CLI and Kubernetes provider against a local control plane.

`build` compiles the pinned binaries once per machine, `cluster` runs etcd, the Kubernetes
control plane and kwok on loopback, `engine` drives the real CLI through the Automation API,
and `tests/e2e/` asserts what they show and writes `build/e2e/report.json`.
"""
