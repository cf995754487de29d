//go:build tools

// Package tools pins github.com/prometheus/alertmanager v0.34.0; tools/loop/build.py builds its program(s) from here.
package tools

import (
	_ "github.com/prometheus/alertmanager/cmd/alertmanager"
)
