"""gosvc benchmarks: `make bench` (python -m bench). Reports only; tests merely check that it runs."""
