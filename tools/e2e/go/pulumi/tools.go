//go:build tools

// Package tools pins the Pulumi CLI that the e2e tier runs; tools/e2e/build.py builds it from here.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
