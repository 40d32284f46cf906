# The model factory. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(abspath src)

PORT ?= 5555
# A small sweep for `make exp`; on the real data each run is a full training run.
EXP_PARAMS ?= train.lr=0.05,0.1,0.2

.DEFAULT_GOAL := help
.PHONY: help setup repro demo test exp bench bucket publish verify-download s3-local clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(VENV)/.installed ## Create .venv and install the pinned requirements (tests included)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

repro: setup ## Run the pipeline (only what changed); ARCHIVE=path|s3://... uses a local copy of EuroSAT
	$(if $(ARCHIVE),dvc exp run -S data.source=archive -S 'data.archive=$(ARCHIVE)',dvc repro)
	@echo "Test metrics (all of them: dvc metrics show; per class: metrics/metrics.json):"
	@grep -E '^  "(accuracy|macro_f1|loss)"' metrics/metrics.json

demo: setup ## The whole pipeline on synthetic data, offline, in build/demo (a few minutes)
	rm -rf build/demo && git clone --quiet . build/demo
	cd build/demo && dvc exp run -n demo -S data.source=synthetic -S train.epochs=5 -S train.progressive_epochs=0 \
	  -S train.batch_size=32 -S train.lr=0.01
	cd build/demo && dvc exp show --no-pager --md --only-changed --drop 'per_class|.*/'

test: setup ## Run the test suite (real dvc, git, torch and a loopback S3 server)
	pytest

exp: setup ## Queue and run a small sweep (EXP_PARAMS), then compare with dvc exp show
	dvc exp run --queue -S '$(EXP_PARAMS)'
	dvc queue start --jobs 1
	dvc queue status
	@echo "Runs continue in the background; follow with 'dvc queue logs <name>', compare with 'dvc exp show'."

bench: setup ## Benchmark speed and memory (BENCH_ARGS=--quick for a smoke run)
	python benchmarks/bench.py $(BENCH_ARGS)

bucket: setup ## Create the registry bucket if missing and make it private (idempotent)
	python -m landcover.bucket

publish: setup ## Upload the model + metadata.json as a new immutable registry version
	python -m landcover.publish

verify-download: setup ## Download a published version (VERSION=vN, default latest), check and load it
	python -m landcover.verify_download $(if $(VERSION),--version $(VERSION))

s3-local: setup ## Start a private S3 server on 127.0.0.1 (PORT=5555) for trying the S3 flow by hand
	python -m landcover.s3local --port $(PORT)

clean: ## Remove pipeline outputs and build/ (the DVC cache is kept: `dvc checkout` restores)
	rm -rf data/raw data/prepared models metrics build
