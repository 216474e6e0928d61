# Two commands matter: `make dev` (run the local stack; `make web` adds the dashboard) and `make test` (run every test).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 matches the Lambda runtime in template.yaml; any 3.12+ works for development.
PYTHON ?= $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python python3.13 python3.12 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
WEB_PORT ?= 3000
PYTEST_ARGS ?=
WEB := frontend
WEB_STAMP := $(WEB)/node_modules/.package-lock.json

.PHONY: help install dev web web-build web-test chat test lint dynamodb-local bench clean

help:
	@echo "make dev    - run the local stack on http://127.0.0.1:$(PORT) (embedded DynamoDB; the local"
	@echo "              model unless OPENAI_API_KEY is set, then OpenAI; MODEL_PROVIDER=... to choose)"
	@echo "make web    - make dev plus the dashboard (front end) on http://127.0.0.1:$(WEB_PORT)"
	@echo "make chat   - chat with it from this terminal (USER=alice, THREAD=thr_... to resume)"
	@echo "make test   - install everything and run the whole test suite (incl. DynamoDB Local)"
	@echo "make lint   - ruff + mypy + the import contracts (lint-imports) + the front end's tsc"
	@echo "make bench  - print the benchmark figures"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12+ is required (pyenv install 3.13)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	PORT=$(PORT) $(BIN)/todo-dev

# The front end: npm ci from package-lock.json, a static export built against the local stack.
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=9)?0:1)' \
	  || { echo "Node.js 20.9+ is required for the front end (next 16)" >&2; exit 1; }
	cd $(WEB) && npm ci --no-audit --no-fund
	@touch $(WEB_STAMP)

web-build: $(WEB_STAMP)
	cd $(WEB) && NEXT_TELEMETRY_DISABLED=1 NEXT_PUBLIC_CHATKIT_URL=http://127.0.0.1:$(PORT) \
	  NEXT_PUBLIC_SESSION_URL=http://127.0.0.1:$(PORT) node_modules/.bin/next build
	@test -f $(WEB)/out/index.html || { echo "next build wrote no $(WEB)/out/index.html" >&2; exit 1; }

web: $(STAMP) web-build
	PORT=$(PORT) WEB_PORT=$(WEB_PORT) bash scripts/run-web.sh

# Unit tests (vitest), then the browser tests: they build the export against a local stack
# they start themselves and drive Debian's chromium (apt-get install chromium).
web-test: $(STAMP) $(WEB_STAMP)
	@command -v $${CHROMIUM_PATH:-/usr/bin/chromium} >/dev/null || { echo "chromium is required: apt-get install chromium" >&2; exit 1; }
	cd $(WEB) && npm test && npm run test:browser

chat: $(STAMP)
	$(BIN)/todo-chat --url http://127.0.0.1:$(PORT) --user $${USER_ID:-alice} $(if $(THREAD),--thread $(THREAD),)

dynamodb-local:
	bash scripts/install-dynamodb-local.sh

lint: $(STAMP) $(WEB_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd $(WEB) && npm run typecheck

# pytest exits 5 when it collected nothing: that is a failure here, never a silent pass.
test: $(STAMP) dynamodb-local
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc
	$(MAKE) --no-print-directory web-test

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .cache .aws-sam .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(WEB)/node_modules $(WEB)/.next $(WEB)/out $(WEB)/test-results
