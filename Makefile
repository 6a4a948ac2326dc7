# The commands a newcomer needs: `make demo`, `make test`, `make lab`. Each sets up .venv first.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fep-installed

.PHONY: setup test test-fast lab demo bench course course-assets

setup: $(STAMP)

# Re-installs only when pyproject.toml changes, so a second `make` costs nothing.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(VENV)/bin/ruff check fep tests benchmarks
	FEP_FAST=1 $(PY) -m pytest tests

# The inner loop while editing: everything but the tests marked slow (under a minute here).
test-fast: setup
	$(VENV)/bin/ruff check fep tests benchmarks
	FEP_FAST=1 $(PY) -m pytest tests -m "not slow" -q

# Re-running the demo replaces its own results/demo/ folder (--force); `fep demo` alone never overwrites.
demo: setup
	$(VENV)/bin/fep demo --force

# The course at real settings: times each notebook and renders docs/course/*.html with outputs (about 6 minutes).
course: setup
	$(PY) benchmarks/bench_notebooks.py

# The widget manager the rendered pages load from docs/course/assets/ (committed; this re-fetches it from npm).
HTML_MANAGER := @jupyter-widgets/html-manager@1.0.15
course-assets:
	cd /tmp && npm pack $(HTML_MANAGER) && rm -rf package && tar xzf jupyter-widgets-html-manager-1.0.15.tgz
	cp /tmp/package/dist/embed.js docs/course/assets/html-manager-embed.js
	cp /tmp/package/dist/embed.js.LICENSE.txt docs/course/assets/html-manager-embed.js.LICENSE.txt
	cp /tmp/package/dist/1551f4f60c37af51121f.woff2 /tmp/package/dist/7a3337626410ca2f4071.woff2 docs/course/assets/
	$(PY) benchmarks/_offline.py --strip-bundle docs/course/assets/html-manager-embed.js

# JupyterLab refuses to start as root unless told; root is normal in containers and on this project's machines.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(ALLOW_ROOT)

# TorchRay is a benchmark-only dependency (benchmarks/bench_torchray.py compares against it); it lives in the [bench] extra.
BENCH_STAMP := $(VENV)/.fep-bench-installed

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

# About an hour on a 2-core laptop CPU; results in results/performance/ (SUMMARY.md, JSON, plots).
bench: setup $(BENCH_STAMP)
	$(PY) benchmarks/bench_dct.py
	$(PY) benchmarks/bench_explain.py
	$(PY) benchmarks/bench_compile.py
	$(PY) benchmarks/bench_memory.py
	$(PY) benchmarks/bench_torchray.py
	$(PY) benchmarks/bench_convergence.py
	$(PY) benchmarks/bench_widgets.py
	$(PY) benchmarks/bench_auto.py
	$(PY) benchmarks/summarize.py
