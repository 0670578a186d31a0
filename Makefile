# isoguard: `make demo` runs the platform, `make test` runs every test. Both set up first.
# Each target calls the `isoguard` command (installed by setup); `isoguard --help` lists them all.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= conf/default.toml
PYTEST_ARGS ?=
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup setup-test check-tools jars kafka-broker browser demo test bench clean

setup: check-tools $(VENV)/.installed jars

check-tools:
	@command -v java >/dev/null 2>&1 || { echo "error: Java 17 is required to run Spark (java not on PATH): apt-get install openjdk-17-jre-headless" >&2; exit 1; }
	@command -v mvn >/dev/null 2>&1 || { echo "error: Maven is required to resolve the Delta jars (mvn not on PATH): apt-get install maven" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || { echo "error: Python 3.10 or newer is required as $(PYTHON)" >&2; exit 1; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Idempotent: resolves the Delta and Kafka-connector jars with Maven once, then only checks them.
jars: $(VENV)/.installed
	@$(BIN)/isoguard jars resolve

# Apache Kafka's broker jars: the Kafka tests start a real single-node broker from them.
kafka-broker: $(VENV)/.installed
	@$(BIN)/isoguard jars resolve kafka-broker

# Debian's Chromium and ChromeDriver for the browser tests.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  echo "installing Debian's chromium and chromium-driver (browser tests)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

setup-test: setup browser kafka-broker

demo: setup
	$(BIN)/isoguard demo --config $(CONFIG)

test: setup-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/stream_throughput.py --config $(CONFIG)

# Dashboard refresh time with 10 million rows in `scores`, next to a naive full-table read.
bench-dashboard: setup
	$(BIN)/python benchmarks/dashboard_refresh.py --config $(CONFIG)

# JupyterLab on 127.0.0.1 with the project's environment; the notebooks read the lake of $(CONFIG)
# (ISOGUARD_LAKE / MLFLOW_TRACKING_URI override it, as for every command).
notebook: setup
	ISOGUARD_CONFIG=$(abspath $(CONFIG)) $(BIN)/python -m jupyter lab --ip 127.0.0.1 --no-browser --notebook-dir notebooks \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean:
	rm -rf lake test-artifacts .pytest_cache benchmarks/results
