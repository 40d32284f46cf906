# The model factory. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(abspath src)

PORT ?= 5555
# PIPELINE=<line> picks a model line in pipelines/<line>/; empty or landcover: the EuroSAT line at the root.
PIPELINE ?=
ifeq ($(PIPELINE),landcover)
override PIPELINE :=
endif
ifneq ($(PIPELINE),)
ifeq ($(wildcard pipelines/$(PIPELINE)/dvc.yaml),)
$(error no pipeline '$(PIPELINE)': pipelines/$(PIPELINE)/dvc.yaml does not exist (lines: landcover $(notdir $(wildcard pipelines/*))))
endif
endif
LINE_DIR := $(if $(PIPELINE),pipelines/$(PIPELINE),.)
DVCFILE := $(LINE_DIR)/dvc.yaml
LINE_ARG := $(if $(PIPELINE),--pipeline $(PIPELINE))
# `dvc exp run -S` names a param of another line's file as <file>:<key>.
PARAMS_PREFIX := $(if $(PIPELINE),$(LINE_DIR)/params.yaml:)
# A small sweep for `make exp`; on the real data each run is a full training run.
EXP_PARAMS ?= $(if $(PIPELINE),$(EXP_PARAMS_$(PIPELINE)),train.lr=0.05,0.1,0.2)
EXP_PARAMS_fire := train.forest.max_depth=8,10,12
EXP_PARAMS_seaice := train.forecaster.hidden=8,16,24
EXP_PARAMS_biomass := train.lr=0.001,0.002,0.004
JOBS ?= 1

.DEFAULT_GOAL := help
.PHONY: help setup repro repro-all demo test test-fast lint exp bench bucket publish verify-download models compare promote monitor serve predict examples s3-local clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# VENV=<path> of an environment you manage (a CI cache, a shared one): used as it is, nothing installed.
ifeq ($(VENV),.venv)
setup: $(VENV)/.installed ## Create .venv and install the pinned requirements (tests included)
else
setup:
	@test -x $(BIN)/python || { echo "error: VENV=$(VENV) has no bin/python; unset VENV to let make create .venv" >&2; exit 1; }
endif

# The package itself goes in editable, so `source .venv/bin/activate` alone runs `python -m modelmill.*`.
# The dvc.yaml commands still set PYTHONPATH: `dvc exp run --queue/--temp` runs each experiment in
# its own copy of the project, and that copy's code is the one it must run.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# ARCHIVE and NPROC set params of the line PIPELINE names, for this run (`dvc exp run -S`, which
# also writes them into that line's params.yaml, so that the run and the file agree). A line's
# data.archive is read from its own folder, so a local ARCHIVE is written there as an absolute path.
ifneq ($(and $(ARCHIVE),$(filter fire,$(PIPELINE))),)
$(error ARCHIVE: the fire line reads a CSV; set data.source: csv and data.csv in pipelines/fire/params.yaml)
endif
ifneq ($(and $(NPROC),$(filter fire,$(PIPELINE))),)
$(error NPROC: the fire line trains scikit-learn models, not torch ranks; drop NPROC for PIPELINE=fire)
endif
# The params that hold each torch line's ranks: the sea-ice line has one per model.
PROCESS_KEYS := $(if $(filter seaice,$(PIPELINE)),train.classifier.processes train.forecaster.processes train.change.processes,train.processes)
ARCHIVE_PARAM := $(if $(and $(PIPELINE),$(if $(findstring ://,$(ARCHIVE)),,local)),$(abspath $(ARCHIVE)),$(ARCHIVE))
SET_PARAMS := $(if $(ARCHIVE),-S $(PARAMS_PREFIX)data.source=archive -S '$(PARAMS_PREFIX)data.archive=$(ARCHIVE_PARAM)') \
	$(if $(NPROC),$(foreach key,$(PROCESS_KEYS),-S $(PARAMS_PREFIX)$(key)=$(NPROC)))

repro: setup ## Run a line's pipeline (only what changed); PIPELINE=fire picks a line; ARCHIVE=path|s3://... its data; NPROC=N ranks
	$(if $(strip $(SET_PARAMS)),dvc exp run $(SET_PARAMS) $(DVCFILE),dvc repro $(DVCFILE))
	@echo "Test metrics ($(LINE_DIR)/metrics/metrics.json; every line: dvc metrics show):"
	@python -m modelmill.summary $(LINE_DIR)/metrics/metrics.json
	@$(LOCK_REMINDER)

repro-all: setup ## Run every line's pipeline (only what changed)
	dvc repro --all-pipelines
	@$(foreach dir,. $(wildcard pipelines/*),$(call lock_reminder,$(dir));)

# DVC's workflow records a run by committing its dvc.lock (and params.yaml): `dvc pull` in a fresh
# clone, `dvc metrics diff`, `dvc exp show` and `make publish`'s provenance all read it from git.
lock_reminder = git diff --quiet HEAD -- $(1)/dvc.lock $(1)/params.yaml 2>/dev/null \
	&& git ls-files --error-unmatch $(1)/dvc.lock >/dev/null 2>&1 \
	|| echo "Record this run in git: git add $(1)/dvc.lock $(1)/params.yaml && git commit -m '...' (then dvc push)"
LOCK_REMINDER = $(call lock_reminder,$(LINE_DIR))

demo: setup ## The whole pipeline on synthetic data, offline, in build/demo (76 s on a 2-core EPYC)
	rm -rf build/demo && git clone --quiet . build/demo
	cd build/demo && dvc exp run -n demo -S data.source=synthetic -S train.epochs=5 -S train.progressive_epochs=0 \
	  -S train.batch_size=32 -S train.lr=0.01
	cd build/demo && dvc exp show --no-pager --md --only-changed --drop '.*per_class|.*confusion|.*/'

# Two pytest workers (pytest-xdist), each given whole files, so a file's module fixtures run once.
TEST_WORKERS ?= 2
test: setup ## Run the whole test suite (real dvc, git, torch and a loopback S3 server); prints the 15 slowest
	pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

test-fast: setup ## The edit loop: every test that starts no dvc repro, training run or server (-m "not e2e")
	pytest -m "not e2e" -n $(TEST_WORKERS) --durations=5

lint: setup ## ruff check and ruff format --check over src, tests and benchmarks, mypy over src (CI runs it first)
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	mypy

exp: setup ## Queue a small sweep (EXP_PARAMS, PIPELINE) and run it JOBS at a time; compare with dvc exp show
	dvc exp run $(DVCFILE) --queue -S '$(PARAMS_PREFIX)$(EXP_PARAMS)'
	dvc queue start --jobs $(JOBS)
	dvc queue status
	@echo "Runs continue in the background; follow with 'dvc queue logs <name>', compare with 'dvc exp show'."

bench: setup ## Benchmark speed and memory (BENCH_ARGS=--quick for a smoke run)
	python benchmarks/bench.py $(BENCH_ARGS)

bucket: setup ## Create the line's registry bucket if missing and make it private (idempotent)
	python -m modelmill.registry.bucket $(LINE_ARG)

publish: setup ## Upload the line's model + metadata.json as a new immutable registry version
	python -m modelmill.registry.publish $(LINE_ARG)

verify-download: setup ## Download a published version (VERSION=vN or an alias, default latest), check and load it
	python -m modelmill.registry.fetch $(LINE_ARG) $(if $(VERSION),--version $(VERSION))

# models/compare/promote: the registry's versions and aliases (VERSION=, A=, B=: vN, latest or an alias).
MODEL_GIVEN = $(filter command line environment,$(origin MODEL))

models: setup ## What the registry holds: every model; MODEL=… one model's versions, metrics, aliases and alias history; JSON=1 for scripts
	python -m modelmill.registry.models $(if $(MODEL_GIVEN),--model $(MODEL)) $(if $(JSON),--json)

compare: setup ## Compare two versions of a model: MODEL=… A=v2 B=v3 (vN, latest or an alias): the metrics, params and identity that differ
	$(if $(and $(A),$(B)),,$(error make compare needs A=… B=… (vN, latest or an alias name)))
	python -m modelmill.registry.compare --model $(MODEL) $(A) $(B) $(if $(JSON),--json)

promote: setup ## Point an alias at a complete version: MODEL=… VERSION=v3 ALIAS=production [REASON=…]; roll back by promoting the older version
	$(if $(and $(MODEL_GIVEN),$(VERSION),$(ALIAS)),,$(error make promote needs MODEL=… VERSION=… ALIAS=…))
	python -m modelmill.registry.promote --model $(MODEL) --version $(VERSION) --alias $(ALIAS) $(if $(REASON),--reason '$(subst ','\'',$(REASON))')

# serve/predict: a published model. MODEL: a registry name; VERSION=vN or an alias (default latest);
# SOURCE=local: this workspace's own pipeline outputs instead of the registry.
# WORKERS=N server processes (default: one per core); FOLLOW=30s: switch to where the alias VERSION moves.
MODEL ?= eurosat-resnet18
SERVE_ARGS = --model $(MODEL) $(if $(VERSION),--version $(VERSION)) $(if $(SOURCE),--source $(SOURCE))
# PORT's default (5555) is s3-local's; serve uses 8080 unless PORT is given.
SERVE_PORT = $(if $(filter command line environment,$(origin PORT)),$(PORT),8080)

serve: setup ## Serve a published model over HTTP: MODEL=… VERSION=vN|alias PORT=8080 WORKERS=N FOLLOW=30s CAPTURE=dir|s3://… CAPTURE_RATE=0.1 SOURCE=local
	python -m modelmill.serve $(SERVE_ARGS) --port $(SERVE_PORT) $(if $(WORKERS),--workers $(WORKERS)) $(if $(FOLLOW),--follow $(FOLLOW)) \
	  $(if $(CAPTURE),--capture $(CAPTURE)) $(if $(CAPTURE_RATE),--capture-rate $(CAPTURE_RATE))

monitor: setup ## Drift report of what a server captured: MODEL=… [VERSION=vN|alias] CAPTURE=dir|s3://… [SINCE=24h]; exits 3 on drift
	$(if $(and $(MODEL_GIVEN),$(CAPTURE)),,$(error make monitor needs MODEL=… and CAPTURE=… (what make serve CAPTURE= wrote)))
	python -m modelmill.monitor --model $(MODEL) $(if $(VERSION),--version $(VERSION)) --capture $(CAPTURE) --out monitor $(if $(SINCE),--since $(SINCE))

predict: setup ## Predict a folder of tiles or a CSV of rows: MODEL=… INPUT=… OUTPUT=… [VERSION=vN] [SOURCE=local]
	python -m modelmill.serve.predict $(SERVE_ARGS) --input $(INPUT) --output $(OUTPUT)

examples: setup ## Write tiny inputs to try serve and predict on into examples/ (one or more for every model of every line)
	python -m modelmill.examples

s3-local: setup ## Start a private S3 server on 127.0.0.1 (PORT=5555) for trying the S3 flow by hand
	python -m modelmill.registry.s3local --port $(PORT)

clean: ## Remove the line's pipeline outputs and build/ (the DVC cache is kept: `dvc checkout` restores)
	cd $(LINE_DIR) && rm -rf data/raw data/prepared $(if $(PIPELINE),data) models metrics
	rm -rf build
