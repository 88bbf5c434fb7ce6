# Two commands set everything up: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
ONEMAP := $(VENV)/bin/onemap
STAMP := $(VENV)/.installed

.PHONY: run test setup install postgis db seed bench clean-db

run: setup
	$(ONEMAP) seed --if-empty
	$(ONEMAP) serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: install postgis db

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

db: install postgis
	$(ONEMAP) db start

seed: db
	$(ONEMAP) seed --replace

clean-db:
	-$(ONEMAP) db stop
	rm -rf .onemap
