# Hotline: `make up` runs the whole system on a local stack; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
HOTLINE := $(VENV)/bin/hotline
PYTEST := $(VENV)/bin/pytest
PYTHON ?= python3

.PHONY: up down test lint bench soak venv stack services status demo browser audit

## up: install, start Kafka + the MongoDB-protocol server + the four services + the city simulator, print where to look
## (the simulator is Beijing's Liangxiang: off by default for another city, HOTLINE_CITY)
up: stack
	@HOTLINE_SIMULATE=$${HOTLINE_SIMULATE:-$$([[ -n "$${HOTLINE_CITY:-}" ]] && echo 0 || echo 1)} bash deploy/local/services.sh up
	@echo
	@echo "Hotline is running:"
	@echo "  intake    http://127.0.0.1:8001/docs   (health: /healthz)"
	@echo "  routing   http://127.0.0.1:8002/docs"
	@echo "  followup  http://127.0.0.1:8003/docs   (POST /v1/tickets/{id}/contacts)"
	@echo "  metrics   http://127.0.0.1:8004/docs   (GET /v1/rankings?period=YYYY-MM&kind=street)"
	@echo "  dashboard http://127.0.0.1:8004/dashboard   (live rankings, hotspots, unit trends)"
	@echo "  workbench http://127.0.0.1:8003/workbench   (the centre's desk and the units' worklists; token: $(HOTLINE) units token centre)"
	@echo "  Kafka 127.0.0.1:9092, MongoDB-protocol server 127.0.0.1:27017, logs in .local/logs/"
	@echo "  Try: $(HOTLINE) demo    (sends a Liangxiang complaint and follows it to the metrics)"
	@echo "  The city simulator fills the rankings (log .local/logs/simulator.log; HOTLINE_SIMULATE=0 make up skips it)"
	@echo "  Stop everything: make down"

## test: start the local stack if needed (and Chromium for the browser test), then run every test
test: stack browser
	$(PYTEST)

## lint: ruff (lint and import order) and mypy over src/ and services/; CI runs it before the tests
## (both run, so one pass shows every finding)
lint: venv
	status=0; \
	$(VENV)/bin/ruff check src services || status=1; \
	$(VENV)/bin/python deploy/typecheck.py || status=1; \
	exit $$status

## audit: known vulnerabilities in the pinned dependencies (pip-audit on constraints.txt, against PyPI)
audit: venv
	$(VENV)/bin/python deploy/audit.py

## down: stop the services and the local stack (only the processes our pid files name)
down:
	@bash deploy/local/services.sh down
	@bash deploy/local/stack.sh down

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) (3.11) is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

stack: venv
	@bash deploy/local/stack.sh up
	@$(HOTLINE) topics ensure

browser:
	@bash deploy/local/browser.sh

services: stack
	@bash deploy/local/services.sh up

status:
	@bash deploy/local/stack.sh status || true
	@bash deploy/local/services.sh status || true

demo:
	@$(HOTLINE) demo

## bench: the end-to-end benchmark on the real local stack (the four services as processes, the raw
## Kafka limit, hop latencies, lifecycle tickets/s, rebuild, CPU and memory), on an empty store and again on
## one holding five months of tickets (--history N); writes bench/results/<date>.json.
## Options: make bench BENCH_ARGS="--tickets 1000 --seconds 20" (see bench/lifecycle_bench.py --help).
## Then the category classifier's evaluation (about 1.5 minutes; bench/results/<date>-classify.json).
bench: stack
	$(VENV)/bin/python bench/lifecycle_bench.py $(BENCH_ARGS)
	$(HOTLINE) eval classify

## soak: `make up` (the simulator catching up), then the test suite and an offered load beside it for 30
## minutes; peak memory, store file per ticket, lag peaks and drain times; fails when a process died, a lag
## stayed or a record was lost. Writes bench/results/<date>-soak.json. Options: SOAK_ARGS="--seconds 600".
soak: up browser
	$(VENV)/bin/python bench/soak.py $(SOAK_ARGS)
