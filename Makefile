# kronbench — `make demo` sets up and runs a real small fine-tune; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned for a reproducible install (CPU wheel here, CUDA wheel from PyPI elsewhere); override at will:
#   make install TORCH_SPEC='torch>=2.4'
TORCH_SPEC ?= torch==2.13.0
SHARED ?= $(abspath ../shared)
# local task data when ../shared is beside the checkout; otherwise data comes from the Hugging Face hub
DATA_DIR ?= $(if $(wildcard $(SHARED)/data),$(SHARED)/data,null)
export KRONBENCH_SHARED := $(SHARED)
export TOKENIZERS_PARALLELISM := false
PYTEST_ARGS ?=

.PHONY: install demo test test-slow lint format tables bench bench-trainer clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev,launchers]"
	touch $@

demo: install  ## MiniLM + KronA on RTE: 512 training examples, one epoch, CPU-sized; record under outputs/demo-results
	$(BIN)/python -m kronbench method=krona task=glue/rte train=demo data_dir=$(DATA_DIR) output_dir=outputs/demo-results force=true

test: install  ## the default suite (slow tests excluded)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: install  ## the slow end-to-end tests only
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check kronbench tests scripts
	$(BIN)/ruff format --check kronbench tests scripts

format: install
	$(BIN)/ruff check --fix kronbench tests scripts
	$(BIN)/ruff format kronbench tests scripts

tables: install  ## render results/tables/* and results/README.md from the committed records
	$(BIN)/python -m kronbench.tables

bench: install  ## speed/memory benchmarks (run on a GPU); records under results/bench/
	$(BIN)/python -m kronbench.bench

bench-trainer: install  ## the real trainer's speed, eager vs compiled (run on a GPU); records under results/bench/trainer/
	$(BIN)/python -m kronbench.bench_trainer

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
