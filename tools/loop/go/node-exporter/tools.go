//go:build tools

// Package tools pins github.com/prometheus/node_exporter v1.12.1; tools/loop/build.py builds its program(s) from here.
package tools

import (
	_ "github.com/prometheus/node_exporter"
)
