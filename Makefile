# Two commands on a fresh machine: `make demo` and `make test`. `make docs` builds the documentation site into site/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: install test lint demo bench docs clean

install: $(STAMP)

# torch is pinned and installed first (a CPU wheel here); the package itself declares a range.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev,docs]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools examples

test: lint
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -n 2 --dist loadfile

demo: $(STAMP)
	MPLBACKEND=Agg $(BIN)/genzoo demo --out runs/demo

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache
