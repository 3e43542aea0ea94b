# lastmile.deploy — developer entry points.
#   make test   unit tests, lint, sanity, Galaxy's importer, docs, the end-to-end suite and molecule on a local fleet
#   make docs   regenerate the reference pages in docs/reference
#   make bench  lastmile.deploy vs the documentation-style rolling playbook (benchmarks/README.md)
#   make demo   v1, a canary of v2 that is promoted, a canary of a bad v3 that rolls itself back, under live traffic
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTIONS := .build/collections
LINK := $(COLLECTIONS)/ansible_collections/lastmile/deploy
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all setup system-packages test unit e2e lint sanity importer docs docs-check molecule demo build bench clean

all: test

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../../.. $(LINK)

# Debian/Ubuntu packages the fleet and the checks need. Installs only what is missing.
SYSTEM_PACKAGES := haproxy shellcheck openssh-server sudo
system-packages:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

setup: $(BIN)/.installed $(LINK) system-packages

unit: setup
	$(BIN)/pytest -q tests/unit tests/docs

# Two workers, one test file each at a time (--dist loadfile: a file's tests share its fleet and
# run in order). Each deployment leaves about half a core idle while it waits on drains, restarts
# and health windows, so on 2 cores two workers take 11 minutes where one took 16.5. Fleets take
# free addresses per worker (tests/fleet/addresses.py).
E2E := $(BIN)/pytest -q --durations=12 -n 2 --dist loadfile tests/fleet tests/e2e tests/awx

e2e: setup
	$(E2E)

lint: setup
	$(BIN)/ansible-lint --nocolor
	$(BIN)/antsibull-changelog lint

sanity: setup
	VENV=$(CURDIR)/$(VENV) bash .ci/sanity
	VENV=$(CURDIR)/$(VENV) bash .ci/sanity units

importer: setup
	VENV=$(CURDIR)/$(VENV) bash .ci/galaxy-importer

docs: setup
	bash .ci/docs generate

docs-check: setup
	bash .ci/docs check

molecule: setup
	bash .ci/molecule

# lastmile.deploy vs the documentation-style rolling playbook on 4, 16 and 64 hosts (benchmarks/README.md)
bench: setup
	PYTHONPATH=tests $(BIN)/python benchmarks/run.py --hosts 4 16 64

# The unit tests run once, under ansible-test units (.ci/sanity units); `make unit` runs them with plain pytest.
test: setup
	$(BIN)/python .ci/role_tree.py >/dev/null
	$(BIN)/pytest -q tests/docs
	$(BIN)/ansible-lint --nocolor
	$(BIN)/antsibull-changelog lint
	VENV=$(CURDIR)/$(VENV) bash .ci/sanity
	VENV=$(CURDIR)/$(VENV) bash .ci/sanity units
	VENV=$(CURDIR)/$(VENV) bash .ci/galaxy-importer
	bash .ci/docs check
	$(E2E)
	bash .ci/molecule

demo: setup
	PYTHONPATH=tests $(BIN)/python -m fleet demo

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path .build

clean:
	rm -rf .build tests/output .pytest_cache
