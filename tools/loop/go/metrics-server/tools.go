//go:build tools

// Package tools pins sigs.k8s.io/metrics-server v0.8.0; tools/loop/build.py builds its program(s) from here.
package tools

import (
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
