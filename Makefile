# reloader: the two commands of the README are `make demo` and `make test`.
# Everything installs itself: a Python virtualenv from PyPI, the control plane from Go modules
# (built once into ~/.cache/reloader, keyed by the pinned versions).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLUSTER := $(PY) tools/cluster/cluster.py

.PHONY: all demo test lint unit integration cluster cluster-up cluster-down bench clean

all: test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

## Build (or reuse) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, helm.
cluster: venv
	$(CLUSTER) build

## Start a local cluster and leave it running (KUBECONFIG path printed); stop with `make cluster-down`.
cluster-up: cluster
	$(CLUSTER) up

cluster-down: venv
	$(CLUSTER) down

## The demo: a local cluster, the controller, a ConfigMap edit, a Deployment rolling.
demo: cluster
	$(CLUSTER) run --dir .cluster/demo -- bash tools/demo.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## Unit tests need no cluster, only helm (for the chart tests), built alone before pytest starts.
unit: venv
	bash tools/cluster/build.sh helm >/dev/null
	$(VENV)/bin/pytest tests/unit

integration: cluster
	$(VENV)/bin/pytest tests/integration

## Everything CI checks: lint, type checks, unit and integration tests against the real cluster,
## then the container image built with buildah and run against a local cluster.
test: lint cluster
	$(VENV)/bin/pytest
	bash tools/image/test.sh

## Benchmarks on fresh local clusters: `make bench [SCENARIOS="idle s1 s2"] [SCALE=0.1]
## [BENCH_CONTROLLER="cmd"] [BENCH_REF=HEAD] [COMPARE=reloader]`; the report (JSON, PNG, text)
## lands in .bench/latest/. COMPARE=reloader also runs every scenario with stakater/Reloader,
## built from the Go module pinned in tools/reference (cached like the control plane).
bench: cluster
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m tests.bench --scenarios "$(or $(SCENARIOS),all)" --scale "$(or $(SCALE),1)" \
		--out .bench $(if $(BENCH_CONTROLLER),--controller-cmd '$(BENCH_CONTROLLER)') \
		$(if $(BENCH_REF),--git-ref '$(BENCH_REF)') $(if $(COMPARE),--compare '$(COMPARE)')

clean:
	rm -rf $(VENV) .cluster .mypy_cache .ruff_cache .pytest_cache

## The container image: built by buildah (no daemon; a debootstrapped base cached in
## ~/.cache/reloader/image-base), run as uid 65532 against a local cluster (tests/e2e).
.PHONY: image-test
image-test: cluster
	bash tools/image/test.sh

## Fuzzing with new random examples on every run (make test uses fixed ones):
## `make fuzz [FUZZ_EXAMPLES=2000]`; a failure prints the example to add as an @example.
.PHONY: fuzz
fuzz: venv
	RELOADER_FUZZ_RANDOM=1 RELOADER_FUZZ_EXAMPLES="$${FUZZ_EXAMPLES:-2000}" $(VENV)/bin/pytest tests/unit/fuzz

## Reliability suites (tests/reliability; not part of `make test`, see docs/reliability.md):
## faults during a burst of 1,000 updates, the model-based test, the memory soak and the flood.
## `make reliability [SOAK_SECONDS=1800] [MODEL_SEEDS=1,2,3] [MODEL_STEPS=40]`
.PHONY: reliability
reliability: cluster
	RELOADER_SOAK_SECONDS="$${SOAK_SECONDS:-1800}" RELOADER_MODEL_SEEDS="$${MODEL_SEEDS:-1,2,3}" \
	RELOADER_MODEL_STEPS="$${MODEL_STEPS:-40}" $(VENV)/bin/pytest tests/reliability
