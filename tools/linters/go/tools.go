//go:build tools

// Package tools pins kube-score, the linter the agreement test (tests/test_linters_agreement.py) runs: go.mod
// requires its release, go.sum pins the rest, and tools/linters/build.py builds its command from it.
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
