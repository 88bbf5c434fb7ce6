# Two commands set everything up: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
ONEMAP := $(VENV)/bin/onemap
STAMP := $(VENV)/.installed

.PHONY: run test setup install postgis pgrouting db seed bench clean-db web browser

run: setup
	$(ONEMAP) seed --if-empty
	$(ONEMAP) serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test: setup browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: install postgis pgrouting db web

# The venv is (re)installed when pyproject.toml changes.
install: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# Debian packages, installed with apt when we may (as root, or with password-less sudo);
# otherwise the one command to run is printed. $(1): what it is, $(2): the packages,
# $(3): "optional" to go on without them.
define apt_install
if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
else echo "$(1) is missing. Install it with:"; echo "    sudo apt-get install -y $(2)"; \
  [ "$(3)" = optional ]; exit; fi; \
echo "installing $(1) with apt"; \
$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null
endef

# PostGIS for the system PostgreSQL.
postgis:
	@ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || { \
	  $(call apt_install,PostgreSQL with PostGIS,postgresql postgresql-postgis); }

# pgRouting, for travel times over an imported road network (optional: without it they are
# estimated). Debian names it after the PostgreSQL version, the newest of which the
# embedded cluster uses.
pgrouting: postgis
	@ls /usr/share/postgresql/*/extension/pgrouting.control >/dev/null 2>&1 || { \
	  major=$$(ls /usr/lib/postgresql | sort -V | tail -1); \
	  $(call apt_install,pgRouting,postgresql-$$major-pgrouting,optional) || \
	  echo "pgRouting could not be installed: travel times stay estimated"; }

# The map page's MapLibre GL JS from npm: installed again when package-lock.json changes.
# npm ci writes node_modules/.package-lock.json last, so its date tells a finished install.
WEB := service/web
web: $(WEB)/node_modules/.package-lock.json
$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	@command -v npm >/dev/null || { $(call apt_install,Node.js with npm,nodejs npm); }
	cd $(WEB) && npm ci --no-audit --no-fund
	@touch $@

# Headless Chromium and a Chinese font for the map page's browser test (`make test` only;
# without them that test is skipped).
browser:
	@{ command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q .; } || { \
	  $(call apt_install,Chromium with a Chinese font,chromium fonts-wqy-microhei,optional); }

db: install postgis
	$(ONEMAP) db start

seed: db
	$(ONEMAP) seed --replace

clean-db:
	-$(ONEMAP) db stop
	rm -rf .onemap
