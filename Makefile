# Two commands on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app app
STAMP   := $(VENV)/.installed
HTMX    := static/vendor/htmx.min.js
FEDIFY  := tests/federation/interop/node_modules/.package-lock.json
PORT    ?= 5000
# The app reads PORT too: in development BASE_URL (links in feeds, images, exports) follows it.
export PORT

.PHONY: setup migrate run test lint lint-deploy worker clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# htmx comes from the npm registry at the version pinned in package-lock.json; never committed.
$(HTMX): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $(HTMX)

# The fedify peer of the interop test, and the Node.js 22 it needs, both npm packages.
$(FEDIFY): tests/federation/interop/package.json tests/federation/interop/package-lock.json
	cd tests/federation/interop && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

setup: $(STAMP) $(HTMX) $(FEDIFY)

migrate: setup
	$(FLASK) db upgrade

run: migrate
	$(FLASK) demo --if-empty
	$(PY) -m cara.web.devserver --host 127.0.0.1 --port $(PORT)

worker: migrate
	$(FLASK) worker

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	deploy/lint.sh $(VENV)/bin

lint-deploy: setup
	deploy/lint.sh $(VENV)/bin

clean:
	rm -rf $(VENV) node_modules static/vendor
