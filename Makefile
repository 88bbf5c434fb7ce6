# Two commands set everything up: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
ONEMAP := $(VENV)/bin/onemap
STAMP := $(VENV)/.installed

.PHONY: run test setup install postgis db seed bench clean-db web browser

run: setup
	$(ONEMAP) seed --if-empty
	$(ONEMAP) serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test: setup browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: install postgis db web

# The venv is (re)installed when pyproject.toml changes.
install: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# PostGIS for the system PostgreSQL: installed through apt when missing and we may.
postgis:
	@if ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing PostgreSQL and PostGIS with apt"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-postgis >/dev/null; \
	elif sudo -n true 2>/dev/null; then \
	  echo "installing PostgreSQL and PostGIS with apt (sudo)"; \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-postgis >/dev/null; \
	else \
	  echo "PostGIS is missing. Install it with:"; \
	  echo "    sudo apt-get install -y postgresql postgresql-postgis"; \
	  exit 1; \
	fi

# The map page's MapLibre GL JS from npm: installed again when package-lock.json changes.
# npm ci writes node_modules/.package-lock.json last, so its date tells a finished install.
WEB := service/web
web: $(WEB)/node_modules/.package-lock.json
$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	@if command -v npm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing Node.js and npm with apt"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	elif sudo -n true 2>/dev/null; then \
	  echo "installing Node.js and npm with apt (sudo)"; \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	else \
	  echo "npm is missing. Install Node.js and npm with:"; \
	  echo "    sudo apt-get install -y nodejs npm"; \
	  exit 1; \
	fi
	cd $(WEB) && npm ci --no-audit --no-fund
	@touch $@

# Headless Chromium and a Chinese font for the map page's browser test (`make test` only).
browser:
	@if command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing Chromium and a Chinese font with apt"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei >/dev/null; \
	elif sudo -n true 2>/dev/null; then \
	  echo "installing Chromium and a Chinese font with apt (sudo)"; \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei >/dev/null; \
	else \
	  echo "Chromium is missing (the map page test is skipped without it). Install it with:"; \
	  echo "    sudo apt-get install -y chromium fonts-wqy-microhei"; \
	fi

db: install postgis
	$(ONEMAP) db start

seed: db
	$(ONEMAP) seed --replace

clean-db:
	-$(ONEMAP) db stop
	rm -rf .onemap
