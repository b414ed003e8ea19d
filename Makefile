# SynapticNet — the two commands the README gives are `make reproduce` and `make test`.
# Both bootstrap a virtual environment from requirements.txt on first use; a stamp file
# makes the second run instant (delete .venv/ or touch requirements.txt to rebuild).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-requirements

.PHONY: help env test test-unit reproduce bench lab clean

help:
	@echo "make test       unit tests (offline, synthetic data)"
	@echo "make reproduce  re-run every notebook and regenerate figures/"
	@echo "make bench      benchmark scripts -> figures/bench/*.json"
	@echo "make lab        open JupyterLab"
	@echo "make clean      remove build files (not figures/)"

env: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

reproduce: $(STAMP)
	@echo "make reproduce: the notebooks are not written yet (issue #5); nothing was reproduced." >&2
	@exit 1

bench: $(STAMP)
	$(PY) scripts/bench_layers.py
	$(PY) scripts/bench_data.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build/ .pytest_cache/ *.egg-info synapticnet/__pycache__ tests/__pycache__ notebooks/.ipynb_checkpoints
