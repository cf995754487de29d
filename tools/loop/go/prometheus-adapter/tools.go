//go:build tools

// Package tools pins sigs.k8s.io/prometheus-adapter v0.12.0; tools/loop/build.py builds its program(s) from here.
package tools

import (
	_ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
)
