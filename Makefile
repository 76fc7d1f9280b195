# Every target sets up what it needs; a fresh clone runs `make run` or `make test` directly.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= routes
STAMP  := $(VENV)/.installed
NPM    ?= npm
CLAUDE := node_modules/.bin/claude

.PHONY: run test lint bench install lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Claude Code, pinned by package.json and package-lock.json, for tests/e2e/test_claude_code.py. Its
# postinstall puts the native binary in place; it is run by hand if npm skipped install scripts.
$(CLAUDE): package.json package-lock.json
	@command -v $(NPM) >/dev/null 2>&1 || { echo "make: npm not found. The Claude Code tests need Node.js" \
		"and npm (Debian/Ubuntu: apt-get install nodejs npm)." >&2; exit 1; }
	$(NPM) ci --no-audit --no-fund
	$@ --version >/dev/null 2>&1 || node node_modules/@anthropic-ai/claude-code/install.cjs
	$@ --version
	touch $@

run: $(STAMP)
	$(BIN)/gateway serve --config $(CONFIG)

test: $(STAMP) $(CLAUDE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/ruff format --check gateway tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Regenerates the pinned lock file (needs network access to PyPI).
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --generate-hashes \
		--python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
