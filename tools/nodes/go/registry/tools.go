//go:build tools

// Package tools pins the distribution registry; tools/nodes/build.py builds its cmd/registry from here.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
