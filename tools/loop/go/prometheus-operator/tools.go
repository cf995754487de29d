//go:build tools

// Package tools pins github.com/prometheus-operator/prometheus-operator v0.93.1; tools/loop/build.py builds its program(s) from here.
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
)
