// Modules whose files the e2e tier uses but that this module never compiles:
// the Kubernetes provider is built from a writable copy of its own module (its
// schema-embed.json must be generated first), the sdk/v4 release replaces its
// sibling-folder replace, and prometheus-operator ships the CRD manifests of
// the operator version kube-prometheus-stack 88.x runs (0.93).
module gosvc.dev/tools/e2e/sources

go 1.26.0

require (
	github.com/prometheus-operator/prometheus-operator v0.93.1
	github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199
	github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.25.0
)
