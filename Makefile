# The README's two commands are `make demo` and `make test`; both set the
# machine up first (packages, venv, templates, the libvirt sandbox).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
SANDBOX := bash scripts/sandbox.sh
PYTEST_ARGS ?=

.PHONY: setup deps templates templates-all sandbox demo test unit functional check lint typecheck format bench clean-sandbox rpm

setup: deps templates sandbox

deps:
	bash scripts/install-deps.sh

templates: deps
	bash scripts/build-templates.sh

# debian12 needs the Debian mirror and a few minutes; its boot test skips
# (saying why) when it could not be built
templates-all: templates
	bash scripts/build-templates.sh --all || echo "WARNING: debian12 template not built; its test will be skipped" >&2

sandbox: deps
	$(SANDBOX) start

demo: setup
	$(SANDBOX) exec bash scripts/demo.sh

test: setup templates-all
	$(SANDBOX) exec $(PY) -m pytest tests -v -rs $(PYTEST_ARGS)

unit: deps
	$(PY) -m pytest tests/unit -q $(PYTEST_ARGS)

functional: setup
	$(SANDBOX) exec $(PY) -m pytest tests/functional -v -rs $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check lago tests scripts
	$(VENV)/bin/ruff format --check lago tests scripts

format: deps
	$(VENV)/bin/ruff format lago tests scripts
	$(VENV)/bin/ruff check --fix lago tests scripts

typecheck: deps
	$(VENV)/bin/mypy

# ruff (with the banned-api rule that keeps the core off lago.utils), mypy,
# then the unit tests (among them the import-graph test)
check: lint typecheck unit

bench: setup
	$(SANDBOX) exec $(PY) scripts/benchmark.py

etc/lago.conf: deps lago/config.py lago/cmd.py setup.cfg
	bash scripts/gen-lago-conf.sh > $@

clean-sandbox:
	$(SANDBOX) stop

rpm:
	bash scripts/build-rpm.sh
