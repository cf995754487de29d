//go:build tools

// Package tools pins the Pulumi YAML language host that runs the e2e tier's YAML program; tools/e2e/build.py builds it from here.
package tools

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
