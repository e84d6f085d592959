# Two entry points: `make run` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

CATALOGS := grader/translations
POT := $(CATALOGS)/messages.pot

.PHONY: run solve test bench clean translations catalogs nginx browser-tools

$(BIN)/grader: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The compiled message catalogs (.mo), from the checked-in .po files.
catalogs: $(BIN)/grader
	$(BIN)/pybabel compile -d $(CATALOGS) -D messages >/dev/null

# After changing texts: extract them, and update both catalogs (then translate in the .po).
translations: $(BIN)/grader
	$(BIN)/pybabel extract -F babel.cfg -k mark --no-location --no-wrap --sort-output \
	    --project backprop-grader -o $(POT) .
	$(BIN)/pybabel update -i $(POT) -d $(CATALOGS) -D messages --no-wrap --ignore-obsolete \
	    --no-fuzzy-matching
	$(MAKE) catalogs

# The service on the embedded default: SQLite in instance/, the bundled exercises.
run: catalogs
	$(BIN)/grader serve

solve: $(BIN)/grader
	$(BIN)/grader solve exercises/

# The proxy tests run Debian's nginx (on loopback ports of their own, never the system
# service). Installed here where that is possible, as root with apt-get; elsewhere those
# tests skip with one line saying what to install.
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx \
	  || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
	       && { DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq \
	              --no-install-recommends nginx >/dev/null 2>&1 \
	            || { timeout 300 apt-get update -qq >/dev/null 2>&1 \
	                 && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq \
	                      --no-install-recommends nginx >/dev/null 2>&1; }; }; } \
	  || echo "nginx is not installed (apt-get install nginx): the proxy tests skip" >&2


# The browser tests need Playwright (the `browser` extra) and Debian's Chromium; as root
# with apt-get, Chromium is installed here; elsewhere those tests skip, saying so once.
CHROMIUM ?= /usr/bin/chromium

test: catalogs nginx browser-tools
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

browser-tools: $(VENV)/browser-extra
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
	    || { apt-get update -qq >/dev/null 2>&1 \
	         && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
	    || echo "Chromium not installed: the browser tests will skip" >&2; \
	fi

$(VENV)/browser-extra: $(BIN)/grader pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,browser]'
	touch $@

bench: $(BIN)/grader
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/engine_vs_peers.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis tests/browser/screenshots
