//go:build tools

// Package tools pins k8s.io/kube-state-metrics/v2 v2.20.0; tools/loop/build.py builds its program(s) from here.
package tools

import (
	_ "k8s.io/kube-state-metrics/v2"
)
