//go:build tools

// Package tools pins the local control plane of the e2e tier: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, and the real node's kubelet and kube-proxy,
// built together so they share one dependency graph (kwok v0.8.0 is built against the same
// Kubernetes release).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
