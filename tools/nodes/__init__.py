"""The real-node tier of `make e2e`: a Docker engine, a registry on loopback and a kubelet with containerd, all of
the tier's own, so the service's image is built for real and its pods run for real (see "Real nodes" in docs/testing.md)."""
