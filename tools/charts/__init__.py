"""Helm for the policy pack and the synth: the CLI built from the Go module proxy (`build`), so charts can be rendered
here without a download from get.helm.sh."""
