# The two commands of the README: `make run` and `make test`. Each creates .venv and installs into it
# what it needs on first use (again when pyproject.toml changes): a run needs the project, the tests
# also the test extra (pytest, hypothesis, numba, JAX, Ray, ruff).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run dev test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(PY) -m bench.run $(ARGS)

# the test extra installed into .venv, nothing run: for the contract check's tests, the benchmark suite or one
# test file of your own (.venv/bin/python -m pytest tests/test_real_models.py)
dev: $(TEST_STAMP)

# unit and end-to-end tests on every core (a test file per worker process), then the serial set alone
# (timed comparisons whose verdicts a busy neighbour could sway, signals, Ray clusters, git worktrees),
# then every benchmark case once, untimed, so the suite cannot rot
test: $(TEST_STAMP)
	$(PY) -m pytest -n auto --dist loadfile -m "not serial" $(PYTEST_ARGS)
	$(PY) -m pytest -m serial $(PYTEST_ARGS)
	$(PY) -m pytest benchmarks --benchmark-disable -q

# the pytest-benchmark suite, timed (docs/gate.md)
bench: $(TEST_STAMP)
	$(PY) -m pytest benchmarks --benchmark-only $(BENCH_ARGS)

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
