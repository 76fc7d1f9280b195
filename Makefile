# Every target sets up what it needs; a fresh clone runs `make run` or `make test` directly.
# Two lock files: requirements.lock pins what the gateway runs with (the package and all its extras),
# requirements-dev.lock adds the test, lint and bench tools at the same versions.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= routes
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
NPM    ?= npm
CLAUDE := node_modules/.bin/claude
CODEX  := node_modules/.bin/codex
LOCK   := uv pip compile --quiet pyproject.toml --extra all --generate-hashes --python-version 3.11

.PHONY: run test lint bench bench-peers bench-lock soak install install-dev lock clean

# The runtime: requirements.lock, then the package itself (editable, its dependencies are already pinned).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The development tools on top, once per change of requirements-dev.lock (or of the runtime above).
$(DEV_STAMP): requirements-dev.lock $(STAMP)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# Claude Code and Codex, pinned by package.json and package-lock.json, for tests/e2e/test_claude_code.py
# and tests/e2e/test_codex.py. Claude Code's
# postinstall puts the native binary in place; it is run by hand if npm skipped install scripts.
$(CLAUDE): package.json package-lock.json
	@command -v $(NPM) >/dev/null 2>&1 || { echo "make: npm not found. The Claude Code and Codex tests need Node.js" \
		"and npm (Debian/Ubuntu: apt-get install nodejs npm)." >&2; exit 1; }
	$(NPM) ci --no-audit --no-fund
	$@ --version >/dev/null 2>&1 || node node_modules/@anthropic-ai/claude-code/install.cjs
	$@ --version
	touch $@

# Codex CLI, installed by the same npm ci (above). Its native binary comes from a platform-tagged optional
# dependency (@openai/codex-linux-x64 is npm:@openai/codex@<version>-linux-x64); npm skips it with
# --omit=optional or on a platform Codex does not ship, and the tests must not run without it.
$(CODEX): $(CLAUDE)
	@$@ --version >/dev/null 2>&1 || { echo "make: $@ does not run: the native binary of Codex (npm" \
		"optional dependency @openai/codex-<platform>) is missing. Run npm ci without --omit=optional" \
		"(Codex ships linux/darwin/win32 on x64 and arm64)." >&2; exit 1; }
	$@ --version
	touch $@

run: $(STAMP)
	$(BIN)/gateway serve --config $(CONFIG)

test: $(DEV_STAMP) $(CLAUDE) $(CODEX)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check gateway tests bench
	$(BIN)/ruff format --check gateway tests bench
	$(BIN)/mypy

# The bench installs its peers itself (bench/peers.py: LiteLLM in bench/.peers/, Portkey in
# bench/peers/node_modules/, both git-ignored); a peer that fails to install is a failed arm in the output.
bench: $(DEV_STAMP)
	@for tool in wrk nginx taskset; do command -v $$tool >/dev/null 2>&1 || { echo "make bench: $$tool not" \
		"found: apt-get install -y nginx libnginx-mod-http-lua wrk util-linux" >&2; exit 1; }; done
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-peers: $(DEV_STAMP)
	$(BIN)/python -m bench.peers

# Regenerates the peers' pins: bench/peers/litellm.lock (hashes) and bench/peers/package-lock.json.
bench-lock: $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet uv
	cd bench/peers && ../../$(BIN)/uv pip compile --quiet litellm.in --generate-hashes --python-version 3.11 \
		-o litellm.lock
	cd bench/peers && $(NPM) install --package-lock-only --no-audit --no-fund

# The reliability battery at full counts (tests/battery, BATTERY=full; figures in test-output/battery-full/),
# then 10 minutes at 70 % of the gateway's measured maximum (open loop, 20 % SSE); not part of `make test`.
# Needs what `make bench` needs (apt-get install -y nginx libnginx-mod-http-lua wrk); no wrk2 required.
soak: $(DEV_STAMP) $(CLAUDE)
	BATTERY=full $(BIN)/python -m pytest tests/battery -p no:cacheprovider $(PYTEST_ARGS)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# Regenerates both lock files (needs network access to PyPI); works from a fresh clone. uv keeps the
# versions a lock file already pins unless told otherwise (`make lock LOCK_ARGS=--upgrade`); the dev
# lock is constrained by the runtime one, so both pin the same versions.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/$(LOCK) $(LOCK_ARGS) -o requirements.lock
	$(BIN)/$(LOCK) --extra dev --extra bench -c requirements.lock $(LOCK_ARGS) -o requirements-dev.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
