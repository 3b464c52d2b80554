# The two commands a new user runs: `make run` and `make test`. Both install what they need first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstalled whenever the dependency list or the pinned versions change.
STAMP  := $(VENV)/.installed-stamp

.PHONY: install chromium promtool run demo down status lint test test-runs test-freqtrade test-fast bench lock records k8s-rules clean

# Every dependency at the exact version constraints.txt pins (`make lock` rebuilds it), the
# trading page's chart library from web/package-lock.json, and the JavaScript Binance clients the
# end-to-end tests drive from tests/e2e/js/package-lock.json.
$(STAMP): pyproject.toml constraints.txt web/package-lock.json tests/e2e/js/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	@command -v npm >/dev/null || { echo "npm is required (Node 18 or newer) for the trading page's chart library"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cd tests/e2e/js && npm ci --no-audit --no-fund --loglevel=error
	@# binance-connector and python-binance each install a top-level `binance` package: the connector
	@# lives apart, and tests/e2e runs it with PYTHONPATH pointing there.
	$(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/binance-connector \
	    binance-connector==3.13.0 websocket-client==1.9.2
	@touch $(STAMP)

# tests/unit/test_alerts.py checks the alert rules with promtool, from Debian's prometheus package:
# installed here when it is missing and apt can, without starting its server (policy-rc.d).
promtool:
	@command -v promtool >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      prometheus >/dev/null; status=$$?; rm -f /usr/sbin/policy-rc.d; exit $$status; }; } || \
	{ echo "The alert rules are checked with promtool: install Debian's prometheus package"; exit 1; }

# The browser tests drive Debian's Chromium: installed here when it is missing and apt can.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; } || \
	{ echo "The browser tests need Chromium: install Debian's chromium package (apt-get install chromium)"; exit 1; }

install: $(STAMP)

# The whole exchange in the foreground (Kafka, Cassandra, a worker, the recorder, the API, demo
# markets) until Ctrl-C; data kept in EXCHANGE_STATE_DIR for the next run. `make run TLS=on`
# serves https:// and wss:// with a local certificate made in the state directory.
run: install
	$(BIN)/exchange up $(if $(filter on,$(TLS)),--tls)

# A market-making bot against the exchange `make run` started (run it in a second terminal).
demo: install
	$(BIN)/exchange demo

down: install
	$(BIN)/exchange infra down

status: install
	$(BIN)/exchange infra status

# The linter over the whole tree and the type checker over the pure modules (both configured in
# pyproject.toml); `make test` runs them before pytest, and a finding fails the run.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Throwaway Kafka and Cassandra in a temporary state directory, stopped however pytest ends.
test: install lint chromium promtool
	@state=$$(mktemp -d "$${TMPDIR:-/tmp}/exchange-test.XXXXXX"); \
	cleanup() { EXCHANGE_STATE_DIR="$$state" $(BIN)/exchange infra down >/dev/null 2>&1; rm -rf "$$state"; }; \
	trap cleanup EXIT INT TERM; \
	EXCHANGE_TEST_STATE_DIR="$$state" $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	cleanup; trap - EXIT; exit $$status

# Only the long runs (kill -9, scaling, the fault runs under REST load); `make test` runs them too.
test-runs: install
	@$(MAKE) --no-print-directory test PYTEST_ARGS="-m runs $(PYTEST_ARGS)"

# Freqtrade trading live for five minutes with the config docs/binance-api.md gives
# (tests/e2e/test_freqtrade.py). Freqtrade pins dependencies of its own, so it gets a venv of its own.
FREQTRADE_VENV := .venv-freqtrade
$(FREQTRADE_VENV)/.installed-stamp:
	$(PYTHON) -m venv $(FREQTRADE_VENV)
	$(FREQTRADE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FREQTRADE_VENV)/bin/python -m pip install --quiet freqtrade==2026.9
	@touch $@

test-freqtrade: install $(FREQTRADE_VENV)/.installed-stamp
	@EXCHANGE_TEST_FREQTRADE=$(abspath $(FREQTRADE_VENV))/bin/freqtrade \
	    $(MAKE) --no-print-directory test PYTEST_ARGS="tests/e2e/test_freqtrade.py $(PYTEST_ARGS)"

# The edit loop: tests/unit (pure and property-based tests) with no servers, in well under 2 minutes.
test-fast: install promtool
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

bench: install
	$(BIN)/exchange bench gen-ops --n 1000000 --seed 1 --out /tmp/exchange-ops-1m.jsonl
	$(BIN)/exchange bench matching --ops /tmp/exchange-ops-1m.jsonl

# Rewrites schemas/records.py (typed records) from schemas/avro after a schema changes. Commit the result.
records: install
	$(BIN)/python -m schemas.typegen

# Rewrites infra/k8s/monitoring/prometheus-rule.yaml after a change to infra/prometheus/alerts.yml.
k8s-rules: install
	$(BIN)/python -m infra.prometheus.k8s_rules

# Rebuilds constraints.txt from pyproject.toml: its dependencies and test extra resolved afresh in a
# throwaway venv (so nothing installed here by hand gets pinned), then frozen. Commit the result.
lock:
	@lock=$$(mktemp -d "$${TMPDIR:-/tmp}/exchange-lock.XXXXXX"); trap 'rm -rf "$$lock"' EXIT; \
	set -e; \
	$(PYTHON) -m venv "$$lock"; \
	"$$lock/bin/python" -m pip install --quiet --upgrade pip; \
	"$$lock/bin/python" -m pip install --quiet -e '.[test]'; \
	{ echo "# Exact versions of every runtime and test dependency, for \`make\` and the Dockerfile:"; \
	  echo "# pip install -c constraints.txt. Made by \`make lock\` from pyproject.toml with Python" \
	       "$$("$$lock/bin/python" -c 'import platform; print(platform.python_version())'); do not edit."; \
	  "$$lock/bin/python" -m pip freeze --exclude-editable; } > "$$lock/constraints.txt"; \
	mv "$$lock/constraints.txt" constraints.txt; \
	echo "constraints.txt: $$(grep -vc '^#' constraints.txt) packages pinned"

clean:
	rm -rf $(VENV) $(FREQTRADE_VENV) *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache web/node_modules test-output
