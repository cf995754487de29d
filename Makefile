# gosvc developer commands. Everything runs from a fresh clone: `make test` and `make synth`
# create the virtualenv (the one Pulumi.yaml names) and install the pinned requirements first.
PYTHON ?= python3
VENV   := venv
BIN    := $(VENV)/bin
STACK  ?= dev
STAMP  := $(VENV)/.installed

.PHONY: size all venv synth synth-all policy charts test test-python test-go e2e e2e-tools pipeline bench pulumi-yaml schema clean

all: test

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP)

## synth: what `pulumi up -s $(STACK)` would create, written to build/$(STACK)
synth: venv
	$(BIN)/python -m tools.offline.synth --stack $(STACK) --out build/$(STACK)

synth-all: venv
	for s in dev staging prod; do $(BIN)/python -m tools.offline.synth --stack $$s --out build/$$s || exit 1; done

## policy: synthesize $(STACK) and check it with the real policy pack and policies/config/$(STACK).json,
## then (advisory) its RPS target against the capacity `make size` measured, when a report exists
policy: venv
	$(BIN)/python -m tools.offline.synth --stack $(STACK) --out build/$(STACK) --policy-pack policies --policy-pack-config policies/config/$(STACK).json
	$(BIN)/python -m tools.size check --stack $(STACK)

## charts: the genuine monitoring chart packages (../shared/charts, see tools/charts/packages.py) rendered with
## $(STACK)'s values into build/$(STACK)/helm/, checked by the policy pack, then by Checkov against
## tools/charts/checkov_exceptions.yaml
charts: venv
	$(BIN)/python -m tools.charts.build
	charts=$$($(BIN)/python -m tools.charts.packages) && $(BIN)/python -m tools.offline.synth --stack $(STACK) --out build/$(STACK) --charts "$$charts" --policy-pack policies --policy-pack-config policies/config/$(STACK).json
	$(BIN)/python -m tools.charts.checkov --stack $(STACK) build/$(STACK)

## size: load the sample service to saturation under each stack's GOMEMLIMIT and propose its CPU request,
## memory and autoscaling targets -> build/size/<stack>.json, build/size/curve.png (ARGS=--apply rewrites stacks/)
size: venv
	$(BIN)/python -m tools.size --plot build/size/curve.png $(ARGS)

## test: the Go service's tests, then every Python test
test: test-go test-python

test-go:
	cd app && go vet ./... && go test -count=1 ./...
	cd tools/size/go/loadgen && go vet ./...

test-python: venv
	$(BIN)/python -m pytest

## e2e: the real engine: the pinned Pulumi CLI, Kubernetes provider and policy pack against a local
## control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok), and the service's image built by
## a Docker engine and run on a real kubelet node (tools/nodes; needs root) -> build/e2e/report.json
e2e: e2e-tools
	$(BIN)/python -m pytest tests/e2e -m e2e

## e2e-tools: build those binaries from tools/e2e/go once per machine (reused while the pins are unchanged),
## the pipeline tier's software (Kafka from Maven Central, Filebeat from the Go module proxy), the real node's
## (Debian's docker.io, containerd and CNI plugins; the registry and pause binary; the stand-in base images),
## the monitoring loop's binaries (tools/loop, from the Go module proxy),
## helm (tools/charts), the check of the genuine chart packages, Checkov in a virtualenv of its own, and kube-score
## (tools/linters, from the Go module proxy; tests/test_linters_agreement.py builds it too when missing)
e2e-tools: venv
	$(BIN)/python -m tools.e2e.build
	$(BIN)/python -m tools.pipeline.build
	$(BIN)/python -m tools.nodes.build
	$(BIN)/python -m tools.nodes.bases
	$(BIN)/python -m tools.loop.build
	$(BIN)/python -m tools.charts.build
	$(BIN)/python -m tools.charts.packages
	$(BIN)/python -c "from tools.charts import checkov; print(checkov.install())"
	$(BIN)/python -m tools.linters.build

## pipeline: only the pipeline tier of make e2e: the generated Kafka, Filebeat and Elasticsearch configs in the real
## software (needs root for a private /etc/hosts per process, as CI has) -> build/e2e/report.json `pipeline`
pipeline: e2e-tools
	$(BIN)/python -m pytest tests/e2e/test_pipeline_*.py -m e2e

## bench: artifact size, layer reuse, synth scale (floor and cdk8s-plus peer), policy cost -> build/bench.json
bench: venv
	$(BIN)/python -m bench --out build/bench.json

## pulumi-yaml: regenerate Pulumi.yaml's config block from stacks/config.py
pulumi-yaml: venv
	$(BIN)/python -m stacks.config Pulumi.yaml

## schema: rewrite provider/schema.json, the package schema the provider derives from the components
schema: venv
	$(BIN)/python -m components.provider provider/schema.json

clean:
	rm -rf build .gosvc .pytest_cache .hypothesis
