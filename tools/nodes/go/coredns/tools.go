//go:build tools

// Package tools pins CoreDNS; tools/nodes/build.py builds it from here.
package tools

import _ "github.com/coredns/coredns"
