# The two commands a new user runs: `make run` and `make test`. Both install what they need first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstalled whenever the dependency list changes.
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run demo down status test test-runs test-unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# The whole exchange in the foreground (Kafka, Cassandra, a worker, the recorder, the API, demo
# markets) until Ctrl-C; data kept in EXCHANGE_STATE_DIR for the next run.
run: install
	$(BIN)/exchange up

# A market-making bot against the exchange `make run` started (run it in a second terminal).
demo: install
	$(BIN)/exchange demo

down: install
	$(BIN)/exchange infra down

status: install
	$(BIN)/exchange infra status

# Throwaway Kafka and Cassandra in a temporary state directory, stopped however pytest ends.
test: install
	@state=$$(mktemp -d "$${TMPDIR:-/tmp}/exchange-test.XXXXXX"); \
	cleanup() { EXCHANGE_STATE_DIR="$$state" $(BIN)/exchange infra down >/dev/null 2>&1; rm -rf "$$state"; }; \
	trap cleanup EXIT INT TERM; \
	EXCHANGE_TEST_STATE_DIR="$$state" $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	cleanup; trap - EXIT; exit $$status

# Only the long runs (kill -9, scaling, the fault runs under REST load); `make test` runs them too.
test-runs: install
	@$(MAKE) --no-print-directory test PYTEST_ARGS="-m runs $(PYTEST_ARGS)"

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

bench: install
	$(BIN)/exchange bench gen-ops --n 1000000 --seed 1 --out /tmp/exchange-ops-1m.jsonl
	$(BIN)/exchange bench matching --ops /tmp/exchange-ops-1m.jsonl

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
