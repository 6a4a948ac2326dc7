# Two commands a newcomer needs: `make test` and `make lab`. Both set up .venv first.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fep-installed

.PHONY: setup test lab bench

setup: $(STAMP)

# Re-installs only when pyproject.toml changes, so a second `make` costs nothing.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(VENV)/bin/ruff check fep tests benchmarks
	$(PY) -m pytest

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

bench: setup
	$(PY) benchmarks/bench_dct.py
