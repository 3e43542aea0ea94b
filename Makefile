# lastmile.deploy — developer entry points.
#   make test   unit tests, lint, sanity and the end-to-end suite on a local fleet
#   make demo   a rolling deployment under live traffic on a local 4-host fleet
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTIONS := .build/collections
LINK := $(COLLECTIONS)/ansible_collections/lastmile/deploy
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all setup system-packages test unit e2e lint sanity units-ansible-test demo build clean

all: test

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../../.. $(LINK)

# Debian/Ubuntu packages the local fleet runs on. Installs only what is missing.
system-packages:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
	  echo "installing haproxy"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; }

setup: $(BIN)/.installed $(LINK) system-packages

unit: setup
	$(BIN)/pytest -q tests/unit

e2e: setup
	$(BIN)/pytest -q tests/fleet tests/e2e

lint: setup
	$(BIN)/ansible-lint --nocolor

sanity: setup
	VENV=$(VENV) bash .ci/sanity

test: setup
	$(BIN)/pytest -q tests/unit
	$(BIN)/ansible-lint --nocolor
	VENV=$(VENV) bash .ci/sanity
	$(BIN)/pytest -q tests/fleet tests/e2e

demo: setup
	PYTHONPATH=tests $(BIN)/python -m fleet demo

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path .build

clean:
	rm -rf .build tests/output .pytest_cache
