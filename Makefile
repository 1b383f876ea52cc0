# The two commands of the README: `make run` and `make test`. Both create .venv and install the
# project into it on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m bench.run $(ARGS)

# unit and end-to-end tests, then every benchmark case once, untimed, so the suite cannot rot
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY) -m pytest benchmarks --benchmark-disable -q

# the pytest-benchmark suite, timed (see README: CI performance tracking)
bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
