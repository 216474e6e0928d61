# Two commands matter: `make dev` (run the local stack) and `make test` (run every test).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 matches the Lambda runtime in template.yaml; any 3.12+ works for development.
PYTHON ?= $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python python3.13 python3.12 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help install dev chat test lint dynamodb-local bench clean

help:
	@echo "make dev    - run the local stack on http://127.0.0.1:$(PORT) (embedded DynamoDB, local model)"
	@echo "make chat   - chat with it from this terminal (USER=alice, THREAD=thr_... to resume)"
	@echo "make test   - install everything and run the whole test suite (incl. DynamoDB Local)"
	@echo "make lint   - ruff + mypy"
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

chat: $(STAMP)
	$(BIN)/todo-chat --url http://127.0.0.1:$(PORT) --user $${USER_ID:-alice} $(if $(THREAD),--thread $(THREAD),)

dynamodb-local:
	bash scripts/install-dynamodb-local.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# pytest exits 5 when it collected nothing: that is a failure here, never a silent pass.
test: $(STAMP) dynamodb-local
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .cache .aws-sam .pytest_cache .mypy_cache .ruff_cache
