//go:build tools

// Package tools pins the Helm CLI this project renders charts with: go.mod requires its release,
// go.sum pins the rest, and tools/charts/build.py builds helm.sh/helm/v3/cmd/helm from it.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
