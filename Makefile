# Baton developer entry points. Everything runs from the project virtualenv (.venv), which is
# created on first use; `pip install -e '.[dev]'` re-runs only when pyproject.toml changes.
#
#   make demo    offline demo: embedded Temporal + scripted model + worker, one support run
#   make up      the embedded stack in the foreground (Temporal UI on http://127.0.0.1:8233)
#   make test    the whole test suite against real Temporal dev servers (slow tests included);
#                installs Debian's chromium for the console's browser tests where it can
#   make lint    ruff + mypy --strict
#   make bench   benchmarks (python -m bench)
#   make bench-peers  Baton against peer frameworks (python -m bench.peers; installs the
#                     `peers` extra into the venv first)
#   make clean   remove caches and local state (.baton/); keeps .venv

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.baton-installed
PEERS_STAMP := $(VENV)/.baton-peers-installed

.PHONY: demo up test lint bench bench-peers clean install bytecode browser

install: $(STAMP)

# Bytecode caches, as pip writes them for a wheel: the workflow sandbox imports a run's modules
# afresh for every workflow run, and without caches (PYTHONDONTWRITEBYTECODE is set on some
# machines) each run compiles them from source: measured in docs/performance.md.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q baton bench tests > /dev/null

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is newer than pyproject.toml once the install succeeded: no reinstall until it changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

demo: bytecode
	$(BIN)/baton demo

up: bytecode
	$(BIN)/baton up

test: bytecode browser
	$(BIN)/pytest -q

# The console's browser tests need Debian's chromium; as root with apt it is installed, elsewhere
# those tests are skipped and say why.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	  echo "no /usr/bin/chromium: the console's browser tests will be skipped"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: bytecode
	$(BIN)/python -m bench

# The peers' libraries live in an optional extra: the product never depends on them.
$(PEERS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev,peers]'
	touch $(STAMP) $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP) bytecode
	$(BIN)/python -m bench.peers

clean:
	rm -rf .baton .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
