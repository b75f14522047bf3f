# Two commands do everything on a fresh machine:
#   make run   create .venv, install, run the whole default pipeline on the shipped sample
#   make test  create .venv, install, run the tests (a throw-away PostGIS is started when PostgreSQL+PostGIS
#              are installed; without them the PostGIS tests are skipped and listed, except under CI=true)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: install run test viz mlflow-ui benchmark clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

run: install
	time $(BIN)/kedro run

test: install
	$(BIN)/python -m pytest

viz: install
	$(BIN)/kedro viz run

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db

# The quick set (about 10 minutes on 2 cores); each script's --help gives the full-size options.
benchmark: install
	$(BIN)/python benchmarks/tiling.py
	$(BIN)/python benchmarks/merge.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/dask_scaling.py
	$(BIN)/python benchmarks/label_query.py
	$(BIN)/python benchmarks/reporting.py
	$(BIN)/python benchmarks/inference.py --repeat 1

clean:
	rm -rf data/02_intermediate data/03_primary data/04_feature data/05_model_input data/06_models \
	       data/07_model_output data/08_reporting
