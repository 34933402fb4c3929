# lakescore - the two commands of the quickstart are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= conf/flights.yml
AS_OF  ?= 2013-12-01
STAMP  := $(VENV)/.installed
# xdist workers of `make test` and `make slow` (a file, or every reader of the end-to-end home,
# runs on one worker: tests/conftest.py); WORKERS=0 runs in this process
WORKERS ?= 2
XDIST   := $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadgroup)
# the 25 slowest tests and fixtures of each run, at its end (where the suite's time goes)
DURATIONS ?= --durations=25

.PHONY: demo test lint slow reliability cluster setup clean clean-demo bench bench-scale

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || (echo "python3.11 not found: set PYTHON=python3.11 or python3.12"; exit 1)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev,demo]'
	$(BIN)/lakescore spark-defaults
	touch $(STAMP)

setup: $(STAMP)

## demo: set up, then run every stage of the flights use case for AS_OF on the local runtime, and
##       monitor for the next day (the first run that knows the labels of AS_OF's flights)
demo: $(STAMP)
	$(BIN)/lakescore run all --config $(CONFIG) --as-of $(AS_OF)
	$(BIN)/lakescore run monitor --config $(CONFIG) --as-of $$($(BIN)/python -c \
	  "import datetime as d; print(d.date.fromisoformat('$(AS_OF)') + d.timedelta(days=1))")
	$(BIN)/lakescore sql --config $(CONFIG) \
	  "SELECT as_of, model_name, model_version, count(*) AS predictions, round(avg(score), 4) AS mean_score FROM predictions GROUP BY ALL ORDER BY as_of"

## test: set up, then run the test suite (on WORKERS=2 xdist workers)
test: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) $(DURATIONS) $(PYTEST_ARGS)

## lint: ruff (configured in pyproject.toml) over the code, the tests, the notebooks and the benchmarks
lint: $(STAMP)
	$(BIN)/ruff check .

## slow: the multi-stage scenario tests (marker `slow`, left out of `make test` to keep it near 10 minutes)
slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(XDIST) $(DURATIONS) $(PYTEST_ARGS)

## reliability: the slow fault-injection suite (marker `reliability`, left out of `make test`)
## (two processes side by side: the 10,000 raw batches, which need no reference home, beside the
## tests that share the reference home: kill -9, re-runs, broken models; both must pass)
RAW_VOLUME := tests/reliability/test_raw_volume.py
reliability: $(STAMP)
	@PYTHONUNBUFFERED=1 $(BIN)/python -m pytest -m reliability -s $(PYTEST_ARGS) $(RAW_VOLUME) & raw=$$!; \
	PYTHONUNBUFFERED=1 $(BIN)/python -m pytest -m reliability -s $(PYTEST_ARGS) tests/reliability \
	  --ignore=$(RAW_VOLUME); rest=$$?; wait $$raw; volume=$$?; \
	echo "reliability: reference-home tests exit $$rest, raw volume exit $$volume"; \
	test $$rest -eq 0 -a $$volume -eq 0

## cluster: `run all` on the tiny use case against a Spark standalone cluster (a master and two
##          workers started from pyspark's launcher classes; marker `cluster`, left out of `make test`)
cluster: $(STAMP)
	$(BIN)/python -m pytest -m cluster $(PYTEST_ARGS) tests/cluster

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

## bench-scale: every stage against its I/O floor and the pandas + scikit-learn baseline, on
##              generated flights (SIZES; data cached by seed and size): benchmarks/results/scale-*
SIZES ?= 1000000,10000000
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/run.py --sizes $(SIZES)

clean-demo:
	rm -rf .lakescore

clean: clean-demo
	rm -rf $(VENV) .pytest_cache build *.egg-info
