# One target per habit. `make run` and `make test` install what they need first.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTEST_ARGS ?=
ARGS ?=

.PHONY: install run test test-unit chaos lint format bench up migrate

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --all-packages --locked --quiet --compile-bytecode
	@$(UV) run --no-sync python -m compileall -q libs services bench >/dev/null

# `make run ARGS="--api-port 9100 --gateway-port 9101 --scheduler-port 9102"`: any `switchboard run` option.
# SWITCHBOARD_MAKE_RUN: its messages suggest `make run ARGS="…"`, not `switchboard run …`.
run: install
	SWITCHBOARD_MAKE_RUN=1 $(UV) run --no-sync switchboard run $(ARGS)

test: install
	@$(UV) run --no-sync pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-unit: install
	$(UV) run --no-sync pytest tests/unit $(PYTEST_ARGS)

# The chaos scenarios at full size (10,000 jobs, 300 webhooks, a 10-minute soak…); `make test`
# runs their short forms. Stops PostgreSQL and RabbitMQ on this machine while it runs.
chaos: install
	CHAOS=full $(UV) run --no-sync pytest tests/chaos -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy libs/common/src libs/domain/src services/*/src apps/cli/src
	$(UV) run --no-sync python tools/import_cycles.py
	$(UV) run --no-sync python tools/lint_deploy.py  # hadolint + the compose schema, no engine needed
	$(UV) run --no-sync python tools/validate_kubernetes.py  # deploy/kubernetes vs Kubernetes' and KEDA's schemas

format: install
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

# Every benchmark in turn, one report: var/bench/report-<UTC time>.md and .json (docs/benchmarks.md,
# "How to reproduce"). `make bench ARGS=--full`: the sizes that file records; ARGS=--smoke: toy sizes.
bench: install
	$(UV) run --no-sync python bench/run_all.py $(ARGS)

# PostgreSQL, RabbitMQ and one container per service (docs/operations.md, "Docker Compose");
# `make up ARGS="--scale worker=4"`.
up:
	docker compose up --build $(ARGS)

migrate: install
	$(UV) run --no-sync switchboard migrate
