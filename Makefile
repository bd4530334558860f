# Two commands do everything on a fresh machine (see README): `make demo` and `make test`.
# Both install only what is missing, so they are safe to run again.
SHELL := /bin/bash
# Telehub runs on Python 3.11 to 3.13: the first of these on PATH that is one of them (3.12 first, the
# Lambda runtime's). `make test PYTHON=/path/to/python3.13` chooses another.
PYTHON_CANDIDATES := python3.12 python3.13 python3.11 python3
ifndef PYTHON
PYTHON := $(shell for candidate in $(PYTHON_CANDIDATES); do \
	$$candidate -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null \
	&& { command -v $$candidate; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled

.PHONY: setup web demo local test lint openapi synth bench clean chromium

setup: $(VENV)/.installed node_modules/.installed

# The stamp depends on pyproject.toml, so a changed pin reinstalls.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Telehub needs Python 3.11, 3.12 or 3.13 on PATH (python3.12, python3.13, python3.11 or python3)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "Telehub needs Node.js 20+ and npm for the AWS CDK CLI"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The clinician web app (web/): its own packages, installed again only when its lock changes; then the build
# into web/dist, which prints each file's gzipped size and fails over the 150 KB budget.
web/node_modules/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "Telehub needs Node.js 20+ and npm for the web app"; exit 1; }
	npm --prefix web ci --no-audit --no-fund --loglevel=error
	touch $@

web: web/node_modules/.installed  ## build the clinician web app into web/dist
	npm --prefix web run --silent build

demo: setup web  ## the main job: the embedded mode with the demo scenario (Ctrl-C stops it)
	$(BIN)/telehub local --demo

local: setup web  ## the embedded mode without the demo
	$(BIN)/telehub local

# The web app's browser tests drive this Chromium through Playwright, which downloads no browser of its own.
DEBIAN_CHROMIUM := /usr/bin/chromium
export TELEHUB_CHROMIUM ?= $(DEBIAN_CHROMIUM)

chromium:  ## the distribution's Chromium for the browser tests, installed with apt-get when missing (as root)
	@test -x "$(TELEHUB_CHROMIUM)" || { \
	  if [ "$(TELEHUB_CHROMIUM)" = "$(DEBIAN_CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the browser tests: apt-get install chromium"; \
	    { apt-cache show chromium >/dev/null 2>&1 || apt-get update -qq; } \
	    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  fi; \
	  test -x "$(TELEHUB_CHROMIUM)" || { echo "The browser tests need Chromium at $(TELEHUB_CHROMIUM):" \
	    "run 'sudo apt-get install -y chromium', or set TELEHUB_CHROMIUM to a Chromium executable"; exit 1; }; }

test: setup web chromium  ## lint, types, OpenAPI freshness, the web app's unit tests, every test tier (the browser tests in Chromium too)
	npm --prefix web test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m scripts.openapi --check
	$(BIN)/python -m pytest -n auto

openapi: setup  ## regenerate docs/openapi.json from the resolvers
	$(BIN)/python -m scripts.openapi

synth: setup web  ## synthesize the CloudFormation template (no AWS account, no docker needed; the web app is built first)
	npx cdk synth --quiet

bench: setup  ## benchmarks: cold-start imports, AWS requests and CPU per measurement, latency to the worklist, load with faults
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules cdk.out .build web/dist web/node_modules
