# The model factory. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(abspath src)

# A value as it was given (command line or environment): $(value NAME) keeps a `$(…)` in it
# literal, where $(NAME) would have make run it before any shell saw it.
v = $(value $(1))
# Text as one shell word, whatever it holds (spaces, quotes, $): single-quoted, each ' as '\''.
sq = '$(subst ','\'',$(1))'
# A variable's value, as given, as one shell word: every single value a recipe passes on goes
# through this (MODEL, VERSION, ALIAS, CAPTURE, INPUT, …); BENCH_ARGS is a list of options,
# EXP_PARAMS a list of KEY=VALUES (each its own -S).
q = $(call sq,$(value $(1)))

PORT ?= 5555
# PIPELINE=<line> picks a model line in pipelines/<line>/; empty or landcover: the land-cover line at the root.
PIPELINE ?=
ifeq ($(value PIPELINE),landcover)
override PIPELINE :=
endif
ifneq ($(value PIPELINE),)
ifeq ($(wildcard pipelines/$(value PIPELINE)/dvc.yaml),)
$(error no pipeline '$(value PIPELINE)': pipelines/$(value PIPELINE)/dvc.yaml does not exist (lines: landcover $(notdir $(wildcard pipelines/*))))
endif
endif
LINE_DIR := $(if $(PIPELINE),pipelines/$(PIPELINE),.)
DVCFILE := $(LINE_DIR)/dvc.yaml
LINE_ARG := $(if $(PIPELINE),--pipeline $(PIPELINE))
# `dvc exp run -S` names a param of another line's file as <file>:<key>.
PARAMS_PREFIX := $(if $(PIPELINE),$(LINE_DIR)/params.yaml:)
# A small sweep for `make exp`, KEY=VALUES separated by spaces (each one -S, with the line's file
# named); on the real data each run is a full training run.
EXP_PARAMS ?= $(if $(PIPELINE),$(EXP_PARAMS_$(PIPELINE)),train.lr=0.05,0.1,0.2)
EXP_PARAMS_fire := train.forest.max_depth=8,10,12
EXP_PARAMS_seaice := train.forecaster.hidden=8,16,24
EXP_PARAMS_biomass := train.lr=0.001,0.002,0.004
JOBS ?= 1

.DEFAULT_GOAL := help
.PHONY: help setup repro repro-all join demo test test-fast lint exp bench bucket publish verify-download models compare promote monitor serve replay predict ui examples s3-local clean

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
ifneq ($(and $(value ARCHIVE),$(filter fire,$(PIPELINE))),)
$(error ARCHIVE: the fire line reads a CSV; set data.source: csv and data.csv in pipelines/fire/params.yaml)
endif
ifneq ($(and $(value NPROC)$(value NNODES),$(filter fire,$(PIPELINE))),)
$(error NPROC/NNODES: the fire line trains scikit-learn models, not torch ranks; drop them for PIPELINE=fire)
endif
# The params that hold each torch line's ranks: the sea-ice line has one per model.
PROCESS_KEYS := $(if $(filter seaice,$(PIPELINE)),train.classifier.processes train.forecaster.processes train.change.processes,train.processes)
# (abspath splits its argument at spaces: a path with one is joined to the current folder instead.)
abs = $(if $(word 2,$(1)),$(if $(filter /%,$(firstword $(1))),,$(CURDIR)/)$(1),$(abspath $(1)))
ARCHIVE_PARAM := $(if $(and $(PIPELINE),$(if $(findstring ://,$(value ARCHIVE)),,local)),$(call abs,$(value ARCHIVE)),$(value ARCHIVE))
SET_PARAMS := $(if $(value ARCHIVE),-S $(PARAMS_PREFIX)data.source=archive -S $(call sq,$(PARAMS_PREFIX)data.archive=$(ARCHIVE_PARAM))) \
	$(if $(value NPROC),$(foreach key,$(PROCESS_KEYS),-S $(call sq,$(PARAMS_PREFIX)$(key)=$(value NPROC))))

# NNODES=N trains across N machines, each a clone of the project (docs/scaling.md): this one is
# the head (rank 0, which writes the outputs and dvc.lock); the others run make join. HEAD=host:port
# is where they reach it (default: this host's name, port 29400); MAX_RESTARTS=N lets torchrun
# relaunch every node's processes after a failure, resuming from the last checkpoint;
# JOIN_TIMEOUT=S is how long the nodes have to meet (default 600 s) before the stage stops.
STAGE ?= train
NODES_ENV = $(if $(call v,NNODES),MODELMILL_NODES=$(call q,NNODES)) $(if $(call v,HEAD),MODELMILL_HEAD=$(call q,HEAD)) \
	$(if $(call v,MAX_RESTARTS),MODELMILL_MAX_RESTARTS=$(call q,MAX_RESTARTS)) \
	$(if $(call v,JOIN_TIMEOUT),MODELMILL_JOIN_TIMEOUT=$(call q,JOIN_TIMEOUT))

repro: setup ## Run a line's pipeline (only what changed); PIPELINE=fire picks a line; ARCHIVE=path|s3://... its data; NPROC=N ranks; NNODES=N machines
	$(if $(call v,NNODES),python -m modelmill.nodes share $(LINE_ARG) --stage=$(call q,STAGE))
	$(strip $(NODES_ENV)) $(if $(strip $(SET_PARAMS)),dvc exp run $(SET_PARAMS) $(DVCFILE),dvc repro $(DVCFILE))
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
	cd build/demo && dvc exp show --no-pager --md --only-changed --drop '.*per_class|.*confusion|[^:]*/[^:]*$$'

# Two pytest workers (pytest-xdist), each given whole files, so a file's module fixtures run once.
TEST_WORKERS ?= 2
test: setup ## Run the whole test suite (real dvc, git, torch and a loopback S3 server); prints the 15 slowest
	pytest -n $(call q,TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

test-fast: setup ## The edit loop: every test that starts no dvc repro, training run or server (-m "not e2e")
	pytest -m "not e2e" -n $(call q,TEST_WORKERS) --durations=5

lint: setup ## ruff check and ruff format --check over src, tests and benchmarks, mypy over src (CI runs it first)
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	mypy

exp: setup ## Queue a small sweep (EXP_PARAMS, PIPELINE) and run it JOBS at a time; compare with dvc exp show
	$(if $(strip $(EXP_PARAMS)),,$(error make exp needs EXP_PARAMS=KEY=VALUES, e.g. train.lr=0.001,0.002 (it was empty, and a line without EXP_PARAMS_<line> here has no default sweep)))
	dvc exp run $(DVCFILE) --queue $(foreach p,$(EXP_PARAMS),-S $(call sq,$(PARAMS_PREFIX)$(p)))
	dvc queue start --jobs=$(call q,JOBS)
	dvc queue status
	@echo "Runs continue in the background; follow with 'dvc queue logs <name>', compare with 'dvc exp show'."

join: setup ## On another machine, train with the head as one of NNODES nodes: HEAD=host:port NNODES=N [PIPELINE=…] [STAGE=…: the head prints the whole line] [MAX_RESTARTS=N] [JOIN_TIMEOUT=S]
	@test -n "$(call v,HEAD)" || { echo "error: make join needs HEAD=host:port (what make repro NNODES=… printed on the head)" >&2; exit 1; }
	MODELMILL_NODE_ROLE=join $(strip $(NODES_ENV)) python -m modelmill.nodes join $(LINE_ARG) --stage=$(call q,STAGE)

bench: setup ## Benchmark speed and memory (BENCH_ARGS=--quick for a smoke run)
	python benchmarks/bench.py $(BENCH_ARGS)

bucket: setup ## Create the line's registry bucket if missing and make it private (idempotent)
	python -m modelmill.registry.bucket $(LINE_ARG)

publish: setup ## Upload the line's model + metadata.json as a new immutable registry version
	python -m modelmill.registry.publish $(LINE_ARG)

verify-download: setup ## Download a published version (VERSION=vN or an alias, default latest; MODEL=… one of a line's several), check and load it
	python -m modelmill.registry.fetch $(LINE_ARG) $(if $(call v,VERSION),--version=$(call q,VERSION)) $(if $(MODEL_GIVEN),--model=$(call q,MODEL))

# models/compare/promote: the registry's versions and aliases (VERSION=, A=, B=: vN, latest or an alias).
MODEL_GIVEN = $(filter command line environment,$(origin MODEL))

models: setup ## What the registry holds: every model; MODEL=… one model's versions, metrics, aliases and alias history; JSON=1 for scripts
	python -m modelmill.registry.models $(if $(MODEL_GIVEN),--model=$(call q,MODEL)) $(if $(call v,JSON),--json)

compare: setup ## Compare two versions of a model: MODEL=… A=v2 B=v3 (vN, latest or an alias): the metrics, params and identity that differ
	$(if $(and $(MODEL_GIVEN),$(call v,A),$(call v,B)),,$(error make compare needs MODEL=… A=… B=… (vN, latest or an alias name)))
	python -m modelmill.registry.compare --model=$(call q,MODEL) $(if $(call v,JSON),--json) -- $(call q,A) $(call q,B)

promote: setup ## Point an alias at a complete version: MODEL=… VERSION=v3 ALIAS=production [REASON=…]; roll back by promoting the older version
	$(if $(and $(MODEL_GIVEN),$(call v,VERSION),$(call v,ALIAS)),,$(error make promote needs MODEL=… VERSION=… ALIAS=…))
	python -m modelmill.registry.promote --model=$(call q,MODEL) --version=$(call q,VERSION) --alias=$(call q,ALIAS) \
	  $(if $(call v,REASON),--reason=$(call q,REASON))

# serve/predict: a published model. MODEL: a registry name; VERSION=vN or an alias (default latest);
# SOURCE=local: this workspace's own pipeline outputs instead of the registry.
# WORKERS=N server processes (default: one per core); FOLLOW=30s: switch to where the alias VERSION moves.
MODEL ?= eurosat-resnet18
SERVE_ARGS = --model=$(call q,MODEL) $(if $(call v,VERSION),--version=$(call q,VERSION)) \
	$(if $(call v,SOURCE),--source=$(call q,SOURCE))
# PORT's default (5555) is s3-local's; serve uses 8080 unless PORT is given.
SERVE_PORT = $(if $(filter command line environment,$(origin PORT)),$(call q,PORT),8080)

serve: setup ## Serve a published model over HTTP: MODEL=… VERSION=vN|alias PORT=8080 WORKERS=N FOLLOW=30s CAPTURE=dir|s3://… CAPTURE_RATE=0.1 SOURCE=local
	python -m modelmill.serve $(SERVE_ARGS) --port=$(SERVE_PORT) $(if $(call v,WORKERS),--workers=$(call q,WORKERS)) \
	  $(if $(call v,FOLLOW),--follow=$(call q,FOLLOW)) $(if $(call v,CAPTURE),--capture=$(call q,CAPTURE)) \
	  $(if $(call v,CAPTURE_RATE),--capture-rate=$(call q,CAPTURE_RATE))

# A failed recipe always makes make exit 2, drift or error alike: make monitor's last line says
# which it was, and schedulers (cron, Airflow) run the command it prints, which exits 0 (no
# drift), 3 (drift) or 1 (an error).
MONITOR = python -m modelmill.monitor --model=$(call q,MODEL) $(if $(call v,VERSION),--version=$(call q,VERSION)) \
	--capture=$(call q,CAPTURE) --out monitor $(if $(call v,SINCE),--since=$(call q,SINCE))

monitor: setup ## Drift report of what a server captured: MODEL=… [VERSION=vN|alias] CAPTURE=dir|s3://… [SINCE=24h]; last line: drift or not (schedulers: python -m modelmill.monitor, exit 0/3/1)
	$(if $(and $(MODEL_GIVEN),$(call v,CAPTURE)),,$(error make monitor needs MODEL=… and CAPTURE=… (what make serve CAPTURE= wrote)))
	@echo $(call sq,$(MONITOR))
	@$(MONITOR); status=$$?; case $$status in \
	  0) echo "monitor: no drift (exit 0)";; \
	  3) echo "monitor: DRIFT (exit 3; make fails for it with its own status 2: schedulers run the command above)";; \
	  *) echo "monitor: error (exit $$status)";; \
	esac; exit $$status

replay: setup ## Send a model's reference inputs (its test split) to a running server, one per request: MODEL=… [PORT=8080] [ROWS=N]
	$(if $(MODEL_GIVEN),,$(error make replay needs MODEL=… (the model the server at PORT answers for)))
	python -m modelmill.serve.replay --model=$(call q,MODEL) --url http://127.0.0.1:$(SERVE_PORT) $(if $(call v,ROWS),--rows=$(call q,ROWS))

predict: setup ## Predict a batch: a folder of images (land cover, biomass), a CSV of rows (fire) or a .npy array (sea ice): MODEL=… INPUT=… OUTPUT=… [VERSION=vN] [SOURCE=local]
	$(if $(and $(call v,INPUT),$(call v,OUTPUT)),,$(error make predict needs INPUT=… (a folder of images or a CSV) and OUTPUT=… (the CSV to write)))
	python -m modelmill.serve.predict $(SERVE_ARGS) --input=$(call q,INPUT) --output=$(call q,OUTPUT)

ui: setup ## The registry in a browser, read-only: lines, versions, aliases, metrics, drift, try it (PORT=8090 [CAPTURE=s3://…])
	python -m modelmill.ui --port=$(if $(filter command line environment,$(origin PORT)),$(call q,PORT),8090) \
	  $(if $(call v,CAPTURE),--capture=$(call q,CAPTURE))

examples: setup ## Write tiny inputs to try serve and predict on into examples/ (one or more for every model of every line)
	python -m modelmill.examples

s3-local: setup ## Start a private S3 server on 127.0.0.1 (PORT=5555) for trying the S3 flow by hand
	python -m modelmill.registry.s3local --port=$(call q,PORT)

clean: ## Remove the line's pipeline outputs and build/ (the DVC cache is kept: `dvc checkout` restores)
	cd $(LINE_DIR) && rm -rf data/raw data/prepared data/.params-checked $(if $(PIPELINE),data) models metrics
	rm -rf build
