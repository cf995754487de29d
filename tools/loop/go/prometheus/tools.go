//go:build tools

// Package tools pins github.com/prometheus/prometheus v0.314.0; tools/loop/build.py builds its program(s) from here.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
)
