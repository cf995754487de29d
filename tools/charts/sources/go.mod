// The Helm charts' own sources, which this module never compiles: the Go module proxy serves each
// chart repository at a commit, and tools/charts/mirror.py packages the pinned charts from them
// (kube-prometheus-stack 88.6.1 and its subcharts, prometheus-adapter 5.3.0; Grafana from its
// community repository), so the policy pack and synth render the real charts with no chart repository.
module gosvc.dev/tools/charts/sources

go 1.26.0

require (
	github.com/grafana-community/helm-charts v0.0.0-20260829030558-dbf9f4fb5fa1
	github.com/prometheus-community/helm-charts v0.0.0-20260828105119-ed5d7d9b5933
)
