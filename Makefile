# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# `make demo` installs the runtime dependencies only; `make test` adds the test extras.
# Every install goes through constraints.txt, which pins torch==2.13.0 (the version, not the
# build: a package index that serves CUDA wheels by default still gives the CUDA build; README).
# Another interpreter (3.11 or newer): make demo PYTHON=python3
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

# Point the data root at the shared read-only copies when they sit beside the repo.
ifneq ($(wildcard ../shared/data),)
export GENTRANSFER_DATA ?= $(abspath ../shared/data)
endif

.PHONY: demo test lint clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; name a Python 3.11 or newer, e.g. make $(or $(MAKECMDGOALS),demo) PYTHON=python3"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "$(PYTHON) is older than 3.11; name a Python 3.11 or newer, e.g. make $(or $(MAKECMDGOALS),demo) PYTHON=python3.12"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# the runtime dependencies only (pyproject's [project] dependencies): what `gentransfer demo` needs
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e .
	$(PIP) check
	touch $@

# the runtime dependencies and the test extras (pytest, xdist, ruff, and the optional extras the tests cover);
# a superset of the runtime install, so it stamps that one too
$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	$(PIP) check
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/gentransfer demo

# Two workers (the machine's two cores), one test file each at a time so module fixtures are built once.
test: $(VENV)/.installed-test
	$(PIP) check
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
