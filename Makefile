# The README's two commands are `make demo` and `make test`; both set the
# machine up first (packages, venv, templates, the libvirt sandbox).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
SANDBOX := bash scripts/sandbox.sh
PYTEST_ARGS ?=

.PHONY: setup deps templates templates-all sandbox completion demo test unit functional check lint typecheck format bench clean-sandbox rpm docs docs-graph

setup: deps templates sandbox completion

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

# bash and zsh completion scripts under /usr/local/share
completion: deps
	bash scripts/install-completion.sh

# the HTML documentation and the lago(1) man page; warnings are errors
SPHINX := $(PY) -m sphinx -W --keep-going -q -d docs/_build/doctrees
docs: deps
	$(SPHINX) -b html docs docs/_build/html
	$(SPHINX) -b man docs docs/_build/man

# redraw docs/_static/two-nets.svg from a real two-network environment
docs-graph: setup
	$(SANDBOX) exec env LAGO_DOCS_GRAPH_SVG=$(CURDIR)/docs/_static/two-nets.svg \
		$(PY) -m pytest tests/functional/test_graph_completion.py -k two_networks -v

demo: setup
	$(SANDBOX) exec bash scripts/demo.sh

# the remote-host tests need the second libvirt daemon: started for the run
# and stopped after it, whatever the tests said
test: setup templates-all docs
	$(SANDBOX) start --remote
	$(SANDBOX) exec $(PY) -m pytest tests -v -rs $(PYTEST_ARGS); \
		status=$$?; $(SANDBOX) stop --remote; exit $$status

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
