# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Every install goes through constraints.txt so nothing can pull a CUDA torch.
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
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	$(PIP) check
	touch $@

demo: $(VENV)/.installed-test
	$(BIN)/gentransfer demo

# Two workers (the machine's two cores), one test file each at a time so module fixtures are built once.
test: $(VENV)/.installed-test
	$(PIP) check
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
