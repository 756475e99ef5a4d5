# Lectern's commands. Each needs only python3 (3.11 or 3.12) and make: uv is taken from PATH when
# there, otherwise installed into .tools/ (a venv, or `pip --target` where python3 has no venv).
#
#   make up     sync the workspace, then start infrastructure + every service (Ctrl-C stops all)
#   make test   sync, then run every test suite (libs, services, end-to-end) in one pytest session,
#               so the session's infrastructure is started once and shared
#   make lint   ruff check + ruff format --check + mypy on every package (make test runs it first)
#   make helm   install the pinned Helm into .tools/helm (make test does; the chart tests use it)
#   make images build every service's image from docker/Dockerfile (podman, buildah or docker);
#               where no registry is reachable, `make images BASE_IMAGE=localhost/lectern-base:bookworm`
#               after docker/build-base.sh (scripts/install-image-tools.sh installs the engine)
#
# The web client (clients/web: @lectern/client and the reference editor) needs Node.js 20.19+;
# its browser tests need Chromium (Debian's `chromium`). `make test` fails saying what to install
# when either is missing; `make up` then runs the stack without the editor. npm installs exactly
# what clients/web/package-lock.json pins (npm ci), again only when the lock file changed.
#   make web-generate   regenerate clients/web/packages/client's openapi.json and TypeScript types
#
# Extra arguments: `make up UP_ARGS="--only course,gateway"`, `make test PYTEST_ARGS="-k media -x"`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS_UV := $(CURDIR)/.tools/bin/uv
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS_UV))

# Every package's tests plus the end-to-end and deployment (chart, image) tests; directories
# that do not exist yet are skipped.
TEST_DIRS = $(wildcard libs/*/tests services/*/tests tests/e2e tests/deploy)
PYTEST_ARGS ?=
UP_ARGS ?=

.PHONY: help sync up test lint helm images web-tools web-install web-build web-unit web-generate

WEB := clients/web
WEB_STAMP := $(WEB)/node_modules/.lectern-npm-ci

help:
	@echo "make up | make test | make lint | make helm | make images   (see the top of the Makefile)"

$(TOOLS_UV):
	@echo "uv is not on PATH: installing it into .tools/"
	@rm -rf .tools
	@if python3 -m venv .tools >/dev/null 2>&1 && [ -x .tools/bin/pip ]; then \
		.tools/bin/pip install --quiet --disable-pip-version-check uv; \
	else \
		rm -rf .tools; \
		python3 -m pip install --quiet --disable-pip-version-check --target .tools/pip uv; \
		mkdir -p .tools/bin && ln -sf ../pip/bin/uv .tools/bin/uv; \
	fi
	@"$(TOOLS_UV)" --version

# --all-packages: every service is a workspace member and must be installed for its entry point
# (lectern.services) to be found by the launcher and its tests to import it.
sync: $(UV)
	"$(UV)" sync --all-packages

up: sync
	@if $(WEB)/scripts/check-tools.sh; then $(MAKE) --no-print-directory web-build; \
	else echo "make up: starting the stack without the editor (Node.js missing, see above)"; fi
	"$(UV)" run --no-sync python -m lectern_common.devstack up $(UP_ARGS)

# pytest exits 5 when it collects no test (early in the project's life): not a failure here.
# Every package's import name, for mypy (of lectern-protos, the one hand-written module).
PACKAGES = $(patsubst services/%,-p lectern_%,$(wildcard services/*)) -p lectern_common -m lectern.events.v1.event_types

helm: $(UV)
	@scripts/install-helm.sh

images:
	BASE_IMAGE="$(BASE_IMAGE)" docker/build-images.sh

BASE_IMAGE ?= python:3.11-slim

test: sync lint helm web-tools web-build web-unit
	@dirs="$(TEST_DIRS)"; \
	if [ -z "$$dirs" ]; then echo "no test directories yet"; exit 0; fi; \
	set +e; "$(UV)" run --no-sync pytest $$dirs $(PYTEST_ARGS); code=$$?; set -e; \
	if [ $$code -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; \
	exit $$code

lint: sync
	"$(UV)" run --no-sync ruff check .
	"$(UV)" run --no-sync ruff format --check .
	"$(UV)" run --no-sync mypy $(PACKAGES)

# --- web client (clients/web) ------------------------------------------------------------------

web-tools:
	@$(WEB)/scripts/install-browser.sh
	@$(WEB)/scripts/check-tools.sh --browser

$(WEB_STAMP): $(WEB)/package-lock.json $(WEB)/package.json $(wildcard $(WEB)/packages/*/package.json $(WEB)/apps/*/package.json)
	cd $(WEB) && npm ci --no-audit --no-fund
	@touch $@

web-install: $(WEB_STAMP)

# Type-checks both packages and builds the editor into clients/web/apps/editor/dist, which the
# launcher serves (the browser tests run against that build).
web-build: web-install
	cd $(WEB) && npm run build

web-unit: web-install
	cd $(WEB) && npm test

web-generate: sync web-install
	"$(UV)" run --no-sync python $(WEB)/packages/client/scripts/export_openapi.py
	cd $(WEB) && npm run generate
