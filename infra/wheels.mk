# Shared by the layer Makefiles that `sam build` runs (BuildMethod: makefile).
#
# How SAM runs them: it copies the layer's ContentUri to a scratch folder (skipping only .aws-sam and
# .git), then runs `make --makefile <Makefile> build-<LogicalId>` in that scratch folder with
# ARTIFACTS_DIR set. The Makefile is the one in ContentUri, or in `Metadata.ContextPath` when set; its
# path is the original one in the repository, so $(MAKEFILE_LIST) locates the repository.
#
# Wheels are fetched for the Lambda platform, not for this machine: python3.12 on x86_64 runs on
# Amazon Linux 2023 (glibc 2.34), so manylinux2014 (glibc 2.17) up to manylinux_2_34 wheels load there.
# Versions come from the repository's constraints.txt, the same ones the tests run with. `--no-deps`
# keeps each layer to its explicit list; infra/smoke_layers.py proves nothing is missing.

REPO ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
ifndef ARTIFACTS_DIR
$(error ARTIFACTS_DIR is not set: this Makefile is run by `sam build`)
endif
# What Lambda mounts as /opt/python (on sys.path).
LAYER_PYTHON = $(ARTIFACTS_DIR)/python
LAMBDA_PLATFORMS := manylinux2014_x86_64 manylinux_2_28_x86_64 manylinux_2_34_x86_64
PYTHON ?= $(firstword $(wildcard $(REPO)/.venv-sam/bin/python $(REPO)/.venv/bin/python) python3)
PIP_LAMBDA = $(PYTHON) -m pip install --disable-pip-version-check --quiet --no-deps --no-compile \
	$(addprefix --platform ,$(LAMBDA_PLATFORMS)) --implementation cp --python-version 3.12 \
	--only-binary=:all: -c $(REPO)/constraints.txt

# Byte-code compiled ahead of time with unchecked-hash pycs: /opt is read-only on Lambda, and zip
# archives round modification times, so timestamp-checked pycs would be ignored at every cold start.
COMPILE = $(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash

# Remove what never runs on Lambda: test suites, console scripts, type stubs.
define prune
	find $(1) -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
	find $(1) -name '*.pyi' -delete
	rm -rf $(1)/bin
endef

# $(call install_requirements,FILE): an empty $(LAYER_PYTHON) with the wheels FILE lists.
define install_requirements
	rm -rf $(LAYER_PYTHON)
	mkdir -p $(LAYER_PYTHON)
	$(PIP_LAMBDA) --target $(LAYER_PYTHON) -r $(1)
endef

# $(finish_layer): prune $(LAYER_PYTHON), then compile it.
define finish_layer
	$(call prune,$(LAYER_PYTHON))
	$(COMPILE) $(LAYER_PYTHON)
endef
