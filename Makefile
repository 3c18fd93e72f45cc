# Two entry points (see README): `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/mario.yaml

.PHONY: setup run test clean

setup: $(STAMP)

# torch==2.13.0 first: it is the CPU wheel on this kind of machine, and it satisfies the
# project's torch range, so the editable install below pulls no multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,box2d]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/muzero-lite run --config $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) build *.egg-info
